"""``--set PATH=VALUE`` overrides: "what if" changes to a scenario's data.

An override names a place in the scenario's YAML data with a path of dotted keys
and list indices (``escalation.checkout.levels[0].delay``, ``["key.with.dots"]``)
and changes it before validation, so the scenario's own checks judge the result:

- ``PATH=VALUE`` sets a key (existing or new) or replaces a list item;
- ``PATH+=VALUE`` appends to a list (every item, when VALUE is a list) or adds to
  a number;
- ``PATH-=VALUE`` removes an item from a list (every item, when VALUE is a list)
  or subtracts from a number.

VALUE is read as YAML, as the scenario file is: ``10m`` is text, ``3`` a number,
``[a, b]`` a list and ``{fixed: 5m}`` a mapping. Every problem is an ``InputError``
from ``--set`` that names the override, the part of the path that failed and why.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import yaml

from drillhall.errors import InputError
from drillhall.simulator.scenario import Path

Operator = Literal["=", "+=", "-="]

EXPECTED = "expected PATH=VALUE, PATH+=VALUE or PATH-=VALUE"

# A plain key is anything but whitespace, quotes and the characters that separate
# path steps or start an operator; a dash is allowed inside it (``follow-the-sun``)
# but not at its end, where it would start ``-=``.
_PLAIN_CHARACTER = r"[^\s.\[\]\"'=+-]"
_PLAIN_KEY = rf"{_PLAIN_CHARACTER}+(?:-+{_PLAIN_CHARACTER}+)*"
_QUOTED_KEY = r"\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'"
_STEP = re.compile(
    rf"""
    (?P<dot>\.)?(?P<key>{_PLAIN_KEY})
    | \[\s*(?P<index>-?\d+)\s*\]
    | \[\s*(?P<quoted>{_QUOTED_KEY})\s*\]
    """,
    re.VERBOSE | re.DOTALL,
)
_OPERATOR = re.compile(r"\s*(\+=|-=|=)")
_PLAIN = re.compile(_PLAIN_KEY)

# Characters a YAML double-quoted key may hold as they are (printable, and not a
# line break); the others are escaped, so a formatted path reads back the same.
_VERBATIM = re.compile(
    "[\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


@dataclass(frozen=True, slots=True)
class Override:
    """One ``--set``: change the value at ``path`` with ``operator`` and ``value``.

    ``text`` is the override as the user wrote it, for error messages; when it is
    not given, it is written from the other fields.
    """

    path: Path
    operator: Operator
    value: Any
    text: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.text:
            written = f"{format_override_path(self.path)}{self.operator}"
            object.__setattr__(self, "text", written + _format_value(self.value))

    def __str__(self) -> str:
        return self.text

    def error(self, message: str) -> InputError:
        """An error about this override: ``--set: TEXT: message``."""
        return InputError(message, source="--set", field=self.text)


def parse_override(text: str) -> Override:
    """Read ``PATH=VALUE``, ``PATH+=VALUE`` or ``PATH-=VALUE``."""
    if "=" not in text:
        raise InputError(EXPECTED, source="--set", field=text)

    path, operator = _parse_path(text)

    value_text = text[operator.end() :]
    try:
        value = yaml.safe_load(value_text)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or "it cannot be read"
        raise InputError(
            f"the value {value_text.strip()!r} is not valid YAML ({problem}); "
            "put quotes around text that YAML would misread",
            source="--set",
            field=text,
        ) from None

    return Override(path, cast(Operator, operator[1]), value, text)


def _parse_path(text: str) -> tuple[Path, re.Match[str]]:
    """The path at the start of ``text`` and the operator after it."""
    path: list[str | int] = []
    position = len(text) - len(text.lstrip())

    while (operator := _OPERATOR.match(text, position)) is None:
        step = _STEP.match(text, position)
        if step is None or (
            step["key"] is not None and bool(step["dot"]) != bool(path)
        ):
            raise _unreadable_path(text, position)
        if step["key"] is not None:
            path.append(step["key"])
        elif step["index"] is not None:
            path.append(int(step["index"]))
        else:
            path.append(_unquote(text, step["quoted"], position))
        position = step.end()

    if not path:
        raise InputError(
            f"the path before '=' is empty; {EXPECTED}", source="--set", field=text
        )
    return tuple(path), operator


def _unquote(text: str, quoted: str, position: int) -> str:
    try:
        return str(yaml.safe_load(quoted))  # a quoted YAML scalar is always text
    except yaml.YAMLError:
        raise _unreadable_path(text, position) from None


def _unreadable_path(text: str, position: int) -> InputError:
    return InputError(
        f"cannot read the path at {text[position:]!r}: a path is keys joined by "
        "'.', with [N] for a list item and [\"a.b\"] for a key with dots",
        source="--set",
        field=text,
    )


def format_override_path(path: Path) -> str:
    """``path`` as ``parse_override`` reads it, quoting keys that need it."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{_quote(part)}]"
    return text


