"""A drill's report: what ran, how it unfolded, how it scored, what users saw.

The report is rendered from ``DrillFacts`` only, as a self-contained HTML page
(figures as data URIs) or as Markdown with its PNG figures written beside it
(``NAME-timeline.png``, ``NAME-ttd.png`` ...). Its sections: the drill, the
timeline chart, the score with its rubric, runbook adherence, SLO impact, the
team's times within the simulator's prediction, and the events. A part that
needs the plan says so when the plan file is gone.

Events are worded and timed as the postmortem draft words and times them
(``DrillFacts.describe`` and ``DrillFacts.offset``: ``T+1:02`` from the
injection), and the error budget is the one figure ``DrillFacts.impact`` holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
from matplotlib.figure import Figure

from drillhall.drills.score import RUBRIC, DrillScore, RunbookScore, score_runbook
from drillhall.drills.timeline import DrillRecord, TimelineEvent
from drillhall.errors import InputError
from drillhall.reports.drill_events import rollback_succeeded, utc_text
from drillhall.reports.drill_facts import DrillFacts
from drillhall.reports.drill_plots import (
    PHASE_LABELS,
    prediction_figure,
    timeline_figure,
)
from drillhall.reports.render import (
    data_uri,
    duration,
    format_share,
    render,
    report_format,
    write_figure,
)
from drillhall.simulator.lifecycle import PHASE_NAMES, PHASES

logger = logging.getLogger(__name__)

SECTIONS: Final = (
    "Drill",
    "Timeline",
    "Score",
    "Runbook adherence",
    "SLO impact",
    "Against the prediction",
    "Events",
)
"""The report's section headings, in order."""

RUBRIC_RULE: Final = (
    "A phase earns its points within its expected time, falling linearly to "
    "none at twice that time; a phase that never happened earns none. The "
    "runbook earns its share of steps done in order with their checks passed; "
    "the SLO part is the share of the error budget kept and of seconds within "
    "the latency SLO."
)


@dataclass(frozen=True)
class Row:
    """One table row of text cells; ``tone`` is ``good``, ``bad`` or ``""``."""

    cells: tuple[str, ...]
    tone: str = ""


Escape = Callable[[list[Row]], list[Row]]
"""Escapes a table's cells for the output format."""


def check_can_report(record: DrillRecord) -> None:
    """Refuse to report an unannounced drill while it runs: the report would
    show its participants the fault they are meant to find."""
    if record.status == "running" and not record.details.get("announced", True):
        raise InputError(
            f"drill {record.id!r} is unannounced and still running; its report "
            "would give the fault away, so ask for it once the drill has ended",
            field="drill",
        )


def check_output(path: Path) -> str:
    """The report's format (``html`` or ``markdown``) if it can be written to
    ``path``; an ``InputError`` otherwise, before any work is done."""
    kind = report_format(path)
    if not path.parent.is_dir():
        raise InputError(
            f"the folder {str(path.parent)!r} does not exist; create it first",
            source=str(path),
        )
    return kind


def write_drill_report(facts: DrillFacts, path: Path) -> list[Path]:
    """Write the report to ``path`` (``.html`` or ``.md``); return every file
    written, the report first and then its figures (Markdown only)."""
    written = [path]
    if check_output(path) == "html":
        figures = {name: data_uri(figure) for name, figure in _figures(facts)}
        path.write_text(render_drill_html(facts, figures), encoding="utf-8")
    else:
        figures = {}
        for name, figure in _figures(facts):
            image = path.with_name(f"{path.stem}-{name}.png")
            written.append(write_figure(figure, image))
            figures[name] = image.name
        path.write_text(render_drill_markdown(facts, figures), encoding="utf-8")

    logger.info("wrote the report of drill %s to %s", facts.id, path)
    return written


def render_drill_html(facts: DrillFacts, figures: dict[str, str]) -> str:
    """The HTML page; ``figures`` maps ``timeline`` and phases to image sources."""
    return render("drill.html.j2", **report_context(facts, figures))


def render_drill_markdown(facts: DrillFacts, figures: dict[str, str]) -> str:
    """The Markdown report; ``figures`` maps names to PNG paths beside it."""
    context = report_context(facts, figures, cell=_markdown_cell)
    return render("drill.md.j2", **context)


