"""Bounded-memory duration statistics and the confidence intervals drillhall reports.

A Monte Carlo run simulates many replications (each a year of incidents) in worker
processes. Keeping every lifecycle duration would grow without bound, so each
replication reduces its durations to a ``DurationHistogram``: counts over fixed bins
shared by the whole module, plus the exact sum, minimum and maximum. Histograms add
up exactly, in any order, so the parent merges them and gets the same numbers with
any number of workers.

The bins, in seconds:

- bin 0 holds exact zeros (a zero detection delay is common), so a quantile that
  falls in the zero mass is exactly 0.0;
- bin 1 holds (0, 1);
- bins 2 to 1746 are ``LOG_BIN_COUNT`` (1745) log-spaced bins from 1 s to 400 days,
  each at most 1 % wider than its lower edge;
- bin 1747 is the overflow [400 days, inf), bounded above by the exact maximum.

``summarize_durations`` turns the histograms of a run into point estimates with
bootstrap intervals; ``proportion_interval`` (Wilson) and ``mean_interval``
(Student t) cover the other figures a report needs. Runtime needs numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import overload

import numpy as np

from drillhall.simulator.durations import DAY

__all__ = [
    "BIN_COUNT",
    "LOG_BIN_COUNT",
    "OVERFLOW_START",
    "DurationHistogram",
    "Estimate",
    "mean_interval",
    "proportion_interval",
    "student_t_quantile",
    "summarize_durations",
]

LOG_BIN_COUNT = 1745
OVERFLOW_START = 400 * DAY
BIN_COUNT = LOG_BIN_COUNT + 3

# The 1746 edges of the log bins; a value v >= 1 lands in bin
# searchsorted(_LOG_EDGES, v, "right") + 1, and 400 days or more in the overflow.
_LOG_EDGES = np.geomspace(1.0, OVERFLOW_START, LOG_BIN_COUNT + 1)
_LOG_EDGES.flags.writeable = False

# Lower and upper edge of every bin, aligned with ``counts``.
_LOWER_EDGES = np.concatenate(([0.0, 0.0], _LOG_EDGES))
_UPPER_EDGES = np.concatenate(([0.0], _LOG_EDGES, [math.inf]))

# Exact sums are kept as integers in units of 2**-_SCALE_BITS seconds: every finite
# double is an integer multiple of 2**-1074, and frexp exponents reach -1073, so a
# shift of exponent - 53 + 1126 is never negative.
_SCALE_BITS = 1126
_MANTISSA_SPLIT = 26
_SUM_CHUNK = 1 << 24

_SUMMARY_QUANTILES = {"median": 0.5, "p90": 0.9, "p99": 0.99}
_SUMMARY_NAMES = ("mean", *_SUMMARY_QUANTILES)

# Above this many degrees of freedom the Cornish-Fisher series is exact to far
# below double rounding; below it the t quantile is solved from the exact CDF.
_T_SERIES_LIMIT = 1000


class DurationHistogram:
    """Counts of durations (seconds, >= 0) over the module's fixed bins.

    ``add`` folds in an array of durations; ``merge`` and ``+`` return the sum of two
    histograms, exactly as if all their values had been added to one. ``total``,
    ``mean``, ``minimum`` and ``maximum`` are exact; ``quantile`` is within 1 % of
    the sample quantile for values from 1 s to 400 days and exact at zero.
    """

    __slots__ = ("_counts", "_maximum", "_minimum", "_total_scaled")

    def __init__(self) -> None:
        self._counts = np.zeros(BIN_COUNT, dtype=np.int64)
        self._total_scaled = 0
        self._minimum = math.inf
        self._maximum = -math.inf

    @classmethod
    def empty(cls) -> DurationHistogram:
        """Return a histogram that holds no durations."""
        return cls()

    @classmethod
    def from_values(cls, values: np.ndarray | Sequence[float]) -> DurationHistogram:
        """Return a new histogram holding ``values``."""
        histogram = cls()
        histogram.add(values)
        return histogram

    def add(self, values: np.ndarray | Sequence[float]) -> None:
        """Fold the durations ``values`` (seconds, finite, >= 0) into this histogram."""
        durations = np.ravel(np.asarray(values, dtype=np.float64))
        if durations.size == 0:
            return
        _check_durations(durations)

        bins = np.searchsorted(_LOG_EDGES, durations, side="right") + 1
        bins[durations == 0.0] = 0
        self._counts += np.bincount(bins, minlength=BIN_COUNT)

        self._total_scaled += _scaled_exact_sum(durations)
        self._minimum = min(self._minimum, float(durations.min()))
        self._maximum = max(self._maximum, float(durations.max()))

    def merge(self, other: DurationHistogram) -> DurationHistogram:
        """Return a new histogram holding the durations of both."""
        merged = DurationHistogram()
        merged._counts = self._counts + other._counts
        merged._total_scaled = self._total_scaled + other._total_scaled
        merged._minimum = min(self._minimum, other._minimum)
        merged._maximum = max(self._maximum, other._maximum)
        return merged

    def __add__(self, other: object) -> DurationHistogram:
        if not isinstance(other, DurationHistogram):
            return NotImplemented
        return self.merge(other)

    def __radd__(self, other: object) -> DurationHistogram:
        # Lets the built-in sum() start from its default 0.
        if isinstance(other, int) and other == 0:
            return self.merge(DurationHistogram())
        return NotImplemented

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DurationHistogram):
            return NotImplemented
        return (
            self._total_scaled == other._total_scaled
            and self._minimum == other._minimum
            and self._maximum == other._maximum
            and bool(np.array_equal(self._counts, other._counts))
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        return f"DurationHistogram(count={self.count}, mean={self.mean:.6g})"

    @property
    def counts(self) -> np.ndarray:
        """Counts per bin (int64, ``BIN_COUNT`` long), as a read-only view."""
        view = self._counts.view()
        view.flags.writeable = False
        return view

    @property
    def count(self) -> int:
        """How many durations were added."""
        return int(self._counts.sum())

    @property
    def total(self) -> float:
        """The sum of all durations, correctly rounded from the exact sum."""
        return self._total_scaled / (1 << _SCALE_BITS)

    @property
    def mean(self) -> float:
        """The mean duration, correctly rounded; NaN when empty."""
        count = self.count
        if count == 0:
            return math.nan
        return self._total_scaled / (count << _SCALE_BITS)

    @property
    def minimum(self) -> float:
        """The smallest duration added; NaN when empty."""
        return self._minimum if self.count else math.nan

    @property
    def maximum(self) -> float:
        """The largest duration added; NaN when empty."""
        return self._maximum if self.count else math.nan

    @overload
    def quantile(self, q: float) -> float: ...

    @overload
    def quantile(self, q: Sequence[float] | np.ndarray) -> np.ndarray: ...

    def quantile(self, q: float | Sequence[float] | np.ndarray) -> float | np.ndarray:
        """Return the ``q`` quantile(s), estimated like numpy's default (linear).

        Each order statistic is placed inside its bin by its rank among the bin's
        values, geometrically from 1 s up and linearly below; the smallest and
        largest are exact. NaN when the histogram is empty.
        """
        probabilities = np.asarray(q, dtype=np.float64)
        _check_probabilities(probabilities)
        if self.count == 0:
            result = np.full(probabilities.shape, math.nan)
        else:
            lower, upper = _bin_bounds(self._minimum, self._maximum)
            flat = _row_quantiles(
                self._counts[None, :].astype(np.float64),
                probabilities.ravel(),
                lower,
                upper,
                exact_extremes=(self._minimum, self._maximum),
            )
            result = flat[0].reshape(probabilities.shape)
        return float(result) if result.ndim == 0 else result


@dataclass(frozen=True, slots=True)
class Estimate:
    """A figure with its confidence interval: ``value`` in [``low``, ``high``]."""

    value: float
    low: float
    high: float
    confidence: float = 0.95

    @classmethod
    def missing(cls, confidence: float = 0.95) -> Estimate:
        """Return the estimate of a figure that has no data: NaN everywhere."""
        return cls(math.nan, math.nan, math.nan, confidence)

    def contains(self, truth: float) -> bool:
        """Whether ``truth`` lies inside the interval (False if it is undefined)."""
        return bool(self.low <= truth <= self.high)

    def to_dict(self) -> dict[str, float | None]:
        """Return the fields as a dict; NaN becomes None so the dict is valid JSON."""
        return {
            "value": _none_if_nan(self.value),
            "low": _none_if_nan(self.low),
            "high": _none_if_nan(self.high),
            "confidence": self.confidence,
        }


def summarize_durations(
    histograms: Sequence[DurationHistogram],
    rng: np.random.Generator,
    resamples: int = 1000,
    confidence: float = 0.95,
) -> dict[str, Estimate]:
    """Return mean, median, p90 and p99 of the pooled durations with intervals.

    ``histograms`` holds one histogram per replication. The values are those of all
    durations pooled; the intervals are percentile bootstraps. With two or more
    replications that have incidents, whole replications are resampled (years are
    the independent unit, incidents within one are not); with one, its incidents
    are. Replications without incidents carry no durations and are left out. No
    incidents at all gives NaN estimates. The same ``rng`` state gives the same
    intervals.
    """
    _check_confidence(confidence)
    _check_resamples(resamples)
    occupied = [histogram for histogram in histograms if histogram.count > 0]
    if not occupied:
        return {name: Estimate.missing(confidence) for name in _SUMMARY_NAMES}

    # Only bins that any replication uses take part, which keeps the matrices small.
    full_counts = np.stack([histogram._counts for histogram in occupied])
    columns = np.flatnonzero(full_counts.sum(axis=0))
    counts = full_counts[:, columns].astype(np.float64)
    pooled = _pool(occupied)
    lower, upper = _bin_bounds(pooled._minimum, pooled._maximum)
    lower, upper = lower[columns], upper[columns]

    if len(occupied) >= 2:
        totals = np.array([histogram.total for histogram in occupied])
        resampled, means = _resample_replications(counts, totals, rng, resamples)
    else:
        resampled, means = _resample_incidents(
            counts[0], pooled.mean, lower, upper, rng, resamples
        )

    probabilities = np.array(list(_SUMMARY_QUANTILES.values()))
    quantiles = _row_quantiles(resampled, probabilities, lower, upper)
    statistics = np.column_stack([means, quantiles])
    values = [pooled.mean, *pooled.quantile(probabilities).tolist()]

    tail = (1.0 - confidence) / 2.0
    lows, highs = np.quantile(statistics, [tail, 1.0 - tail], axis=0)
    return {
        name: Estimate(float(value), float(low), float(high), confidence)
        for name, value, low, high in zip(
            _SUMMARY_NAMES, values, lows, highs, strict=True
        )
    }


def proportion_interval(
    successes: int, trials: int, confidence: float = 0.95
) -> Estimate:
    """Return the observed proportion ``successes / trials`` with its Wilson interval.

    No trials gives NaN. The Wilson score interval keeps sensible coverage near 0 and
    1, where the textbook normal interval collapses to a point.
    """
    _check_confidence(confidence)
    if trials < 0:
        raise ValueError(f"trials={trials!r} is negative; pass a count of trials >= 0")
    if not 0 <= successes <= trials:
        raise ValueError(
            f"successes={successes!r} is outside [0, trials={trials}]; "
            "count only successes among the trials"
        )
    if trials == 0:
        return Estimate.missing(confidence)

    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    proportion = successes / trials
    shrink = 1.0 + z * z / trials
    centre = (proportion + z * z / (2.0 * trials)) / shrink
    spread = proportion * (1.0 - proportion) / trials + z * z / (4.0 * trials * trials)
    half_width = z * math.sqrt(spread) / shrink

    low = max(0.0, centre - half_width)
    high = min(1.0, centre + half_width)
    return Estimate(proportion, low, high, confidence)


def mean_interval(
    values: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> Estimate:
    """Return the mean of per-replication ``values`` with a Student-t interval.

    No values gives NaN; a single value gives the value with a NaN interval, since
    one replication says nothing about the spread.
    """
    _check_confidence(confidence)
    sample = np.ravel(np.asarray(values, dtype=np.float64))
    bad = np.flatnonzero(~np.isfinite(sample))
    if bad.size:
        index = int(bad[0])
        raise ValueError(
            f"values[{index}]={float(sample[index])!r} is not finite; leave out "
            "replications where the figure is undefined (e.g. a year without "
            "incidents)"
        )

    if sample.size == 0:
        return Estimate.missing(confidence)
    mean = float(sample.mean())
    if sample.size == 1:
        return Estimate(mean, math.nan, math.nan, confidence)

    standard_error = float(sample.std(ddof=1)) / math.sqrt(sample.size)
    t = student_t_quantile(0.5 + confidence / 2.0, sample.size - 1)
    return Estimate(
        mean, mean - t * standard_error, mean + t * standard_error, confidence
    )


def student_t_quantile(probability: float, df: int) -> float:
    """Return t such that P(T <= t) = ``probability`` for Student's t with ``df``.

    Up to 1000 degrees of freedom the exact CDF (a finite series for integer ``df``)
    is inverted by safeguarded Newton steps; above, the Cornish-Fisher expansion to
    the fourth order is used. Both agree with scipy to 1e-10 or better.
    """
    if not 0.0 < probability < 1.0:
        raise ValueError(
            f"probability={probability!r} is outside (0, 1); pass e.g. 0.975"
        )
    if isinstance(df, bool) or not isinstance(df, int | np.integer) or df < 1:
        raise ValueError(f"df={df!r} is not a whole number >= 1 of degrees of freedom")
    df = int(df)

    if probability < 0.5:
        return -student_t_quantile(1.0 - probability, df)
    if probability == 0.5:
        return 0.0

    z = NormalDist().inv_cdf(probability)
    estimate = _cornish_fisher(z, df)
    if df > _T_SERIES_LIMIT:
        return estimate
    return _solve_t(2.0 * probability - 1.0, df, estimate)


def _check_durations(durations: np.ndarray) -> None:
    bad = np.flatnonzero(~np.isfinite(durations) | (durations < 0.0))
    if bad.size:
        index = int(bad[0])
        raise ValueError(
            f"durations[{index}]={float(durations[index])!r} is not a finite "
            "duration >= 0 s; record unfinished incidents apart from the histogram"
        )


def _check_probabilities(probabilities: np.ndarray) -> None:
    inside = (probabilities >= 0.0) & (probabilities <= 1.0)
    if not np.all(inside):
        bad = float(probabilities[~inside].ravel()[0])
        raise ValueError(f"q={bad!r} is outside [0, 1]; pass e.g. 0.5 for the median")


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(
            f"confidence={confidence!r} is outside (0, 1); pass e.g. 0.95 for 95 %"
        )


def _check_resamples(resamples: int) -> None:
    whole = isinstance(resamples, int | np.integer) and not isinstance(resamples, bool)
    if not whole or resamples < 1:
        raise ValueError(
            f"resamples={resamples!r} is not a whole number >= 1; 1000 is typical"
        )


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


def _scaled_exact_sum(values: np.ndarray) -> int:
    """Return sum(values) * 2**_SCALE_BITS exactly.

    Each value is mantissa * 2**(exponent - 53) with an integer mantissa below 2**53.
    Mantissas are split in two halves whose per-exponent sums stay exact in float64
    (a chunk holds at most 2**24 values), then shifted into one Python integer.
    """
    total = 0
    for start in range(0, values.size, _SUM_CHUNK):
        fractions, exponents = np.frexp(values[start : start + _SUM_CHUNK])
        mantissas = np.ldexp(fractions, 53).astype(np.int64)
        smallest = int(exponents.min())
        slots = exponents - smallest

        high = np.bincount(slots, weights=mantissas >> _MANTISSA_SPLIT)
        low = np.bincount(slots, weights=mantissas & ((1 << _MANTISSA_SPLIT) - 1))
        for slot in np.flatnonzero(high + low).tolist():
            mantissa_sum = (int(high[slot]) << _MANTISSA_SPLIT) + int(low[slot])
            total += mantissa_sum << (smallest + slot - 53 + _SCALE_BITS)
    return total


def _pool(histograms: Sequence[DurationHistogram]) -> DurationHistogram:
    pooled = DurationHistogram()
    pooled._counts = np.sum([histogram._counts for histogram in histograms], axis=0)
    pooled._total_scaled = sum(histogram._total_scaled for histogram in histograms)
    pooled._minimum = min(histogram._minimum for histogram in histograms)
    pooled._maximum = max(histogram._maximum for histogram in histograms)
    return pooled


def _bin_bounds(minimum: float, maximum: float) -> tuple[np.ndarray, np.ndarray]:
    """Return every bin's lower and upper edge, narrowed to [minimum, maximum].

    Only the bins holding the extremes change, and the overflow bin gets a finite top.
    """
    lower = np.clip(_LOWER_EDGES, minimum, maximum)
    upper = np.clip(_UPPER_EDGES, minimum, maximum)
    return lower, upper


def _row_quantiles(
    counts: np.ndarray,
    probabilities: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    exact_extremes: tuple[float, float] | None = None,
) -> np.ndarray:
    """Return the quantiles of each row of ``counts`` (rows x probabilities).

    Every row must hold at least one value. Like numpy's default, the p quantile of
    n values interpolates linearly between the order statistics around (n - 1) p.
    """
    cumulative = np.cumsum(counts, axis=1)
    last = cumulative[:, -1:] - 1.0
    positions = last * probabilities[None, :]
    below = np.floor(positions)
    above = np.minimum(below + 1.0, last)

    below_values = _order_statistics(counts, cumulative, below, lower, upper)
    above_values = _order_statistics(counts, cumulative, above, lower, upper)
    if exact_extremes is not None:
        minimum, maximum = exact_extremes
        for ranks, values in ((below, below_values), (above, above_values)):
            values[ranks == 0.0] = minimum
            values[ranks == last] = maximum
    return below_values + (positions - below) * (above_values - below_values)


def _order_statistics(
    counts: np.ndarray,
    cumulative: np.ndarray,
    ranks: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
) -> np.ndarray:
    """Return the value of each 0-based rank in ``ranks`` (rows x k), row by row.

    The j-th of the c values in a bin sits at fraction (j + 0.5) / c of the bin,
    measured in log space from 1 s up.
    """
    rows, bins = counts.shape
    row_index = np.arange(rows)[:, None]

    # NOTE: one searchsorted over all rows at once: shifting row i by i * (n + 1),
    # n the largest row total, keeps the flattened cumulative counts sorted. The
    # shifted numbers stay integers far below 2**53, so the float search is exact.
    shift = np.arange(rows, dtype=np.float64)[:, None] * (cumulative[:, -1].max() + 1)
    flat = (cumulative + shift).ravel()
    found = np.searchsorted(flat, (ranks + shift).ravel(), side="right")
    bin_index = found.reshape(ranks.shape) - row_index * bins

    in_bin = counts[row_index, bin_index]
    before = cumulative[row_index, bin_index] - in_bin
    fraction = (ranks - before + 0.5) / in_bin
    return _interpolate(lower[bin_index], upper[bin_index], fraction)


def _interpolate(
    lower: np.ndarray, upper: np.ndarray, fraction: np.ndarray
) -> np.ndarray:
    """Return the point at ``fraction`` of each bin.

    Geometric in the log bins and the overflow; linear below 1 s, where a log scale
    would stretch the bin over hundreds of decades down to the smallest duration.
    """
    geometric = lower >= 1.0
    ratio = np.divide(upper, lower, out=np.ones_like(upper), where=geometric)
    return np.where(
        geometric, lower * ratio**fraction, lower + (upper - lower) * fraction
    )


def _resample_replications(
    counts: np.ndarray, totals: np.ndarray, rng: np.random.Generator, resamples: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return bootstrap counts (resamples x bins) and means over whole replications.

    Row b of the weight matrix says how often each replication was drawn in resample
    b (a multinomial row), so one matrix product pools every resample at once.
    """
    replications = counts.shape[0]
    weights = _replication_weights(rng, replications, resamples)

    resampled = weights @ counts
    sizes = resampled.sum(axis=1)
    means = (weights @ totals) / sizes
    return resampled, means