def _quote(key: str) -> str:
    escaped = "".join(
        character
        if _VERBATIM.fullmatch(character) and character not in '"\\'
        else _escape(character)
        for character in key
    )
    return f'"{escaped}"'


def _escape(character: str) -> str:
    code = ord(character)
    if character in '"\\':
        return "\\" + character
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _format_value(value: Any) -> str:
    """``value`` as YAML on one line."""
    text = _dump(value, readable=True)

    # NOTE: PyYAML writes line breaks such as U+0085 unescaped when it may write
    # Unicode, and reads them back as spaces; then escape everything instead.
    if yaml.safe_load(text) != value:
        text = _dump(value, readable=False)
    return text


def _dump(value: Any, *, readable: bool) -> str:
    text = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=readable, width=2**31 - 1
    )
    return text.removesuffix("\n").removesuffix("\n...")


def apply_overrides(
    data: dict[str, Any], overrides: Iterable[Override]
) -> dict[str, Any]:
    """A copy of ``data`` with ``overrides`` applied in order; ``data`` is unchanged."""
    return OverriddenData.apply(data, overrides).data


@dataclass(frozen=True, slots=True)
class OverriddenData:
    """Data after overrides, and the place each override changed.

    ``changed`` pairs each override with its path in ``data``, negative indices
    resolved; for ``+=`` and ``-=`` on a list, the path of the whole list.
    """

    data: dict[str, Any]
    changed: tuple[tuple[Path, Override], ...]

    @classmethod
    def apply(
        cls, data: dict[str, Any], overrides: Iterable[Override]
    ) -> OverriddenData:
        """Apply ``overrides`` in order to a copy of ``data``."""
        result = copy.deepcopy(data)
        changed = tuple((_apply(result, override), override) for override in overrides)
        return cls(result, changed)

    def override_at(self, path: Path) -> Override | None:
        """The last override whose change holds ``path``, if any."""
        for place, override in reversed(self.changed):
            if path[: len(place)] == place:
                return override
        return None

    def __contains__(self, path: object) -> bool:
        """Whether ``path`` (a tuple of keys and indices) leads to a value."""
        if not isinstance(path, tuple):
            return False
        node: Any = self.data
        for part in path:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif (
                isinstance(node, list)
                and isinstance(part, int)
                and -len(node) <= part < len(node)
            ):
                node = node[part]
            else:
                return False
        return True


def _apply(data: dict[str, Any], override: Override) -> Path:
    """Change ``data`` in place; return the path that changed."""
    if not override.path:
        raise override.error(f"the path is empty; {EXPECTED}")

    *parents, last = override.path
    container: Any = data
    place: list[str | int] = []
    for part in parents:
        resolved = _resolve(container, part, tuple(place), override)
        container = container[resolved]
        place.append(resolved)

    if override.operator == "=":
        if isinstance(container, dict) and isinstance(last, str):
            # A new key is allowed here: validation names it if it is unknown.
            container[last] = copy.deepcopy(override.value)
            return (*place, last)
        index = _resolve(container, last, tuple(place), override, setting=True)
        container[index] = copy.deepcopy(override.value)
        return (*place, index)

    key = _resolve(container, last, tuple(place), override)
    container[key] = _combine(container[key], (*place, key), override)
    return (*place, key)


