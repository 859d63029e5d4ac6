"""Distributions drawn from given uniforms keep their declared shape."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from drillhall.simulator.distributions import (
    DistributionSpec,
    spill_draw,
    stream,
    transform,
    uniform_rows,
)
from drillhall.simulator.state import Incident

DRAWS = 20_000


def counted(values: list[float]) -> tuple[list[int], object]:
    """A source of the given uniforms that counts how many were taken."""
    taken = [0]
    remaining = list(reversed(values))

    def uniform() -> float:
        taken[0] += 1
        return remaining.pop()

    return taken, uniform


def drawn(spec: dict, seed: int = 3) -> np.ndarray:
    uniforms = stream(seed, 0, "test").random(4 * DRAWS) + 2.0**-54
    _, uniform = counted(uniforms.tolist())
    draw = transform(DistributionSpec.model_validate(spec))
    return np.array([draw(uniform) for _ in range(DRAWS)])


@pytest.mark.parametrize(
    ("spec", "reference"),
    [
        ({"exponential": {"mean": 300}}, stats.expon(scale=300)),
        (
            {"lognormal": {"median": 120, "sigma": 0.8}},
            stats.lognorm(0.8, scale=120),
        ),
        (
            {"weibull": {"shape": 1.5, "scale": 3600}},
            stats.weibull_min(1.5, scale=3600),
        ),
        ({"gamma": {"shape": 2, "mean": 1200}}, stats.gamma(2, scale=600)),
        ({"gamma": {"shape": 0.5, "mean": 60}}, stats.gamma(0.5, scale=120)),
    ],
)
def test_transformed_uniforms_follow_the_declared_distribution(spec, reference):
    values = drawn(spec)

    assert stats.kstest(values, reference.cdf).pvalue > 0.001
    assert values.mean() == pytest.approx(reference.mean(), rel=0.05)


def test_empirical_values_are_equally_likely_and_constants_take_no_draw():
    values = drawn({"empirical": [60, 120, 120, 600]})
    shares = [np.mean(values == value) for value in (60, 120, 600)]
    assert shares == pytest.approx([0.25, 0.5, 0.25], abs=0.02)

    taken, uniform = counted([0.5])
    assert transform(DistributionSpec.model_validate({"fixed": 90}))(uniform) == 90
    assert taken == [0]


def test_inverse_cdf_maps_one_uniform_to_one_value():
    """The same uniform gives the same quantile, so answers can be paired."""
    exponential = transform(
        DistributionSpec.model_validate({"exponential": {"mean": 60}})
    )
    median = exponential(lambda: 0.5)
    assert median == pytest.approx(60 * np.log(2))
    assert exponential(lambda: 0.9) > median


def test_uniform_rows_lie_strictly_between_zero_and_one():
    rows = uniform_rows(stream(1, 2, "rows"), 500, 17)
    values = np.array(rows)

    assert values.shape == (500, 17)
    assert values.min() > 0 and values.max() < 1
    assert stats.kstest(values.ravel(), "uniform").pvalue > 0.001
    assert rows == uniform_rows(stream(1, 2, "rows"), 500, 17)


def test_an_incident_goes_on_drawing_past_its_row():
    incident = Incident(0, 0, 0.0, 0.0, "test", 0.0, 0.0, 0.0, None)  # type: ignore[arg-type]
    incident.uniforms = [0.25, 0.75]
    incident.spill = 12345

    first = [incident.uniform() for _ in range(2)]
    spilled = [incident.uniform() for _ in range(DRAWS)]

    assert first == [0.75, 0.25]
    assert spilled[0] == spill_draw(12345)[1]
    assert len(set(spilled)) == DRAWS
    assert 0 < min(spilled) and max(spilled) < 1
    assert stats.kstest(spilled, "uniform").pvalue > 0.001
