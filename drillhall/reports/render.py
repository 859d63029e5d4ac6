"""Rendering shared by every report: Jinja2 templates, figures, files.

HTML reports are self-contained: styles are inline and figures are PNG data
URIs, so a report opens anywhere without a network. Markdown reports (for pull
requests and postmortems) link their figures as PNG files written beside them.
Figures are ``matplotlib.figure.Figure`` objects made directly, never through
pyplot: no display, no global state.
"""

from __future__ import annotations

import base64
import io
import logging
import math
from pathlib import Path
from typing import Any

import jinja2
from matplotlib.figure import Figure

from drillhall.errors import InputError
from drillhall.simulator.durations import format_duration

logger = logging.getLogger(__name__)

DPI = 110


def environment() -> jinja2.Environment:
    """The template environment: HTML is autoescaped, Markdown is not."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("drillhall.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["duration"] = duration
    env.filters["share"] = format_share
    return env


def render(template: str, **context: Any) -> str:
    """Render one template of ``drillhall/reports/templates``."""
    return environment().get_template(template).render(**context)


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def data_uri(figure: Figure) -> str:
    """A figure as a PNG data URI, for an ``<img>`` in a self-contained page."""
    encoded = base64.b64encode(png_bytes(figure)).decode("ascii")
    return f"data:image/png;base64,{encoded}"


def write_figure(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(figure))
    logger.info("wrote %s", path)
    return path


def report_format(path: Path) -> str:
    """``html`` or ``markdown``, from the file name's suffix."""
    suffix = path.suffix.lower()
    if suffix in {".html", ".htm"}:
        return "html"
    if suffix in {".md", ".markdown"}:
        return "markdown"
    raise InputError(
        f"cannot tell the report's format from {path.name!r}: "
        "name it .html (a self-contained page) or .md (Markdown)",
        source=str(path),
    )


def duration(seconds: float | None) -> str:
    """Seconds for a report: ``12m30s``, or a dash when there is no value."""
    if seconds is None:
        return "–"
    return format_duration(seconds).replace("-", "–")


def format_share(value: float | None, digits: int = 1) -> str:
    """A share as a percentage: 0.0312 → 3.1%."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        # A budget of nothing (an SLO of 100%) is used up infinitely by any error.
        return "∞" if value > 0 else "-∞"
    return f"{100 * value:.{digits}f}%"