def _resolve(
    container: Any,
    part: str | int,
    place: Path,
    override: Override,
    *,
    setting: bool = False,
) -> Any:
    """The key or non-negative index that ``part`` names in ``container``.

    ``setting`` says ``part`` is the item that ``=`` replaces: an index past the
    end then suggests appending instead.
    """
    name = _name(place)

    if isinstance(container, dict):
        if isinstance(part, int):
            message = f"{name} is a mapping, not a list; name one of its keys"
            if container:
                first = str(next(iter(container)))
                message += f", e.g. {format_override_path((*place, first))}"
            raise override.error(message)
        if part not in container:
            raise override.error(_no_key(part, container, place))
        return part

    if isinstance(container, list):
        if isinstance(part, str):
            raise override.error(
                f"{name} is a list, not a mapping; pick an item first, e.g. "
                f"{format_override_path((*place, 0, part))}"
            )
        if not -len(container) <= part < len(container):
            message = _out_of_range(name, len(container))
            if setting:
                value = _format_value(override.value)
                message += (
                    f"; to add an item, write {format_override_path(place)}+={value}"
                )
            raise override.error(message)
        return part % len(container)

    raise override.error(
        f"{name} is {_describe(container)}, not a mapping or a list; there is nothing "
        f"inside it (set {format_override_path(place)} itself instead)"
    )


def _combine(current: Any, target: Path, override: Override) -> Any:
    """``current`` with ``override.value`` appended, removed, added or subtracted."""
    name = _name(target)
    value = override.value
    adding = override.operator == "+="

    if isinstance(current, list):
        items = value if isinstance(value, list) else [value]
        if adding:
            return [*current, *copy.deepcopy(items)]
        remaining = list(current)
        for item in items:
            if item not in remaining:
                holds = _listing([_show(each) for each in current]) or "nothing"
                raise override.error(
                    f"{_show(item)} is not in {name}: it holds {holds}"
                )
            remaining.remove(item)
        return remaining

    if _is_number(current):
        if not _is_number(value):
            raise override.error(
                f"{name} is the number {_show(current)}, so {override.operator} "
                f"needs a number, not {_show(value)}"
            )
        return current + value if adding else current - value

    raise override.error(
        f"{name} is {_describe(current)}, not a list or a number; {override.operator} "
        f"works on lists and numbers (use = to replace the value)"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _no_key(key: str, mapping: dict[Any, Any], place: Path) -> str:
    where = f"in {_name(place)}" if place else "at the top level"
    keys = [str(existing) for existing in mapping]
    close = difflib.get_close_matches(key, keys, n=1)
    if close:
        return f"no key {key!r} {where}; did you mean {close[0]!r}?"
    if not keys:
        return f"no key {key!r} {where}, which is empty"
    return f"no key {key!r} {where}; it has {_listing([repr(k) for k in keys])}"


def _out_of_range(name: str, length: int) -> str:
    if length == 0:
        return f"{name} has no items"
    if length == 1:
        return f"{name} has 1 item (index 0)"
    return f"{name} has {length} items (indices 0-{length - 1})"


def _name(place: Path) -> str:
    """How messages call the value at ``place``: its last key and any indices."""
    if not place:
        return "the top level"
    keys = [index for index, part in enumerate(place) if isinstance(part, str)]
    start = keys[-1] if keys else 0
    return format_override_path(place[start:])


def _listing(shown: Sequence[str], limit: int = 8) -> str:
    text = ", ".join(shown[:limit])
    if len(shown) > limit:
        return f"{text}, … ({len(shown)} in all)"
    return text


def _show(value: Any) -> str:
    """A value in a message: text quoted, anything else as YAML."""
    return repr(value) if isinstance(value, str) else _format_value(value)


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return _show(value)