def report_context(
    facts: DrillFacts,
    figures: dict[str, str],
    *,
    cell: Callable[[str], str] = str,
) -> dict[str, Any]:
    """Everything the templates show, as text; ``cell`` escapes table cells."""

    def rows(table: list[Row]) -> list[Row]:
        return [Row(tuple(cell(text) for text in row.cells), row.tone) for row in table]

    now = datetime.now(UTC)
    return {
        "title": f"Drill {facts.id}",
        "sections": SECTIONS,
        "generated": f"{now:%Y-%m-%d %H:%M} UTC",
        "plan_note": facts.plan_note,
        "drill": rows(_drill_rows(facts)),
        "timeline_figure": figures.get("timeline"),
        "score": _score_context(facts, rows),
        "no_score": _no_score(facts),
        "runbook": _runbook_context(facts, rows),
        "impact": rows(_impact_rows(facts)),
        "prediction": _prediction_context(facts, figures, rows),
        "events": rows(_event_rows(facts)),
        "clock": _clock_note(facts),
        "load_seconds": len(facts.load),
    }


def summary_lines(facts: DrillFacts) -> list[str]:
    """A few lines for the terminal: status, score, times, impact."""
    lines = [f"drill {facts.id} ({facts.record.plan}): {facts.record.status}"]
    if facts.points is not None:
        points, out_of = facts.points
        line = f"score {points:.1f} / {out_of:.0f}"
        if facts.score is not None:
            line += ": " + ", ".join(
                f"{RUBRIC[key][0]} {part:g}/{RUBRIC[key][1]:g}"
                for key, part in _points(facts.score).items()
            )
        else:
            line += " (as recorded by the runner)"
        lines.append(line)
    lines.append(
        "  ".join(
            f"{phase.upper()} {duration(facts.phases[phase])}" for phase in PHASES
        )
    )
    impact = facts.impact
    line = (
        f"{impact.failed} of {impact.requests} requests failed "
        f"({format_share(impact.error_rate)})"
    )
    if impact.budget_used is not None:
        line += f", {format_share(impact.budget_used)} of the error budget"
    lines.append(line)
    if facts.plan_note:
        lines.append(f"without the plan: {facts.plan_note}")
    return lines


def _figures(facts: DrillFacts) -> list[tuple[str, Figure]]:
    """The timeline, then one predicted distribution per phase that has one."""
    figures = [("timeline", timeline_figure(facts))]
    for phase in PHASES:
        figure = prediction_figure(facts, phase)
        if figure is not None:
            figures.append((phase, figure))
    return figures


# The drill


def _drill_rows(facts: DrillFacts) -> list[Row]:
    record, plan = facts.record, facts.plan
    injected = facts.of_kind("injected")
    participants = record.details.get("participants") or []
    rows = [
        Row(("drill", record.id)),
        Row(("plan", f"{record.plan} ({record.details.get('plan') or 'no file'})")),
    ]
    if plan is not None and plan.description:
        rows.append(Row(("description", plan.description.strip())))
    if plan is not None:
        rows.append(Row(("target", plan.target.name)))
    if injected:
        rows.append(Row(("fault", str(injected[0].payload.get("title", "")))))
    rows += [
        Row(("started", _clock(record.started))),
        Row(("ended", _clock(record.ended) if record.ended else "still running")),
        Row(("length", duration(_length(record)))),
        Row(
            ("status", record.status), "good" if record.status == "finished" else "bad"
        ),
        Row(("participants", ", ".join(map(str, participants)) or "none named")),
        Row(("announced", "yes" if record.details.get("announced", True) else "no")),
    ]
    tripped = [
        str(e.payload.get("why", "")) for e in facts.of_kind("guardrail_tripped")
    ]
    rows.append(
        Row(
            ("guardrails", "; ".join(tripped) or "none tripped"),
            "bad" if tripped else "",
        )
    )
    rows.append(_rollback_row(facts))
    return rows


def _rollback_row(facts: DrillFacts) -> Row:
    if facts.record.rollback_pending:
        return Row(("rollback", "owed: run `drillhall drill recover`"), "bad")
    done = facts.of_kind("rolled_back")
    if not done:
        return Row(("rollback", "none recorded"))
    succeeded = rollback_succeeded(done[-1])
    if succeeded:
        return Row(("rollback", "done, the steady state holds again"), "good")
    if succeeded is None:
        return Row(("rollback", "finished; its outcome was not recorded"))
    return Row(("rollback", "ran but did not succeed"), "bad")


