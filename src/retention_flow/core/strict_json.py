"""One JSON rule for every door and every JSON column: interoperable JSON only.

RFC 8259 leaves room that breaks other parsers; I-JSON (RFC 7493) closes it. Refused
here, with the path of the offending value:

- ``NaN``, ``Infinity``, ``-Infinity`` (Python's json reads and writes them; nothing
  else does, and a response carrying one cannot be rendered), and numbers that only
  parse as an infinity (``1e400``);
- strings or object keys holding a lone surrogate (not encodable as UTF-8);
- integers beyond +/-(2**53 - 1) (other parsers lose their precision);
- duplicate keys in one object (which one wins depends on the parser);
- object keys that are not strings, and values that are not JSON at all (datetime,
  set...), which would change or fail on the way through the database.

``check`` walks a value, ``loads`` parses text strictly (malformed text answers the line
and column), ``dumps`` is the one encoder (the database engine's ``json_serializer``),
and ``scrub`` replaces what is refused by ``null`` (repairs, machine readings). A value
stored before this rule (or behind its back) reads back as it is, so audit hashes still
verify; answers render it as ``null`` and ``retention-flow doctor`` repairs such rows.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import ValidationFailed

#: Largest integer every JSON parser holds exactly (IEEE 754 double).
MAX_SAFE_INT = 2**53 - 1
#: At most this many problems are listed in one answer.
MAX_ERRORS = 20


class JsonRefused(ValidationFailed):
    """A value is not interoperable JSON; ``errors`` lists ``{"field", "message"}`` (and
    ``line``/``column`` for malformed text). Its code stays ``validation_failed``."""


class _Constant:
    """Placeholder for NaN/Infinity while parsing (so the check can name its path)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _BigNumber:
    """Placeholder for an integer literal too long to hold exactly."""

    __slots__ = ("digits",)

    def __init__(self, digits: str) -> None:
        self.digits = digits


class _DuplicateKeys(dict[str, Any]):
    """An object that named a key twice (the last value kept, the key remembered)."""

    duplicate: str = ""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        marked = _DuplicateKeys(result)
        marked.duplicate = dup
        return marked
    return result


def _parse_int(text: str) -> int | _BigNumber:
    if len(text) > 20:  # beyond any safe integer; also avoids int()'s 4300-digit limit
        return _BigNumber(text)
    return int(text)


def _join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def _string_problem(text: str) -> str | None:
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains a lone surrogate (U+{ord(text[exc.start]):04X}), not UTF-8 text"
    return None


def problems(value: Any, path: str = "") -> list[dict[str, str]]:
    """Every way ``value`` is not interoperable JSON (at most ``MAX_ERRORS``), by path."""
    found: list[dict[str, str]] = []
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack and len(found) < MAX_ERRORS:
        where, item = stack.pop()
        message: str | None = None
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            message = _string_problem(item)
        elif isinstance(item, int):
            if not -MAX_SAFE_INT <= item <= MAX_SAFE_INT:
                message = "integer beyond +/-(2**53 - 1), not exact in other parsers"
        elif isinstance(item, float):
            if not math.isfinite(item):
                message = f"{item!r} is not a JSON number"
        elif isinstance(item, dict):
            if isinstance(item, _DuplicateKeys):
                found.append(
                    {"field": _join(where, item.duplicate), "message": "duplicate key in object"}
                )
            for key, child in item.items():
                if not isinstance(key, str):
                    message = f"object key {key!r} is not a string"
                    break
                key_problem = _string_problem(key)
                if key_problem:
                    found.append({"field": where or "(root)", "message": "a key " + key_problem})
                    continue
                stack.append((_join(where, key), child))
        elif isinstance(item, (list, tuple)):
            stack.extend((_join(where, i), child) for i, child in enumerate(item))
        elif isinstance(item, _Constant):
            message = f"{item.name} is not a JSON number"
        elif isinstance(item, _BigNumber):
            message = f"integer of {len(item.digits.lstrip('-'))} digits is beyond +/-(2**53 - 1)"
        else:
            message = f"a {type(item).__name__} is not a JSON value"
        if message:
            found.append({"field": where or "(root)", "message": message})
    return found


