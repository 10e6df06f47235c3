"""The monitor link: request store, reference statistics, drift tests, alerts, re-training."""
