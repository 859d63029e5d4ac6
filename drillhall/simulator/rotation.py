"""Rotations as declared: layers of members taking turns, restrictions, overrides.

These are the validated shapes of the scenario file. Who is on call at an instant
is computed from them by ``drillhall.simulator.oncall``.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Literal

from pydantic import Field, model_validator

from drillhall.simulator.fields import (
    PositiveDuration,
    StrictModel,
    TimeOfDay,
    TimeZone,
    Weekday,
    Window,
)


class Layer(StrictModel):
    """Members who take turns, one at a time, hand-off after hand-off.

    ``daily`` and ``weekly`` turns, and ``custom`` turns whose ``length`` is a whole
    number of days, hand off at the same local wall-clock time across daylight-saving
    changes. A ``custom`` length in hours counts elapsed time from the first hand-off.
    Outside its ``restrictions`` (when it has any) the layer has nobody on call.
    """

    name: str | None = None
    members: list[str] = Field(min_length=1)
    type: Literal["daily", "weekly", "custom"] = "weekly"
    length: PositiveDuration | None = None
    handoff: TimeOfDay = time(9, 0)
    handoff_day: Weekday | None = Field(
        default=None,
        description="weekly layers: the weekday of the hand-off (default: start's)",
    )
    start: date | datetime | None = Field(
        default=None,
        description="when the first member's first turn begins (default: the "
        "scenario's start date at the hand-off time)",
    )
    restrictions: list[Window] = []

    @model_validator(mode="after")
    def _length_matches_type(self) -> Layer:
        if self.type == "custom" and self.length is None:
            raise ValueError("a custom layer needs a 'length' such as '3d' or '12h'")
        if self.type != "custom" and self.length is not None:
            raise ValueError(
                f"'length' applies to custom layers only; this layer is {self.type}"
            )
        if self.type != "weekly" and self.handoff_day is not None:
            raise ValueError(
                f"'handoff_day' applies to weekly layers only; this layer is "
                f"{self.type} (drop it, or make the layer weekly)"
            )
        return self


class Override(StrictModel):
    """A person covers the rotation from one instant to another; overrides win."""

    person: str
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")

    @model_validator(mode="after")
    def _ends_after_start(self) -> Override:
        if self.end <= self.start:
            raise ValueError(
                f"an override must end after it starts ({self.start} .. {self.end})"
            )
        return self


class Rotation(StrictModel):
    """A schedule: layers in local time, the later layer winning where it has cover.

    As in PagerDuty, the last layer listed takes precedence over earlier ones
    wherever it has somebody on call, and overrides take precedence over all layers.
    Naive datetimes (layer starts, overrides) are read in the rotation's time zone.
    """

    timezone: TimeZone = "UTC"
    layers: list[Layer] = Field(min_length=1)
    overrides: list[Override] = []
