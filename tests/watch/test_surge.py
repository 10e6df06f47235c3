"""Surge detection: quiet on a stable random stream, fires on a step, respects small counts."""

from __future__ import annotations

import numpy as np
import pytest

from llmline.spec.watch import SurgeRuleSpec
from llmline.watch.surge import SurgeDetector

HOUR = 3600.0


def rule(**overrides: object) -> SurgeRuleSpec:
    values: dict[str, object] = {
        "name": "neg-surge", "metric": "negative_share", "ratio": 2.0, "min_posts": 20,
        "window": "1h", "p_value": 0.01, "cooldown": "6h",
    }  # fmt: skip
    return SurgeRuleSpec.model_validate(values | overrides)


def feed(
    detector: SurgeDetector,
    rng: np.random.Generator,
    *,
    hours: float,
    rate: float,
    negative: float,
    start: float = 0.0,
    entity: str = "A",
) -> list[tuple[float, str]]:
    """Poisson arrivals at `rate` per hour, each negative with probability `negative`."""
    alerts, ts = [], start
    while True:
        ts += rng.exponential(HOUR / rate)
        if ts >= start + hours * HOUR:
            return alerts
        for alert in detector.observe(entity, ts, bool(rng.random() < negative), f"p{ts:.0f}"):
            alerts.append((alert.ts, alert.entity))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_alert_on_a_stable_random_stream(seed: int) -> None:
    rng = np.random.default_rng(seed)
    detector = SurgeDetector([rule(), rule(name="volume", metric="volume", ratio=3.0)],
                             halflife="1d", min_baseline_posts=50)  # fmt: skip
    assert feed(detector, rng, hours=7 * 24, rate=40, negative=0.15) == []


def test_alert_on_a_step_change_with_the_posts_behind_it() -> None:
    rng = np.random.default_rng(7)
    detector = SurgeDetector([rule()], halflife="1d", min_baseline_posts=50)
    assert feed(detector, rng, hours=48, rate=40, negative=0.15) == []
    surge_start = 48 * HOUR
    alerts = []
    ts = surge_start
    for i in range(400):
        ts += rng.exponential(HOUR / 40)
        alerts += detector.observe("A", ts, bool(rng.random() < 0.6), f"s{i}")
    assert len(alerts) == 1  # one surge, one alert
    alert = alerts[0]
    assert alert.entity == "A" and alert.rule == "neg-surge"
    assert alert.ts - surge_start < HOUR  # found within the first window
    assert alert.value >= 2 * alert.baseline and alert.p_value < 0.01
    assert alert.post_ids and all(pid.startswith(("s", "p")) for pid in alert.post_ids)
    assert alert.window_end - alert.window_start == HOUR


def test_small_counts_do_not_alert() -> None:
    detector = SurgeDetector([rule(min_posts=20)], halflife="1d", min_baseline_posts=50)
    ts = 0.0
    for i in range(200):  # a calm history: 10 % negative, 10 posts an hour
        ts += 360
        detector.observe("A", ts, i % 10 == 0, f"c{i}")
    alerts = []
    for i in range(8):  # 8 negatives of 8: 100 % negative but only 8 posts in the hour
        ts += 60
        alerts += detector.observe("A", ts, True, f"n{i}")
    assert alerts == []


def test_no_alert_before_the_baseline_has_enough_history() -> None:
    detector = SurgeDetector([rule(min_posts=5)], halflife="1d", min_baseline_posts=50)
    alerts = [a for i in range(40) for a in detector.observe("A", i * 10.0, True, f"x{i}")]
    assert alerts == []


def test_ratio_guards_against_tiny_but_significant_rises() -> None:
    """10,000 posts at 22 % vs a 20 % baseline are significant, but not twice the baseline."""
    rng = np.random.default_rng(3)
    detector = SurgeDetector([rule(ratio=2.0)], halflife="1d", min_baseline_posts=50)
    feed(detector, rng, hours=48, rate=500, negative=0.20)
    assert feed(detector, rng, hours=3, rate=5000, negative=0.22, start=48 * HOUR) == []