def _plain(item: Any) -> bool:
    """True when ``item`` is plainly interoperable JSON (the common case, checked fast);
    False when ``problems`` must look (it may still find nothing: a tuple, a subclass)."""
    kind = type(item)
    if kind is str:
        return bool(item.isascii()) or _string_problem(item) is None
    if kind is dict:
        for key, child in item.items():
            if type(key) is not str or not (key.isascii() or _string_problem(key) is None):
                return False
            if not _plain(child):
                return False
        return True
    if kind is list:
        return all(_plain(child) for child in item)
    if kind is int:
        return bool(-MAX_SAFE_INT <= item <= MAX_SAFE_INT)
    if kind is float:
        return math.isfinite(item)
    return item is None or kind is bool


def check(value: Any, path: str = "") -> None:
    """Raise ``JsonRefused`` naming the paths when ``value`` is not interoperable JSON."""
    try:
        if _plain(value):
            return
    except RecursionError:
        pass  # nested deeper than the fast walk goes: the full walk does not recurse
    found = problems(value, path)
    if found:
        first = found[0]
        raise JsonRefused(f"{first['field']}: {first['message']}", errors=found)


def is_clean(value: Any) -> bool:
    return not problems(value)


def loads(text: str | bytes, path: str = "") -> Any:
    """Parse strictly: UTF-8, well-formed (line and column named), interoperable."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonRefused(
                f"the body is not UTF-8 (byte {exc.start})",
                errors=[{"field": path or "(body)", "message": f"not UTF-8 at byte {exc.start}"}],
            ) from exc
    try:
        value = json.loads(
            text, parse_constant=_Constant, object_pairs_hook=_pairs, parse_int=_parse_int
        )
    except json.JSONDecodeError as exc:
        message = f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise JsonRefused(
            message,
            errors=[
                {
                    "field": path or "(body)",
                    "message": message,
                    "line": exc.lineno,
                    "column": exc.colno,
                }
            ],
        ) from exc
    except RecursionError as exc:
        raise JsonRefused(
            "JSON nested too deeply",
            errors=[{"field": path or "(body)", "message": "nested too deeply"}],
        ) from exc
    check(value, path)
    return value


def dumps(value: Any) -> str:
    """The one encoder of JSON columns: refuses what ``check`` refuses."""
    check(value)
    return json.dumps(value, allow_nan=False)


def scrub(value: Any, path: str = "") -> tuple[Any, list[dict[str, str]]]:
    """``value`` with every non-interoperable leaf replaced by ``null`` (a non-string key
    becomes its text), and the problems found. For repairs (``retention-flow doctor``)
    and for machine readings (OCR) that must be stored and routed, not refused."""
    found = problems(value, path)
    if not found:
        return value, []
    return _scrubbed(value), problems(value, path)


def _scrubbed(item: Any) -> Any:
    if isinstance(item, dict):
        return {
            (_clean_text(k) if isinstance(k, str) else str(k)): _scrubbed(v)
            for k, v in item.items()
        }
    if isinstance(item, list | tuple):
        return [_scrubbed(v) for v in item]
    if item is None or isinstance(item, bool):
        return item
    if isinstance(item, str):
        return None if _string_problem(item) else item
    if isinstance(item, int):
        return item if -MAX_SAFE_INT <= item <= MAX_SAFE_INT else None
    if isinstance(item, float):
        return item if math.isfinite(item) else None
    return None


def _clean_text(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8") if _string_problem(text) else text


def render(value: Any) -> str:
    """JSON text of a value read from storage, for an answer: what JSON cannot hold (a
    NaN stored before the rule) renders as ``null`` instead of failing the answer."""
    try:
        return json.dumps(value, allow_nan=False, default=str)
    except ValueError:
        return json.dumps(_finite(value), default=str)


def _finite(item: Any) -> Any:
    if isinstance(item, float) and not math.isfinite(item):
        return None
    if isinstance(item, dict):
        return {k: _finite(v) for k, v in item.items()}
    if isinstance(item, list | tuple):
        return [_finite(v) for v in item]
    return item