def _length(record: DrillRecord) -> float | None:
    if record.ended is None:
        return None
    return (record.ended - record.started).total_seconds()


# The score


def _score_context(facts: DrillFacts, rows: Escape) -> dict[str, Any] | None:
    score = facts.score
    if score is None:
        return None
    table: list[Row] = []
    for phase, part in score.phases.items():
        name, out_of = RUBRIC[phase]
        table.append(
            Row(
                (
                    f"{name} ({phase.upper()})",
                    duration(part.seconds),
                    f"within {duration(part.expected)}" if part.expected else "–",
                    f"{part.points:g}",
                    f"{out_of:g}",
                ),
                _tone(part.points, out_of),
            )
        )
    runbook, slo = score.runbook, score.slo
    budget_used = facts.impact.budget_used  # the score's own figure, see Impact
    table.append(
        Row(
            (
                "runbook",
                f"{len(runbook.done)} of {runbook.steps} steps done",
                "every step, in order, checks passed",
                f"{runbook.points:g}",
                f"{runbook.out_of:g}",
            ),
            _tone(runbook.points, runbook.out_of),
        )
    )
    table.append(
        Row(
            (
                "SLO",
                f"{format_share(budget_used)} of the error budget",
                "within the error budget and latency SLO",
                f"{slo.points:g}",
                f"{slo.out_of:g}",
            ),
            _tone(slo.points, slo.out_of),
        )
    )
    return {
        "points": f"{score.points:.1f}",
        "out_of": f"{score.out_of:g}",
        "rows": rows(table),
        "rule": RUBRIC_RULE,
        "guardrails": score.guardrails_tripped,
    }


def _no_score(facts: DrillFacts) -> str:
    """Why the drill has no score."""
    if facts.plan is None:
        return "it needs the plan's expectations, runbook and SLOs"
    if "injected" not in facts.times:
        return "the drill injected no fault, so there was nothing to score"
    return "the plan no longer resolves into the run it scored (a warning says why)"


def _points(score: DrillScore) -> dict[str, float]:
    """Points per part of the rubric, keyed as ``RUBRIC`` is."""
    points = {phase: part.points for phase, part in score.phases.items()}
    points["runbook"] = score.runbook.points
    points["slo"] = score.slo.points
    return points


def _tone(points: float, out_of: float) -> str:
    if points >= out_of:
        return "good"
    return "bad" if points <= 0.5 * out_of else ""


# Runbook adherence


def _runbook_context(facts: DrillFacts, rows: Escape) -> dict[str, Any]:
    titles = facts.step_titles
    known = facts.plan is not None
    adherence = (
        facts.score.runbook if facts.score else score_runbook(facts.events, len(titles))
    )

    summary = [
        Row(("steps in the runbook", str(adherence.steps) if known else "unknown")),
        Row(("done", _numbers(adherence.done))),
        Row(("skipped", _numbers(adherence.skipped))),
        Row(
            ("missing", _numbers(adherence.missing) if known else "unknown"),
            "bad" if adherence.missing else "",
        ),
        Row(
            ("out of order", _numbers(adherence.out_of_order)),
            "bad" if adherence.out_of_order else "",
        ),
        Row(
            ("checks failed", _numbers(adherence.checks_failed)),
            "bad" if adherence.checks_failed else "",
        ),
    ]
    return {
        "summary": rows(summary),
        "steps": rows(_step_rows(facts, adherence, titles)),
    }


def _step_rows(
    facts: DrillFacts, adherence: RunbookScore, titles: dict[int, str]
) -> list[Row]:
    marks: dict[int, TimelineEvent] = {}
    for mark in facts.of_kind("runbook_step"):
        marks.setdefault(int(mark.payload.get("step", 0)), mark)
    numbers = sorted(set(titles) | set(marks))

    table = []
    for number in numbers:
        event = marks.get(number)
        if number in adherence.skipped:
            status, tone = "skipped", ""
        elif number in adherence.done:
            status, tone = "done", "good"
        else:
            status, tone = "missing", "bad"
        if number in adherence.out_of_order:
            status, tone = f"{status}, out of order", "bad"
        check = _check_text(event.payload if event else None)
        if check == "failed":
            tone = "bad"
        seconds = adherence.seconds_per_step.get(number)
        table.append(
            Row(
                (
                    str(number),
                    titles.get(number, "(not in the plan's runbook)"),
                    status,
                    check,
                    duration(seconds),
                    facts.offset(event.at) if event else "–",
                    str(event.payload.get("by") or event.source) if event else "–",
                ),
                tone,
            )
        )
    return table


