"""Declared distributions of durations, drawn in batches or from given uniforms.

Users write one key naming the family: ``{lognormal: {median: 20m, sigma: 0.8}}``,
``{exponential: {mean: 5m}}``, ``{gamma: {shape: 2, mean: 30m}}``,
``{weibull: {shape: 1.5, scale: 30m}}``, ``{fixed: 5m}`` (or just ``5m``) or
``{empirical: [4m, 7m, 31m]}`` (each value equally likely). All are in seconds.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from statistics import NormalDist
from typing import Annotated, Any, cast

import numpy as np
from pydantic import BeforeValidator, Field, model_validator

from drillhall.simulator.fields import Duration, PositiveDuration, StrictModel

_Z95 = 1.6448536269514722  # standard normal quantile of 0.95


class Exponential(StrictModel):
    mean: PositiveDuration


class Lognormal(StrictModel):
    """Log-normal by its median and either ``sigma`` (log-space) or its ``p95``."""

    median: PositiveDuration
    sigma: float | None = Field(default=None, gt=0)
    p95: PositiveDuration | None = None

    @model_validator(mode="after")
    def _one_spread(self) -> Lognormal:
        if (self.sigma is None) == (self.p95 is None):
            raise ValueError("give exactly one of 'sigma' or 'p95' with the median")
        if self.p95 is not None and self.p95 <= self.median:
            raise ValueError(
                f"p95 ({self.p95:g}s) must exceed the median ({self.median:g}s)"
            )
        return self

    @property
    def log_sigma(self) -> float:
        if self.sigma is not None:
            return self.sigma
        assert self.p95 is not None
        return math.log(self.p95 / self.median) / _Z95


class Gamma(StrictModel):
    shape: float = Field(gt=0)
    mean: PositiveDuration


class Weibull(StrictModel):
    shape: float = Field(gt=0)
    scale: PositiveDuration


class DistributionSpec(StrictModel):
    """Exactly one family, named by its key."""

    exponential: Exponential | None = None
    lognormal: Lognormal | None = None
    gamma: Gamma | None = None
    weibull: Weibull | None = None
    fixed: Duration | None = None
    empirical: list[Duration] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> DistributionSpec:
        given = [name for name in _FAMILIES if getattr(self, name) is not None]
        if len(given) != 1:
            families = ", ".join(_FAMILIES)
            found = ", ".join(given) or "none"
            raise ValueError(
                f"name exactly one distribution ({families}); found {found}"
            )
        return self

    @property
    def family(self) -> str:
        return next(name for name in _FAMILIES if getattr(self, name) is not None)

    @property
    def is_constant(self) -> bool:
        if self.fixed is not None:
            return True
        return self.empirical is not None and len(set(self.empirical)) == 1

    def mean(self) -> float:
        """The distribution's mean in seconds."""
        if self.fixed is not None:
            return self.fixed
        if self.empirical is not None:
            return float(np.mean(self.empirical))
        if self.exponential is not None:
            return self.exponential.mean
        if self.gamma is not None:
            return self.gamma.mean
        if self.weibull is not None:
            return self.weibull.scale * math.gamma(1 + 1 / self.weibull.shape)
        assert self.lognormal is not None
        return self.lognormal.median * math.exp(self.lognormal.log_sigma**2 / 2)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` values (seconds) from ``rng``."""
        if self.fixed is not None:
            return np.full(size, self.fixed)
        if self.empirical is not None:
            return rng.choice(np.asarray(self.empirical, dtype=float), size=size)
        if self.exponential is not None:
            return rng.exponential(self.exponential.mean, size)
        if self.gamma is not None:
            scale = self.gamma.mean / self.gamma.shape
            return rng.gamma(self.gamma.shape, scale, size)
        if self.weibull is not None:
            return self.weibull.scale * rng.weibull(self.weibull.shape, size)
        assert self.lognormal is not None
        mu = math.log(self.lognormal.median)
        return rng.lognormal(mu, self.lognormal.log_sigma, size)


_FAMILIES = ("exponential", "lognormal", "gamma", "weibull", "fixed", "empirical")


def _shorthand(value: Any) -> Any:
    # A bare duration ('5m', 300) means a fixed value.
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return {"fixed": value}
    return value


Distribution = Annotated[
    DistributionSpec,
    BeforeValidator(_shorthand, json_schema_input_type=str | DistributionSpec),
]
"""A distribution of durations, or a bare duration meaning a fixed value."""


def fixed(seconds: float) -> DistributionSpec:
    """A distribution that always gives ``seconds``."""
    return DistributionSpec(fixed=seconds)


def exponential(mean: float) -> DistributionSpec:
    """An exponential distribution with the given mean in seconds."""
    return DistributionSpec(exponential=Exponential(mean=mean))


def stream(seed: int, replication: int, name: str) -> np.random.Generator:
    """The random stream ``name`` of one replication, independent of all others.

    Streams are keyed by name, so a change to one part of a scenario leaves the
    draws of the other parts as they were (common random numbers).
    """
    key = zlib.crc32(name.encode("utf-8"))
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=(replication, key))
    return np.random.Generator(np.random.PCG64(sequence))


def uniform_rows(rng: np.random.Generator, count: int, width: int) -> list[list[float]]:
    """``count`` rows of ``width`` uniform draws on the open interval (0, 1)."""
    rows = rng.random((count, width))
    # Half a step up: numpy draws multiples of 2**-53 from [0, 1), and an inverse
    # CDF needs neither 0 nor 1.
    rows += 2.0**-54
    return cast(list[list[float]], rows.tolist())


def spill_draw(state: int) -> tuple[int, float]:
    """The next state of a counter-based generator, and its uniform draw on (0, 1).

    The state steps by splitmix64's increment and the draw is its finalizer of
    the new state: no generator to create, for the rare incident that needs more
    draws than its row holds.
    """
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    mixed = (state ^ (state >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
    mixed = (mixed ^ (mixed >> 27)) * 0x94D049BB133111EB & _MASK64
    mixed ^= mixed >> 31
    return state, ((mixed >> 11) + 0.5) * 2.0**-53


_MASK64 = 2**64 - 1

Uniforms = Callable[[], float]
"""A source of uniform draws on the open interval (0, 1)."""
Transform = Callable[[Uniforms], float]


def transform(spec: DistributionSpec) -> Transform:
    """Turn uniform draws into draws from ``spec`` (by its inverse CDF).

    The caller supplies the uniforms, so it decides which draw goes where: the
    engine hands each incident its own, whatever other incidents drew. Constants
    take no draw; the gamma takes two or more (Marsaglia and Tsang's method).
    """
    if spec.is_constant:
        value = spec.mean()
        return lambda uniform: value
    if spec.empirical is not None:
        values = [float(value) for value in spec.empirical]
        count, last = len(values), len(values) - 1
        return lambda uniform: values[min(int(uniform() * count), last)]
    if spec.exponential is not None:
        mean = spec.exponential.mean
        return lambda uniform: -mean * math.log1p(-uniform())
    if spec.weibull is not None:
        scale, power = spec.weibull.scale, 1.0 / spec.weibull.shape
        return lambda uniform: scale * (-math.log1p(-uniform())) ** power
    if spec.gamma is not None:
        shape, scale = spec.gamma.shape, spec.gamma.mean / spec.gamma.shape
        return lambda uniform: scale * _standard_gamma(shape, uniform)
    assert spec.lognormal is not None
    normal = NormalDist(math.log(spec.lognormal.median), spec.lognormal.log_sigma)
    quantile = normal.inv_cdf
    exp = math.exp
    return lambda uniform: exp(quantile(uniform()))


_STANDARD_NORMAL = NormalDist()


def _standard_gamma(shape: float, uniform: Uniforms) -> float:
    """A gamma draw of scale one, by Marsaglia and Tsang's rejection method."""
    boost = 1.0
    if shape < 1:
        # Gamma(a) is Gamma(a + 1) times U ** (1 / a).
        boost = uniform() ** (1.0 / shape)
        shape += 1.0

    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = _STANDARD_NORMAL.inv_cdf(uniform())
        v = 1.0 + c * x
        if v <= 0:
            continue
        v = v * v * v
        if math.log(uniform()) < 0.5 * x * x + d - d * v + d * math.log(v):
            return d * v * boost
