"""Tests for drillhall.simulator.statistics: histograms, bootstrap, Wilson and t."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import time
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from drillhall.simulator.statistics import (
    BIN_COUNT,
    LOG_BIN_COUNT,
    OVERFLOW_START,
    DurationHistogram,
    Estimate,
    mean_interval,
    proportion_interval,
    student_t_quantile,
    summarize_durations,
)

# The published incident-duration fit (FACTS.md): median 67 min, sigma 1.25.
MU = math.log(67 * 60.0)
SIGMA = 1.25
TRUTH = {
    "mean": math.exp(MU + SIGMA**2 / 2),
    "median": math.exp(MU),
    "p90": math.exp(MU + stats.norm.ppf(0.9) * SIGMA),
}

# Durations the histogram resolves to 1 %: exact zeros and 1 s up to 400 days.
resolved_durations = st.one_of(
    st.just(0.0),
    st.floats(min_value=1.0, max_value=OVERFLOW_START, exclude_max=True),
)
# Any valid duration, subnormals and the overflow range included.
any_durations = st.floats(min_value=0.0, max_value=1e12)
duration_lists = st.lists(any_durations, max_size=40)


def lognormal(rng: np.random.Generator, size: int) -> np.ndarray:
    return rng.lognormal(MU, SIGMA, size)


def exact_mean(values: np.ndarray) -> float:
    return float(sum(Fraction(value) for value in values.tolist()) / values.size)


def assert_within_one_percent(estimate: np.ndarray, reference: np.ndarray) -> None:
    error = np.abs(estimate - reference)
    assert np.all(error <= 0.01 * np.abs(reference) + 1e-12), (estimate, reference)


# --- bins -----------------------------------------------------------------------


def test_bin_layout_is_zero_subsecond_log_and_overflow() -> None:
    assert LOG_BIN_COUNT == 1745
    assert BIN_COUNT == 1748
    assert OVERFLOW_START == 400 * 86400.0

    samples = [0.0, 1e-300, 0.5, 1.0, 1.005, OVERFLOW_START * 0.999, OVERFLOW_START]
    bins = [int(np.argmax(DurationHistogram.from_values([v]).counts)) for v in samples]

    assert bins == [0, 1, 1, 2, 2, BIN_COUNT - 2, BIN_COUNT - 1]


def test_log_bins_are_at_most_one_percent_wide() -> None:
    edges = np.geomspace(1.0, OVERFLOW_START, LOG_BIN_COUNT + 1)

    widths = edges[1:] / edges[:-1] - 1.0

    assert widths.max() <= 0.01
    assert widths.min() > 0.0099


# --- DurationHistogram: quantiles -------------------------------------------------


@pytest.mark.parametrize(("seed", "size"), [(1, 1000), (2, 3000), (3, 8000)])
def test_quantiles_match_numpy_on_lognormal_durations(seed: int, size: int) -> None:
    values = lognormal(np.random.default_rng(seed), size)
    probabilities = np.linspace(0.0, 1.0, 201)

    histogram = DurationHistogram.from_values(values)

    assert_within_one_percent(
        histogram.quantile(probabilities), np.quantile(values, probabilities)
    )


def test_extreme_quantiles_are_the_exact_minimum_and_maximum() -> None:
    values = lognormal(np.random.default_rng(4), 500)

    histogram = DurationHistogram.from_values(values)

    assert histogram.quantile(0.0) == values.min() == histogram.minimum
    assert histogram.quantile(1.0) == values.max() == histogram.maximum


def test_quantile_in_the_zero_mass_is_exactly_zero() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate([np.zeros(300), lognormal(rng, 700)])

    histogram = DurationHistogram.from_values(values)

    assert histogram.quantile(0.1) == 0.0
    assert histogram.quantile(0.29) == 0.0
    assert_within_one_percent(
        histogram.quantile([0.3, 0.5, 0.9]), np.quantile(values, [0.3, 0.5, 0.9])
    )


def test_median_of_mostly_zeros_is_zero_not_half_a_second() -> None:
    histogram = DurationHistogram.from_values([0.0, 0.0, 0.0, 5.0])

    assert histogram.quantile(0.5) == 0.0
    assert histogram.quantile(2 / 3) == 0.0
    assert histogram.quantile(1.0) == 5.0


def test_subsecond_durations_stay_inside_their_bin() -> None:
    values = np.array([0.1, 0.2, 0.4, 0.8])

    histogram = DurationHistogram.from_values(values)

    assert 0.1 <= histogram.quantile(0.5) < 1.0
    assert histogram.quantile(0.0) == 0.1


def test_overflow_is_bounded_by_the_exact_maximum() -> None:
    values = np.array([10.0, OVERFLOW_START * 1.5, OVERFLOW_START * 3])

    histogram = DurationHistogram.from_values(values)

    assert histogram.counts[-1] == 2
    assert histogram.maximum == OVERFLOW_START * 3
    assert histogram.quantile(1.0) == OVERFLOW_START * 3
    assert OVERFLOW_START <= histogram.quantile(0.75) <= OVERFLOW_START * 3


def test_quantile_returns_float_for_scalar_and_array_for_sequence() -> None:
    histogram = DurationHistogram.from_values([1.0, 2.0, 3.0])

    assert isinstance(histogram.quantile(0.5), float)
    assert histogram.quantile([0.5, 0.9]).shape == (2,)
    assert histogram.quantile(np.array([[0.1, 0.2]])).shape == (1, 2)


@pytest.mark.parametrize("q", [-0.1, 1.5, math.nan])
def test_quantile_outside_zero_one_is_rejected(q: float) -> None:
    histogram = DurationHistogram.from_values([1.0])

    with pytest.raises(ValueError, match="outside"):
        histogram.quantile(q)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(resolved_durations, min_size=1, max_size=60),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_quantile_is_within_one_percent_of_numpy(values: list[float], q: float) -> None:
    histogram = DurationHistogram.from_values(values)

    assert_within_one_percent(
        np.array(histogram.quantile(q)), np.array(np.quantile(values, q))
    )


@settings(max_examples=100, deadline=None)
@given(st.lists(any_durations, min_size=1, max_size=60))
def test_quantiles_are_monotone_and_inside_the_range(values: list[float]) -> None:
    histogram = DurationHistogram.from_values(values)

    quantiles = histogram.quantile(np.linspace(0.0, 1.0, 41))

    assert np.all(np.diff(quantiles) >= 0.0)
    assert quantiles[0] == min(values)
    assert quantiles[-1] == max(values)


# --- DurationHistogram: sums, merging, validation ---------------------------------


def test_mean_and_total_are_exact() -> None:
    values = lognormal(np.random.default_rng(6), 5000)

    histogram = DurationHistogram.from_values(values)

    assert histogram.count == 5000
    assert histogram.total == math.fsum(values)
    assert histogram.mean == exact_mean(values)


@settings(max_examples=200, deadline=None)
@given(st.lists(any_durations, min_size=1, max_size=50))
def test_total_is_the_correctly_rounded_exact_sum(values: list[float]) -> None:
    histogram = DurationHistogram.from_values(values)

    assert histogram.total == math.fsum(values)
    assert histogram.mean == exact_mean(np.array(values))


@settings(max_examples=150, deadline=None)
@given(duration_lists, duration_lists, duration_lists)
def test_merge_is_associative_and_equals_adding_all_values(
    first: list[float], second: list[float], third: list[float]
) -> None:
    a, b, c = (DurationHistogram.from_values(part) for part in (first, second, third))

    left = (a + b) + c
    right = a.merge(b.merge(c))
    together = DurationHistogram.from_values(first + second + third)

    assert left == right == together
    assert a + b == b + a
    assert left.total == together.total
    assert left.count == len(first) + len(second) + len(third)


@settings(max_examples=50, deadline=None)
@given(st.lists(duration_lists, max_size=6))
def test_adding_in_batches_equals_adding_at_once(batches: list[list[float]]) -> None:
    histogram = DurationHistogram.empty()
    for batch in batches:
        histogram.add(np.array(batch))

    flat = [value for batch in batches for value in batch]
    assert histogram == DurationHistogram.from_values(flat)


def test_builtin_sum_merges_histograms() -> None:
    parts = [DurationHistogram.from_values([float(i), 2.0 * i]) for i in range(5)]

    merged = sum(parts)

    assert merged == DurationHistogram.from_values([0, 2, 1, 4, 2, 6, 3, 8, 4, 0])


def test_merge_leaves_its_operands_unchanged() -> None:
    a = DurationHistogram.from_values([1.0, 2.0])
    b = DurationHistogram.from_values([3.0])

    a + b

    assert a.count == 2 and b.count == 1


def test_empty_histogram_has_nan_statistics() -> None:
    histogram = DurationHistogram.empty()
    histogram.add(np.array([]))

    assert histogram.count == 0
    assert histogram.total == 0.0
    assert math.isnan(histogram.mean)
    assert math.isnan(histogram.minimum) and math.isnan(histogram.maximum)
    assert math.isnan(histogram.quantile(0.5))
    assert histogram + DurationHistogram.from_values([2.0]) == (
        DurationHistogram.from_values([2.0])
    )


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_invalid_durations_are_rejected_with_their_index(bad: float) -> None:
    histogram = DurationHistogram.empty()

    with pytest.raises(ValueError, match=r"durations\[2\]"):
        histogram.add(np.array([1.0, 2.0, bad]))
    assert histogram.count == 0


def test_counts_are_int64_and_read_only() -> None:
    histogram = DurationHistogram.from_values([1.0, 2.0])

    assert histogram.counts.dtype == np.int64
    assert histogram.counts.shape == (BIN_COUNT,)
    with pytest.raises(ValueError):
        histogram.counts[0] = 5


def test_histogram_pickles_small_and_round_trips() -> None:
    histogram = DurationHistogram.from_values(lognormal(np.random.default_rng(7), 3000))

    payload = pickle.dumps(histogram)

    assert len(payload) < 16_000
    assert pickle.loads(payload) == histogram


# --- Estimate ---------------------------------------------------------------------


def test_estimate_to_dict_is_json_safe() -> None:
    estimate = Estimate(2.0, 1.0, 3.0)

    assert estimate.to_dict() == {
        "value": 2.0,
        "low": 1.0,
        "high": 3.0,
        "confidence": 0.95,
    }
    missing = Estimate.missing(0.9).to_dict()
    assert json.loads(json.dumps(missing)) == {
        "value": None,
        "low": None,
        "high": None,
        "confidence": 0.9,
    }


def test_estimate_is_frozen_and_knows_what_it_contains() -> None:
    estimate = Estimate(2.0, 1.0, 3.0)

    with pytest.raises(dataclasses.FrozenInstanceError):
        estimate.value = 5.0  # type: ignore[misc]
    assert estimate.contains(1.0) and not estimate.contains(3.5)
    assert not Estimate.missing().contains(0.0)


# --- summarize_durations ----------------------------------------------------------


def replications(seed: int, count: int, size: int) -> list[DurationHistogram]:
    rng = np.random.default_rng(seed)
    return [DurationHistogram.from_values(lognormal(rng, size)) for _ in range(count)]


def test_summary_values_are_those_of_the_pooled_durations() -> None:
    histograms = replications(seed=8, count=30, size=200)
    pooled = sum(histograms)

    summary = summarize_durations(histograms, np.random.default_rng(0))

    assert list(summary) == ["mean", "median", "p90", "p99"]
    assert summary["mean"].value == pooled.mean
    assert summary["median"].value == pooled.quantile(0.5)
    assert summary["p90"].value == pooled.quantile(0.9)
    assert summary["p99"].value == pooled.quantile(0.99)
    for estimate in summary.values():
        assert estimate.low < estimate.value < estimate.high
        assert estimate.confidence == 0.95


def test_summary_is_deterministic_for_a_seed() -> None:
    histograms = replications(seed=9, count=10, size=100)

    first = summarize_durations(histograms, np.random.default_rng(3))
    again = summarize_durations(histograms, np.random.default_rng(3))
    other = summarize_durations(histograms, np.random.default_rng(4))

    assert first == again
    assert first["median"].low != other["median"].low


def test_summary_ignores_replications_without_incidents() -> None:
    histograms = replications(seed=10, count=5, size=100)
    padded = [DurationHistogram.empty(), *histograms, DurationHistogram.empty()]

    assert summarize_durations(padded, np.random.default_rng(1)) == (
        summarize_durations(histograms, np.random.default_rng(1))
    )


@pytest.mark.parametrize("histograms", [[], [DurationHistogram.empty()] * 3])
def test_summary_without_incidents_is_nan(
    histograms: list[DurationHistogram],
) -> None:
    summary = summarize_durations(histograms, np.random.default_rng(0))

    assert set(summary) == {"mean", "median", "p90", "p99"}
    for estimate in summary.values():
        assert math.isnan(estimate.value)
        assert math.isnan(estimate.low) and math.isnan(estimate.high)


def test_single_replication_bootstraps_its_incidents() -> None:
    (histogram,) = replications(seed=11, count=1, size=2000)

    summary = summarize_durations([histogram], np.random.default_rng(0))

    assert summary["mean"].value == histogram.mean
    for estimate in summary.values():
        assert estimate.low < estimate.value < estimate.high


def test_single_zero_heavy_replication_has_a_zero_median_interval() -> None:
    histogram = DurationHistogram.from_values(np.r_[np.zeros(900), np.ones(100)])

    summary = summarize_durations([histogram], np.random.default_rng(0))

    assert summary["median"] == Estimate(0.0, 0.0, 0.0)


def test_wider_confidence_gives_wider_intervals() -> None:
    histograms = replications(seed=12, count=20, size=100)

    narrow = summarize_durations(histograms, np.random.default_rng(0), confidence=0.8)
    wide = summarize_durations(histograms, np.random.default_rng(0), confidence=0.99)

    for name in narrow:
        assert wide[name].low <= narrow[name].low
        assert wide[name].high >= narrow[name].high
    assert wide["median"].confidence == 0.99


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"confidence": 1.0}, "confidence=1.0"),
        ({"confidence": 0.0}, "confidence=0.0"),
        ({"resamples": 0}, "resamples=0"),
        ({"resamples": 10.5}, "resamples=10.5"),
    ],
)
def test_summary_rejects_bad_arguments(arguments: dict, message: str) -> None:
    histograms = replications(seed=13, count=2, size=10)

    with pytest.raises(ValueError, match=message):
        summarize_durations(histograms, np.random.default_rng(0), **arguments)


@pytest.mark.slow
def test_summary_of_a_thousand_replications_takes_well_under_a_second() -> None:
    histograms = replications(seed=14, count=1000, size=3000)
    summarize_durations(histograms[:10], np.random.default_rng(0))

    started = time.perf_counter()
    summarize_durations(histograms, np.random.default_rng(0))
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0


def coverage(seed: int, experiments: int, count: int, size: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    hits = dict.fromkeys(TRUTH, 0)
    for _ in range(experiments):
        histograms = [
            DurationHistogram.from_values(lognormal(rng, size)) for _ in range(count)
        ]
        summary = summarize_durations(histograms, rng, resamples=500)
        for name, truth in TRUTH.items():
            hits[name] += summary[name].contains(truth)
    return {name: hit / experiments for name, hit in hits.items()}


@pytest.mark.slow
def test_replication_bootstrap_covers_the_truth_about_95_percent() -> None:
    rates = coverage(seed=2024, experiments=200, count=20, size=200)

    for name, rate in rates.items():
        assert 0.88 <= rate <= 0.99, (name, rates)


@pytest.mark.slow
def test_incident_bootstrap_covers_the_truth_about_95_percent() -> None:
    rates = coverage(seed=2025, experiments=200, count=1, size=500)

    for name, rate in rates.items():
        assert 0.88 <= rate <= 0.99, (name, rates)


# --- proportion_interval ----------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        # z**2 / (n + z**2) and its mirror, by hand; 3/10 from the textbook formula.
        (0, 10, 0.0, 0.277532),
        (10, 10, 0.722468, 1.0),
        (3, 10, 0.107791, 0.603222),
    ],
)
def test_wilson_interval_matches_reference_values(
    successes: int, trials: int, low: float, high: float
) -> None:
    estimate = proportion_interval(successes, trials)

    assert estimate.value == successes / trials
    assert estimate.low == pytest.approx(low, abs=1e-6)
    assert estimate.high == pytest.approx(high, abs=1e-6)


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
@pytest.mark.parametrize(
    ("successes", "trials"),
    [(0, 1), (1, 1), (1, 7), (17, 40), (999, 1000), (5, 10_000)],
)
def test_wilson_interval_matches_scipy(
    successes: int, trials: int, confidence: float
) -> None:
    estimate = proportion_interval(successes, trials, confidence)
    reference = stats.binomtest(successes, trials).proportion_ci(
        confidence_level=confidence, method="wilson"
    )

    assert estimate.low == pytest.approx(reference.low, abs=1e-12)
    assert estimate.high == pytest.approx(reference.high, abs=1e-12)
    assert estimate.confidence == confidence


def test_wilson_interval_of_no_trials_is_nan() -> None:
    estimate = proportion_interval(0, 0)

    assert math.isnan(estimate.value) and math.isnan(estimate.low)


@pytest.mark.parametrize(
    ("successes", "trials", "message"),
    [(3, 2, "successes=3"), (-1, 2, "successes=-1"), (0, -1, "trials=-1")],
)
def test_wilson_interval_rejects_impossible_counts(
    successes: int, trials: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        proportion_interval(successes, trials)


# --- student_t_quantile and mean_interval ----------------------------------------

T_PROBABILITIES = [0.0005, 0.025, 0.1, 0.55, 0.75, 0.9, 0.95, 0.975, 0.995, 0.9995]


@pytest.mark.parametrize("df", range(1, 201))
def test_t_quantile_matches_scipy_for_small_df(df: int) -> None:
    quantiles = [student_t_quantile(p, df) for p in T_PROBABILITIES]

    np.testing.assert_allclose(quantiles, stats.t.ppf(T_PROBABILITIES, df), rtol=1e-9)


@pytest.mark.parametrize("df", [999, 1000, 1001, 1500, 10_000, 10**6])
def test_t_quantile_matches_scipy_on_both_sides_of_the_series_limit(df: int) -> None:
    quantiles = [student_t_quantile(p, df) for p in T_PROBABILITIES]

    np.testing.assert_allclose(quantiles, stats.t.ppf(T_PROBABILITIES, df), rtol=1e-9)


@pytest.mark.parametrize(
    ("df", "expected"), [(1, 12.706), (2, 4.303), (10, 2.228), (30, 2.042)]
)
def test_t_quantile_matches_the_printed_table(df: int, expected: float) -> None:
    assert round(student_t_quantile(0.975, df), 3) == expected


def test_t_quantile_is_symmetric_with_zero_median() -> None:
    assert student_t_quantile(0.5, 7) == 0.0
    assert student_t_quantile(0.1, 7) == -student_t_quantile(0.9, 7)


@pytest.mark.parametrize(
    ("probability", "df", "message"),
    [
        (0.0, 3, "probability=0.0"),
        (1.0, 3, "probability=1.0"),
        (0.9, 0, "df=0"),
        (0.9, 2.5, "df=2.5"),
        (0.9, True, "df=True"),
    ],
)
def test_t_quantile_rejects_bad_arguments(
    probability: float, df: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        student_t_quantile(probability, df)


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
@pytest.mark.parametrize("size", [2, 3, 10, 57, 1500])
def test_mean_interval_matches_scipy(size: int, confidence: float) -> None:
    values = lognormal(np.random.default_rng(size), size)

    estimate = mean_interval(values, confidence)
    low, high = stats.t.interval(
        confidence, size - 1, loc=values.mean(), scale=stats.sem(values)
    )

    assert estimate.value == pytest.approx(values.mean(), rel=1e-12)
    assert estimate.low == pytest.approx(low, rel=1e-9)
    assert estimate.high == pytest.approx(high, rel=1e-9)


def test_mean_interval_of_one_value_has_no_interval() -> None:
    estimate = mean_interval([4.0])

    assert estimate.value == 4.0
    assert math.isnan(estimate.low) and math.isnan(estimate.high)


def test_mean_interval_of_nothing_is_nan() -> None:
    assert math.isnan(mean_interval([]).value)


def test_mean_interval_rejects_undefined_values() -> None:
    with pytest.raises(ValueError, match=r"values\[1\]=nan"):
        mean_interval([1.0, math.nan])