def test_cooldown_keeps_a_repeat_surge_to_one_alert() -> None:
    rng = np.random.default_rng(11)
    detector = SurgeDetector([rule(cooldown="6h")], halflife="1d", min_baseline_posts=50)
    feed(detector, rng, hours=24, rate=40, negative=0.1)
    first = feed(detector, rng, hours=1, rate=60, negative=0.7, start=24 * HOUR)
    feed(detector, rng, hours=1.5, rate=40, negative=0.1, start=25 * HOUR)  # clears
    second = feed(detector, rng, hours=1, rate=60, negative=0.7, start=26.5 * HOUR)  # in cooldown
    feed(detector, rng, hours=6, rate=40, negative=0.1, start=27.5 * HOUR)
    third = feed(detector, rng, hours=1, rate=60, negative=0.7, start=33.5 * HOUR)  # cooled down
    assert len(first) == 1 and second == [] and len(third) == 1


def test_volume_rule_fires_on_a_burst_of_posts() -> None:
    rng = np.random.default_rng(5)
    detector = SurgeDetector(
        [rule(name="vol", metric="volume", ratio=3.0, window="30m")], halflife="1d",
        min_baseline_posts=50,
    )  # fmt: skip
    assert feed(detector, rng, hours=48, rate=20, negative=0.1) == []
    alerts = feed(detector, rng, hours=1, rate=200, negative=0.1, start=48 * HOUR)
    assert len(alerts) == 1


def test_rules_limited_to_entities_ignore_others() -> None:
    detector = SurgeDetector([rule(entities=["B"], min_posts=1)], min_baseline_posts=1)
    assert detector.observe("A", 0.0, True, "a") == []
    assert ("A", "neg-surge") not in detector.states


def diurnal(
    detector: SurgeDetector, rng: np.random.Generator, days: int, burst_day: int | None = None
) -> list[float]:
    """40 posts an hour from 08:00 to 22:00 UTC and 8 at night (5x busier by day); on
    `burst_day` the hour from 14:00 has 3x its usual posts."""
    alerts, ts = [], 0.0
    while ts < days * 24 * HOUR:
        hour = ts / HOUR % 24
        rate = 40.0 if 8 <= hour < 22 else 8.0
        if burst_day is not None and burst_day * 24 + 14 <= ts / HOUR < burst_day * 24 + 15:
            rate *= 3
        ts += rng.exponential(HOUR / rate)
        alerts += [a.ts for a in detector.observe("A", ts, False, f"p{ts:.0f}")]
    return alerts


def volume(season: str) -> SurgeRuleSpec:
    return rule(name=f"volume-{season}", metric="volume", ratio=2.0, season=season)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_daily_season_keeps_busy_mornings_quiet_and_one_rate_does_not(seed: int) -> None:
    flat = SurgeDetector([volume("none")], halflife="1d", min_baseline_posts=50)
    assert diurnal(flat, np.random.default_rng(seed), days=4)  # every morning looks like a burst
    daily = SurgeDetector([volume("daily")], halflife="1d", min_baseline_posts=50)
    assert diurnal(daily, np.random.default_rng(seed), days=7) == []


def test_daily_season_fires_on_a_burst_within_its_hour() -> None:
    detector = SurgeDetector([volume("daily")], halflife="1d", min_baseline_posts=50)
    alerts = diurnal(detector, np.random.default_rng(3), days=4, burst_day=3)
    assert len(alerts) == 1 and 3 * 24 + 14 <= alerts[0] / HOUR < 3 * 24 + 15


def test_season_is_refused_on_the_negative_share() -> None:
    with pytest.raises(ValueError, match="season applies to metric: volume only"):
        rule(season="daily")
