"""Size limits shared by the sandbox's guards, its inline path and its worker processes.

``data_size`` estimates how long a value's JSON/``repr`` text would be, walking it as a
tree (a list holding the same big list twenty times counts it twenty times, as ``str`` and
``json.dumps`` would) and stopping as soon as the estimate passes the limit, so checking a
huge or exponentially shared value costs no more than checking one just over the limit.

The inline guards serve the scripts that run in the serving process (see
``sandbox_policy.is_inline``): straight-line arithmetic on small numbers and strings.
Anything bigger raises ``NeedsWorker`` and the script runs again in a worker process.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from retention_flow.core.errors import ScriptBudgetExceeded, ScriptRefused

MAX_DEPTH = 100
"""Deepest nesting a value may have (as ``is_plain``)."""
INLINE_MAX_CHARS = 10_000
INLINE_MAX_BITS = 4_096

_CONTAINERS = (list, tuple, dict, set, frozenset)


class DataTooLarge(Exception):
    def __init__(self, size: int, depth: bool = False) -> None:
        super().__init__(size)
        self.size = size
        self.depth = depth


def _scalar_size(value: Any) -> int:
    if isinstance(value, str | bytes):
        return len(value) + 2
    if isinstance(value, int):
        return value.bit_length() * 30103 // 100000 + 2
    return 24


_NUMBER_TYPES = frozenset({int, float, bool, type(None)})
_TEXT_TYPES = frozenset({str, bytes})


def _flat_size(values: Any) -> int | None:
    """The size of a collection of scalars of one kind, computed in C; None otherwise.

    Most task data is lists of numbers or strings: summing them element by element in
    Python would take longer than the script's budget for a million items.
    """
    types = set(map(type, values))
    if not types:
        return 0
    count = len(values)
    if types <= _TEXT_TYPES:
        return sum(map(len, values)) + 4 * count
    if types == {int}:
        widest: int = max(max(values), -min(values)).bit_length() * 30103 // 100000 + 3
        return widest * count
    if types <= _NUMBER_TYPES:
        return 26 * count
    return None


def data_size(value: Any, limit: int) -> int:
    """About how many characters ``value`` takes as text; ``DataTooLarge`` past ``limit``."""
    total = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if not isinstance(item, _CONTAINERS):
            total += _scalar_size(item)
        elif depth >= MAX_DEPTH:
            raise DataTooLarge(total, depth=True)
        else:
            is_dict = isinstance(item, dict)
            children: Any = list(item.values()) if isinstance(item, dict) else item
            total += 2
            keys = _flat_size(item) if is_dict else 0
            if keys is None:
                keys = sum(_scalar_size(key) for key in item)
            flat = _flat_size(children)
            if flat is not None:
                total += keys + flat + 2 * len(children)
            else:
                total += keys + 2 * len(children)
                for child in children:
                    if isinstance(child, _CONTAINERS):
                        if child:
                            push((child, depth + 1))
                        else:
                            total += 2
                    else:
                        total += _scalar_size(child)
                    if total > limit:
                        raise DataTooLarge(total)
        if total > limit:
            raise DataTooLarge(total)
    return total


def check_container_text(value: Any, limit: int, what: str) -> None:
    """Refuse turning a container whose text would pass ``limit`` characters into a string."""
    if isinstance(value, _CONTAINERS):
        try:
            data_size(value, limit)
        except DataTooLarge as err:
            if err.depth:
                raise ScriptRefused(
                    f"{what} of a value nested over {MAX_DEPTH} deep is not allowed"
                ) from None
            raise ScriptRefused(
                f"{what} of a container of more than {limit:,} characters is not allowed"
            ) from None


def check_task_data(values: dict[str, Any], limit: int, what: str) -> None:
    """The task data a script or expression leaves must fit in ``limit`` bytes (as text)."""
    total = 0
    for key, value in values.items():
        try:
            total += len(key) + 4 + data_size(value, limit - total)
        except DataTooLarge as err:
            if err.depth:
                raise ScriptBudgetExceeded(
                    f"{what} left '{key}' nested more than {MAX_DEPTH} deep"
                ) from None
            raise ScriptBudgetExceeded(
                f"{what} left task data larger than {limit:,} bytes (at '{key}')"
            ) from None
    if total > limit:
        raise ScriptBudgetExceeded(f"{what} left task data larger than {limit:,} bytes")


# --- task-data hygiene --------------------------------------------------------------------

_SCALARS = (str, int, float, bool, type(None))


def is_plain(value: Any, depth: int = 0) -> bool:
    """True for JSON-serialisable data: scalars, lists/tuples and dicts with scalar keys."""
    if isinstance(value, _SCALARS):
        return True
    if depth >= MAX_DEPTH:
        return False
    if isinstance(value, list | tuple):
        return all(is_plain(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(key, _SCALARS) and is_plain(item, depth + 1) for key, item in value.items()
        )
    return False


def is_result_data(value: Any) -> bool:
    """What an expression may hand back to SpiffWorkflow: data, never code or generators."""
    if isinstance(value, datetime | date | timedelta | range):
        return True
    if isinstance(value, set | frozenset):
        return all(is_plain(item) for item in value)
    return is_plain(value)


# --- the inline path ------------------------------------------------------------------------


class NeedsWorker(BaseException):
    """An inline script met a value too big for the serving process; run it in a worker."""


def _small(value: Any) -> bool:
    if isinstance(value, bool | float) or value is None:
        return True
    if isinstance(value, int):
        return value.bit_length() <= INLINE_MAX_BITS
    return isinstance(value, str) and len(value) <= INLINE_MAX_CHARS


def _numbers(left: Any, right: Any) -> bool:
    return isinstance(left, int | float) and isinstance(right, int | float)


def inline_add(left: Any, right: Any) -> Any:
    both_str = isinstance(left, str) and isinstance(right, str)
    if _small(left) and _small(right) and (_numbers(left, right) or both_str):
        return left + right
    raise NeedsWorker


def inline_mul(left: Any, right: Any) -> Any:
    if _numbers(left, right) and _small(left) and _small(right):
        return left * right
    raise NeedsWorker


def inline_mod(left: Any, right: Any) -> Any:
    if _numbers(left, right) and _small(left) and _small(right):
        return left % right
    raise NeedsWorker