def _check_text(payload: dict[str, Any] | None) -> str:
    if payload is None or "check" not in payload:
        return "–"
    return "passed" if payload["check"] else "failed"


def _numbers(values: list[int]) -> str:
    return ", ".join(str(value) for value in values) or "none"


# SLO impact


def _impact_rows(facts: DrillFacts) -> list[Row]:
    impact = facts.impact
    users = f" by {impact.users} simulated users" if impact.users else ""
    rows = [
        Row(("requests sent", f"{impact.requests}{users}")),
        Row(
            ("requests failed", f"{impact.failed} ({format_share(impact.error_rate)})"),
            "bad" if impact.failed else "good",
        ),
    ]
    if impact.availability is not None:
        breached = impact.budget_used is not None and impact.budget_used > 1
        slo = f"{100 * impact.availability:g}% availability"
        used = format_share(impact.budget_used) + (" (over budget)" if breached else "")
        rows.append(
            Row((f"error budget used ({slo})", used), "bad" if breached else "good")
        )
    else:
        rows.append(Row(("error budget used", "no availability SLO known")))
    rows += [
        Row(
            ("worst minute's error rate", format_share(impact.worst_minute_error_rate))
        ),
        Row(("impact window (injection to mitigation)", _window(facts))),
        Row(("p95 latency during the fault", _milliseconds(impact.latency_p95_ms))),
    ]
    if impact.latency_below_ms is not None:
        within = impact.latency_within_slo
        label = (
            f"seconds within the latency SLO (p95 below {impact.latency_below_ms:g} ms)"
        )
        tone = "good" if within == 1 else "bad" if within is not None else ""
        rows.append(Row((label, format_share(within)), tone))
    return rows


def _window(facts: DrillFacts) -> str:
    impact = facts.impact
    if impact.started is None:
        return "no fault was injected"
    if impact.ended is None:
        return "never mitigated"
    return duration(impact.window_seconds)


def _milliseconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} ms"


# The prediction


def _prediction_context(
    facts: DrillFacts, figures: dict[str, str], rows: Escape
) -> dict[str, Any] | None:
    if not facts.predicted:
        return None
    count = max(len(values) for values in facts.predicted.values())
    expected = (
        {phase: part.expected for phase, part in facts.score.phases.items()}
        if facts.score
        else {}
    )
    table = []
    images = []
    for phase in PHASES:
        durations = facts.predicted.get(phase)
        if durations is None or not len(durations):
            continue
        median, p90 = np.percentile(durations, [50, 90])
        percentile = facts.percentiles.get(phase)
        table.append(
            Row(
                (
                    PHASE_LABELS[phase],
                    duration(facts.phases.get(phase)),
                    duration(expected.get(phase)),
                    duration(float(median)),
                    duration(float(p90)),
                    "–" if percentile is None else f"{percentile:.0f}",
                )
            )
        )
        if phase in figures:
            images.append((f"{phase.upper()}: {PHASE_NAMES[phase]}", figures[phase]))
    return {
        "described": facts.predicted_for or "the plan's fault",
        "count": count,
        "rows": rows(table),
        "images": images,
    }


# Events


def _event_rows(facts: DrillFacts) -> list[Row]:
    """Every event but the load's seconds (drawn in the timeline), worded as
    the postmortem words them."""
    return [
        Row(
            (
                utc_text(event.at),
                facts.offset(event.at),
                event.source,
                facts.describe(event),
            ),
            "bad" if event.kind == "guardrail_tripped" else "",
        )
        for event in facts.events
        if event.kind != "load_stats"
    ]


# Text


def _clock_note(facts: DrillFacts) -> str:
    """Where the fault's clock starts, as the postmortem says it."""
    zero = (
        "the injection"
        if "injected" in facts.times
        else "the drill's start (no fault was injected)"
    )
    return f"T+ counts from {zero} at {_clock(facts.origin)}"


def _clock(moment: datetime) -> str:
    return f"{utc_text(moment)} UTC"


def _markdown_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
