"""The data link: sources, cleaning, deduplication, splitting and snapshots."""
