"""What participants type during a drill, read into timeline events.

``drillhall drill event DRILL WORDS…`` is run by people in their own terminals
while the drill runs; ``participant_event`` turns the words into an event kind
and payload for ``Timeline.record``:

====================  ============  ===============================
words                 kind          payload
====================  ============  ===============================
``ack``               acknowledged  ``{}``
``step 3 done``       runbook_step  ``{"step": 3, "status": "done"}``
``step 3 skipped``    runbook_step  ``{"step": 3, "status": "skipped"}``
``note TEXT…``        note          ``{"text": "TEXT…"}``
``mitigated``         mitigated     ``{}``
``resolved``          resolved      ``{}``
====================  ============  ===============================

Keywords are read without regard to case; the words may also come as one quoted
argument (``"step 3 done"``).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from typing import Any, Final

from drillhall.errors import InputError

logger = logging.getLogger(__name__)

ACCEPTED: Final = "ack, step N done, step N skipped, note TEXT, mitigated, resolved"
STEP_STATUSES: Final = ("done", "skipped")
NOTE_LIMIT: Final = 2000

_SINGLE_WORDS: Final = {
    "ack": "acknowledged",
    "mitigated": "mitigated",
    "resolved": "resolved",
}
_KEYWORDS: Final = (*_SINGLE_WORDS, "step", "note")


def participant_event(words: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """The ``(kind, payload)`` that a participant's words describe.

    Anything else raises an ``InputError`` of one line that lists what is
    accepted.
    """
    keyword, rest = ([*" ".join(words).split(maxsplit=1), "", ""])[:2]
    keyword = keyword.lower()

    if keyword in _SINGLE_WORDS:
        if rest.strip():
            raise _error(f"{keyword!r} takes no more words, got {rest.strip()!r}")
        return _SINGLE_WORDS[keyword], {}

    if keyword == "step":
        return "runbook_step", _step(rest.split())

    if keyword == "note":
        return "note", {"text": _note(rest.strip())}

    if not keyword:
        raise _error("say what happened")
    close = difflib.get_close_matches(keyword, _KEYWORDS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise _error(f"unknown drill event {keyword!r}{hint}")


def _step(words: list[str]) -> dict[str, Any]:
    if len(words) != 2:
        raise _error(
            f"'step' takes a number and done or skipped, got {' '.join(words)!r}"
        )
    number, status = words[0], words[1].lower()

    if not (number.isascii() and number.isdigit()) or int(number) < 1:
        raise _error(f"step number {number!r} must be a whole number from 1")

    if status not in STEP_STATUSES:
        raise _error(f"step status {status!r} must be done or skipped")

    return {"step": int(number), "status": status}


def _note(text: str) -> str:
    if not text:
        raise _error("'note' needs text after it, e.g. note the replica lags")
    if len(text) > NOTE_LIMIT:
        raise _error(
            f"the note is {len(text)} characters long; keep it under {NOTE_LIMIT}"
        )
    return text


def _error(problem: str) -> InputError:
    return InputError(f"{problem}; accepted: {ACCEPTED}", source="drill event")