def _replication_weights(
    rng: np.random.Generator, replications: int, resamples: int
) -> np.ndarray:
    """Return how often each replication is drawn, per resample (float64 matrix).

    NOTE: counting drawn indices samples the same multinomial distribution as
    rng.multinomial, about four times faster for a thousand replications.
    """
    draws = rng.integers(0, replications, size=(resamples, replications))
    draws += np.arange(resamples)[:, None] * replications
    tally = np.bincount(draws.ravel(), minlength=resamples * replications)
    return tally.reshape(resamples, replications).astype(np.float64)


def _resample_incidents(
    counts: np.ndarray,
    mean: float,
    lower: np.ndarray,
    upper: np.ndarray,
    rng: np.random.Generator,
    resamples: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Return bootstrap counts (resamples x bins) and means over single incidents.

    The exact values are gone, so a resample's mean is the exact mean moved by how
    much the resample shifts the mean of the bins' midpoints.
    """
    size = int(counts.sum())
    resampled = rng.multinomial(size, counts / size, size=resamples).astype(np.float64)

    midpoints = _interpolate(lower, upper, np.full(lower.shape, 0.5))
    shifts = (resampled @ midpoints - counts @ midpoints) / size
    return resampled, mean + shifts


def _cornish_fisher(z: float, df: int) -> float:
    """Return the t quantile at the normal quantile ``z``, to order df**-4."""
    z2 = z * z
    g1 = (z2 + 1.0) * z / 4.0
    g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0
    g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0
    g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z
    g4 /= 92160.0
    return z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df


def _solve_t(two_sided: float, df: int, estimate: float) -> float:
    """Return t > 0 with P(|T| <= t) = ``two_sided``, starting near ``estimate``.

    Works on the angle theta = atan(t / sqrt(df)) in (0, pi/2), where the CDF is a
    finite trigonometric series; Newton steps that leave the bracket are replaced by
    bisection.
    """
    root_df = math.sqrt(df)
    low, high = 0.0, math.pi / 2.0
    theta = min(max(math.atan(estimate / root_df), 1e-12), high - 1e-12)
    log_slope = (
        math.log(2.0)
        + math.lgamma((df + 1) / 2.0)
        - math.lgamma(df / 2.0)
        - 0.5 * math.log(math.pi)
    )

    for _ in range(200):
        excess = _t_two_sided(theta, df) - two_sided
        if excess > 0.0:
            high = theta
        else:
            low = theta

        slope = math.exp(log_slope) * math.cos(theta) ** (df - 1)
        step = excess / slope if slope > 0.0 else math.inf
        following = theta - step
        if abs(following - theta) <= 1e-15 * theta:
            return root_df * math.tan(following)

        if not low < following < high:
            following = (low + high) / 2.0
        theta = following
    return root_df * math.tan(theta)


def _t_two_sided(theta: float, df: int) -> float:
    """Return P(|T| <= sqrt(df) tan(theta)) for an integer ``df`` (A&S 26.7.3-4)."""
    sine, cosine = math.sin(theta), math.cos(theta)
    cosine2 = cosine * cosine
    term = series = 1.0

    if df % 2 == 0:
        for k in range(1, df // 2):
            term *= cosine2 * (2 * k - 1) / (2 * k)
            series += term
        return sine * series

    if df == 1:
        return 2.0 * theta / math.pi
    for k in range(1, (df - 1) // 2):
        term *= cosine2 * (2 * k) / (2 * k + 1)
        series += term
    return 2.0 / math.pi * (theta + sine * cosine * series)
