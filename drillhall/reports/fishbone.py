"""The fishbone (Ishikawa) diagram of a postmortem's contributing causes.

The effect sits at the fish's head on the right; six bones, one per category
of cause, run into the spine: people, process and tooling above, platform,
dependencies and monitoring below. Each bone lists its causes; a bone the data
says nothing about reads "to be written by the author", so the picture shows
what is still open rather than looking complete.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Mapping, Sequence
from typing import Final

from matplotlib.axes import Axes
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

CATEGORIES: Final = (
    "people",
    "process",
    "tooling",
    "platform",
    "dependencies",
    "monitoring",
)
"""The categories of contributing causes, in the order the bones are drawn."""

EMPTY_BONE: Final = "to be written by the author"

_CAUSES_SHOWN: Final = 4
_WRAP: Final = 34
_BONE_RISE: Final = 2.6
_BONE_RUN: Final = 1.5
_BONE_AT: Final = (3.4, 6.7, 10.0)
_SPINE_END: Final = 10.6
_INK: Final = "#1d2433"
_MUTED: Final = "#8a92a3"
_ACCENT: Final = "#2d5fa8"


def fishbone_figure(effect: str, causes: Mapping[str, Sequence[str]]) -> Figure:
    """The diagram of ``causes`` (category → causes) leading to ``effect``.

    Categories outside ``CATEGORIES`` are not drawn; at most four causes show
    per bone, with a count of the rest.
    """
    unknown = set(causes) - set(CATEGORIES)
    if unknown:
        logger.warning("fishbone: categories not drawn: %s", ", ".join(sorted(unknown)))

    figure = Figure(figsize=(13.5, 6.2))
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.set_xlim(0, 13.5)
    axes.set_ylim(-3.4, 3.4)
    axes.set_axis_off()

    _draw_spine(axes, effect)
    for index, category in enumerate(CATEGORIES):
        above = index < 3
        joint = _BONE_AT[index % 3]
        _draw_bone(axes, category, list(causes.get(category, ())), joint, above)
    return figure


def _draw_spine(axes: Axes, effect: str) -> None:
    axes.annotate(
        "",
        xy=(_SPINE_END + 0.05, 0),
        xytext=(0.4, 0),
        arrowprops={"arrowstyle": "-|>", "color": _INK, "linewidth": 2.2},
    )
    axes.text(
        _SPINE_END + 0.15,
        0,
        textwrap.fill(effect, 22),
        ha="left",
        va="center",
        fontsize=10.5,
        fontweight="bold",
        color=_INK,
        bbox={"boxstyle": "round,pad=0.5", "facecolor": "#fdecea", "edgecolor": _INK},
    )


def _draw_bone(
    axes: Axes, category: str, causes: list[str], joint: float, above: bool
) -> None:
    sign = 1 if above else -1
    top = (joint - _BONE_RUN, sign * _BONE_RISE)
    axes.plot([joint, top[0]], [0, top[1]], color=_ACCENT, linewidth=1.6)
    axes.text(
        top[0],
        top[1] + sign * 0.22,
        category.capitalize(),
        ha="center",
        va="bottom" if above else "top",
        fontsize=11,
        fontweight="bold",
        color=_ACCENT,
    )

    shown = causes[:_CAUSES_SHOWN]
    if len(causes) > _CAUSES_SHOWN:
        shown.append(f"… and {len(causes) - _CAUSES_SHOWN} more")
    if not shown:
        _draw_cause(axes, EMPTY_BONE, joint, 0.55, sign, empty=True)
        return
    for number, cause in enumerate(shown):
        # Spread the causes evenly along the bone, the first nearest its tip.
        share = 0.88 - number * (0.7 / max(len(shown), 1))
        _draw_cause(axes, cause, joint, share, sign, empty=False)


def _draw_cause(
    axes: Axes, text: str, joint: float, share: float, sign: int, *, empty: bool
) -> None:
    x = joint - _BONE_RUN * share
    y = sign * _BONE_RISE * share
    axes.plot([x - 0.3, x], [y, y], color=_MUTED, linewidth=1.0)
    axes.text(
        x - 0.36,
        y,
        textwrap.fill(text, _WRAP),
        ha="right",
        va="center",
        fontsize=8,
        color=_MUTED if empty else _INK,
        fontstyle="italic" if empty else "normal",
        linespacing=1.1,
    )
