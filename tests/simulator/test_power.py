"""Sample size by simulation: the figures in FACTS.md and the Welch test itself."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from drillhall.errors import InputError
from drillhall.simulator.engine import Engine
from drillhall.simulator.power import (
    _critical_values,
    detection_rate,
    durations_from_scenario,
    incidents_needed,
    parse_change,
    welch_statistic,
)
from drillhall.simulator.replication import summarize
from tests.conftest import build_scenario


@pytest.fixture(scope="module")
def published() -> np.ndarray:
    """Durations (minutes) from the published lognormal fit: mu 4.25, sigma 1.25."""
    return np.random.default_rng(20270104).lognormal(4.25, 1.25, size=200_000)


def test_a_ten_percent_cut_is_mostly_noise_with_a_hundred_incidents(published):
    rate = detection_rate(
        published, -0.10, 100, rng=np.random.default_rng(1), trials=4000
    )
    # FACTS.md: detected about 8 % of the time with 100 incidents per side.
    assert rate == pytest.approx(0.08, abs=0.02)


def test_a_ten_percent_cut_is_clear_with_four_thousand_incidents(published):
    rate = detection_rate(
        published, -0.10, 4000, rng=np.random.default_rng(2), trials=2000
    )
    # FACTS.md: detected about 96 % of the time with 4,000 incidents per side.
    assert rate == pytest.approx(0.96, abs=0.02)


def test_no_change_is_detected_at_the_test_level(published):
    # A change too small to matter: the rate is the false alarm rate, 5 %.
    rate = detection_rate(
        published, 1e-12, 50, rng=np.random.default_rng(3), trials=4000
    )
    assert rate == pytest.approx(0.05, abs=0.015)


def test_incidents_needed_matches_the_normal_approximation(published):
    result = incidents_needed(published, -0.10, rng=np.random.default_rng(4))

    # n = 2 (z_0.975 + z_0.8)^2 sigma^2 / log(0.9)^2, about 2,200 per side.
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    expected = 2 * z**2 * 1.25**2 / np.log(0.9) ** 2
    assert result.per_side == pytest.approx(expected, rel=0.1)
    assert result.detection_rate >= 0.8
    assert result.rates[result.per_side] == result.detection_rate
    below = [n for n, rate in result.rates.items() if n < result.per_side]
    assert all(result.rates[n] < 0.8 for n in below if n >= result.per_side * 0.99)


def test_incidents_needed_is_reproducible(published):
    first = incidents_needed(published, 0.5, rng=np.random.default_rng(5))
    second = incidents_needed(published, 0.5, rng=np.random.default_rng(5))
    assert first == second


def test_incidents_needed_says_when_the_maximum_is_not_enough(published):
    result = incidents_needed(
        published, -0.01, rng=np.random.default_rng(6), trials=50, maximum=64
    )
    assert result.per_side is None
    assert max(result.rates) == 64


def test_welch_statistic_agrees_with_scipy():
    rng = np.random.default_rng(7)
    first = rng.lognormal(0.0, 1.0, size=(200, 12))
    second = rng.lognormal(0.3, 2.0, size=(200, 17))

    t, df = welch_statistic(first, second)
    expected = stats.ttest_ind(second, first, axis=1, equal_var=False)
    np.testing.assert_allclose(t, expected.statistic, rtol=1e-10)

    # The test rejects exactly where scipy's two-sided p-value is below 5 %.
    rejects = np.abs(t) > _critical_values(df, 0.975)
    np.testing.assert_array_equal(rejects, expected.pvalue < 0.05)


def test_critical_values_between_whole_degrees_of_freedom():
    df = np.array([10.4, 17.8, 250.5, 999.9, 5000.3])
    np.testing.assert_allclose(
        _critical_values(df, 0.975), stats.t.ppf(0.975, df), rtol=1e-4
    )

    # Below 10 df the interpolation errs on the conservative side.
    few = np.array([1.5, 3.2, 7.7])
    assert (_critical_values(few, 0.975) >= stats.t.ppf(0.975, few)).all()


def test_durations_from_scenario_are_those_the_summary_counts():
    scenario = build_scenario(
        horizon="60d",
        behaviours={
            "default": {"acknowledge": {"working": {"exponential": {"mean": "5m"}}}}
        },
    )
    durations = durations_from_scenario(scenario, "mttr", replications=2)

    engine = Engine(scenario)
    histograms = [summarize(engine, engine.run(r)).durations["ttr"] for r in (0, 1)]
    total = histograms[0] + histograms[1]
    assert durations.size == total.count > 0
    assert durations.mean() == pytest.approx(total.mean)

    acknowledged = durations_from_scenario(scenario, "mtta", replications=2)
    assert acknowledged.size == total.count
    assert (acknowledged < durations).all()


def test_durations_from_scenario_rejects_an_unknown_metric():
    with pytest.raises(InputError, match="mttr"):
        durations_from_scenario(build_scenario(), "ttr")


@pytest.mark.parametrize(("text", "change"), [("-10%", -0.1), ("0.25", 0.25)])
def test_parse_change(text, change):
    assert parse_change(text) == pytest.approx(change)


@pytest.mark.parametrize("text", ["-100%", "0%", "ten", ""])
def test_parse_change_rejects_what_is_not_a_change(text):
    with pytest.raises(InputError, match="--change") as error:
        parse_change(text)
    assert "-10%" in str(error.value)


def test_durations_must_be_usable(published):
    with pytest.raises(ValueError, match="positive"):
        detection_rate([0.0, 0.0, 5.0], -0.1, 10, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="n=1"):
        detection_rate(published, -0.1, 1, rng=np.random.default_rng(0))
