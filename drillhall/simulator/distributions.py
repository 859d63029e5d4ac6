"""Declared distributions of durations, and samplers that draw them in batches.

Users write one key naming the family: ``{lognormal: {median: 20m, sigma: 0.8}}``,
``{exponential: {mean: 5m}}``, ``{gamma: {shape: 2, mean: 30m}}``,
``{weibull: {shape: 1.5, scale: 30m}}``, ``{fixed: 5m}`` (or just ``5m``) or
``{empirical: [4m, 7m, 31m]}`` (each value equally likely). All are in seconds.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import Annotated, Any

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


def sampler(
    spec: DistributionSpec, rng: np.random.Generator | None
) -> Callable[[], float]:
    """One draw at a time from ``spec``; constants need no generator."""
    if spec.is_constant:
        value = spec.mean()
        return lambda: value
    if rng is None:
        raise ValueError(f"a {spec.family} distribution needs a random stream")
    return Sampler(spec, rng, block=64)


class Sampler:
    """Draws one value at a time from blocks drawn with numpy.

    NOTE: numpy's per-call overhead dwarfs one draw, so values are drawn in blocks
    and handed out from a Python list; the order of draws stays deterministic.
    """

    __slots__ = ("_block", "_buffer", "_rng", "_spec")

    def __init__(
        self, spec: DistributionSpec, rng: np.random.Generator, block: int = 512
    ) -> None:
        self._spec = spec
        self._rng = rng
        self._block = block
        self._buffer: list[float] = []

    def __call__(self) -> float:
        buffer = self._buffer
        if not buffer:
            buffer.extend(self._spec.sample(self._rng, self._block).tolist())
            buffer.reverse()
        return buffer.pop()


class UniformSampler:
    """Uniform draws on [0, 1), in blocks, for Bernoulli trials."""

    __slots__ = ("_block", "_buffer", "_rng")

    def __init__(self, rng: np.random.Generator, block: int = 1024) -> None:
        self._rng = rng
        self._block = block
        self._buffer: list[float] = []

    def __call__(self) -> float:
        buffer = self._buffer
        if not buffer:
            buffer.extend(self._rng.random(self._block).tolist())
        return buffer.pop()
