"""Guards and allow-listed helpers for the diagram-script sandbox (see ``sandbox.py``).

Everything here runs *inside* a script's call, so it must be cheap and must never hand a
script anything but plain data or one of these functions. Operations that CPython performs
in C without returning to a traced line (``2 ** 10 ** 10``, ``'a' * 10 ** 9``,
``'x'.ljust(10 ** 10)``...) cannot be stopped by the time budget, so they are checked here
before they run: each guard computes the size of the result and refuses it when too large,
with a message naming the operation. They are the first line: what they cannot see coming
(comparing exponentially shared tuples, ``sorted(..., key=str)``) is stopped by killing the
script's worker process (``script_pool``).
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import operator
import re
from collections.abc import Callable, Iterable, Sized
from typing import Any

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from retention_flow.core.errors import ScriptRefused
from retention_flow.engine.sandbox_dates import (
    add_duration,
    ceil,
    days_between,
    floor,
    parse_date,
)
from retention_flow.engine.sandbox_limits import check_container_text

MAX_ITEMS = 1_000_000
"""Largest sequence or string a single operation may produce."""
MAX_EXPONENT = 10_000
MAX_SHIFT = 10_000
MAX_INT_BITS = 100_000
"""Largest integer (in bits, about 30,000 decimal digits) a ``*``, ``**`` or ``<<`` may produce."""
MAX_FORMAT_NUMBER = 10_000
"""Largest width or precision in a format spec (``f'{x:>99999}'``, ``'%99999d' % x``)."""
MAX_ROUND_DIGITS = 10_000
MAX_STR_DIGITS = 4_300
"""Longest integer turned into text (CPython's own default limit, set in script workers)."""
MAX_STR_INT_BITS = int(MAX_STR_DIGITS * 3.3219)

_SEQUENCES = (str, bytes, list, tuple)
_DIGITS = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d*)(?:\.(\*|\d*))?")


def refuse(what: str) -> ScriptRefused:
    return ScriptRefused(f"{what} is not allowed")


def _check_items(count: int, what: str) -> None:
    if count > MAX_ITEMS:
        raise refuse(f"{what} producing {count:,} items (more than {MAX_ITEMS:,})")


def _check_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise refuse(f"{what} producing an integer of about {bits:,} bits")


def _is_int(value: object) -> bool:
    return isinstance(value, int)


# --- operators rewritten by the compile policy -------------------------------------------


def guarded_pow(base: Any, exponent: Any) -> Any:
    if _is_int(base) and _is_int(exponent) and exponent > 1:
        if exponent > MAX_EXPONENT:
            raise refuse(f"'**' with exponent {exponent:,} (more than {MAX_EXPONENT:,})")
        _check_bits(abs(base).bit_length() * exponent, "'**'")
    return base**exponent


def guarded_mul(left: Any, right: Any) -> Any:
    if _is_int(left) and _is_int(right):
        _check_bits(abs(left).bit_length() + abs(right).bit_length(), "'*'")
    elif isinstance(left, _SEQUENCES) and _is_int(right):
        _check_items(len(left) * right, "'*' repetition")
    elif isinstance(right, _SEQUENCES) and _is_int(left):
        _check_items(len(right) * left, "'*' repetition")
    return left * right


def guarded_lshift(left: Any, right: Any) -> Any:
    if _is_int(left) and _is_int(right) and right > 0:
        if right > MAX_SHIFT:
            raise refuse(f"'<<' by {right:,} bits (more than {MAX_SHIFT:,})")
        _check_bits(abs(left).bit_length() + right, "'<<'")
    return left << right


def guarded_add(left: Any, right: Any) -> Any:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        _check_items(len(left) + len(right), "'+' concatenation")
    return left + right


def _check_format_numbers(spec: str, what: str) -> None:
    for digits in _DIGITS.findall(spec):
        if len(digits) > 5 or int(digits) > MAX_FORMAT_NUMBER:
            raise refuse(f"{what} with width or precision {digits}")


def guarded_mod(left: Any, right: Any) -> Any:
    if isinstance(left, str | bytes):
        text = left if isinstance(left, str) else left.decode("latin-1")
        for width, precision in _PERCENT_SPEC.findall(text):
            if "*" in (width, precision):
                raise refuse("'*' width in a '%' format")
            _check_format_numbers(width + " " + precision, "'%' format")
        values = right if isinstance(right, tuple) else (right,)
        for value in values:
            _check_text_of(value, "'%' format")
    return left % right


def _iadd(target: Any, value: Any) -> Any:
    if isinstance(target, list):
        if hasattr(value, "__len__"):
            _check_items(len(target) + len(value), "'+=' concatenation")
        target += value
        return target
    if isinstance(target, _SEQUENCES) and isinstance(value, _SEQUENCES):
        _check_items(len(target) + len(value), "'+=' concatenation")
    return target + value


def _imul(target: Any, value: Any) -> Any:
    if isinstance(target, list) and _is_int(value):
        _check_items(len(target) * value, "'*=' repetition")
        target *= value
        return target
    return guarded_mul(target, value)


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": _iadd,
    "*=": _imul,
    "**=": guarded_pow,
    "<<=": guarded_lshift,
    "%=": guarded_mod,
    "-=": operator.isub,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    ">>=": operator.irshift,
    "|=": operator.ior,
    "&=": operator.iand,
    "^=": operator.ixor,
    "@=": operator.imatmul,
}


def guarded_inplacevar(op: str, target: Any, value: Any) -> Any:
    """RestrictedPython turns ``n += 1`` into ``n = _inplacevar_('+=', n, 1)``."""
    return _INPLACE[op](target, value)


def _check_text_of(value: Any, what: str) -> None:
    """Turning a container or a huge integer into text is one C call: check its size first."""
    if isinstance(value, int) and value.bit_length() > MAX_STR_INT_BITS:
        raise refuse(f"{what} of an integer of more than {MAX_STR_DIGITS:,} digits")
    check_container_text(value, MAX_ITEMS, what)


def guarded_format(value: Any, spec: str, conversion: int) -> str:
    """Formats an f-string field (``f'{value!r:>10}'``) after checking its width and precision."""
    _check_text_of(value, "an f-string")
    if conversion == ord("r"):
        value = repr(value)
    elif conversion == ord("a"):
        value = ascii(value)
    elif conversion == ord("s"):
        value = str(value)
    _check_format_numbers(spec, "f-string format")
    return format(value, spec)


# --- methods of plain values that build large results in C ------------------------------


def _padded(value: Any, method: Callable[..., Any], width: int, *args: Any) -> Any:
    _check_items(width, "padding")
    return method(width, *args)


def _replace(value: Any, method: Callable[..., Any], old: Any, new: Any, count: int = -1) -> Any:
    hits = value.count(old) if old else len(value) + 1
    hits = hits if count < 0 else min(hits, count)
    _check_items(len(value) + hits * (len(new) - len(old)), "replace()")
    return method(old, new, count)


def _expandtabs(value: Any, method: Callable[..., Any], tabsize: int = 8) -> Any:
    tabs = value.count("\t" if isinstance(value, str) else b"\t")
    _check_items(len(value) + tabs * max(tabsize, 0), "expandtabs()")
    return method(tabsize)


def _join(value: Any, method: Callable[..., Any], iterable: Iterable[Any]) -> Any:
    items = list(iterable)
    separators = len(value) * max(len(items) - 1, 0)
    _check_items(separators, "join()")
    with contextlib.suppress(TypeError):  # not all strings: join raises the usual TypeError
        _check_items(separators + sum(map(len, items)), "join()")
    return method(items)


def _translate(value: Any, method: Callable[..., Any], table: Any) -> Any:
    replacements = table.values() if isinstance(table, dict) else table
    if isinstance(value, str) and isinstance(replacements, Iterable):
        longest = max((len(v) for v in replacements if isinstance(v, str)), default=1)
        _check_items(len(value) * longest, "translate()")
    return method(table)


_GROWING_METHODS: dict[str, Callable[..., Any]] = {
    "ljust": _padded,
    "rjust": _padded,
    "center": _padded,
    "zfill": _padded,
    "replace": _replace,
    "expandtabs": _expandtabs,
    "join": _join,
    "translate": _translate,
}


def _extend(target: list[Any], iterable: Iterable[Any]) -> None:
    if isinstance(iterable, Sized):
        _check_items(len(target) + len(iterable), "extend()")
    target.extend(iterable)


_DENIED_ATTRIBUTES = INSPECT_ATTRIBUTES | {"format", "format_map", "mro", "to_bytes"}


def guarded_getattr(obj: Any, name: str) -> Any:
    """``_getattr_``: no underscore names, no ``str.format``, size checks on growing methods.

    Methods of ``str``/``bytes`` that build a result whose size the arguments decide
    (``'x'.ljust(10 ** 10)``) come back wrapped in a check; read off the class itself
    (``str.ljust``) they are refused, as the check needs the instance.
    """
    if name.startswith("_") or name in _DENIED_ATTRIBUTES:
        raise refuse(f"attribute '{name}' of {type(obj).__name__}")
    if name == "extend" and type(obj) is list:
        return functools.partial(_extend, obj)
    if name in _GROWING_METHODS:
        if type(obj) in (str, bytes):
            return functools.partial(_GROWING_METHODS[name], obj, getattr(obj, name))
        if obj in (str, bytes):
            raise refuse(f"attribute '{name}' of the {obj.__name__} type")
    return getattr(obj, name)


def guarded_write(obj: Any) -> Any:
    """``_write_``: scripts may assign items into dicts and lists only (``d['k'] = v``)."""
    if type(obj) in (dict, list):
        return obj
    raise refuse(f"assigning into a {type(obj).__name__}")


# --- allow-listed builtins that need a limit ------------------------------------------------


def guarded_range(*args: int) -> range:
    result = range(*args)
    try:
        size = len(result)
    except OverflowError:
        size = MAX_ITEMS + 1
    _check_items(size, "range()")
    return result


def guarded_str(*args: Any, **kwargs: Any) -> str:
    """``str(x)``: a container's text is built in one C call, so its size is checked first."""
    if len(args) == 1 and not kwargs:
        _check_text_of(args[0], "str()")
    return str(*args, **kwargs)


def guarded_apply(func: Any, *args: Any, **kwargs: Any) -> Any:
    """``_apply_`` (calls with ``*args``/``**kwargs``) and ``_str_`` (``str(x)`` calls)."""
    if func is str:
        return guarded_str(*args, **kwargs)
    return func(*args, **kwargs)


def guarded_sum(iterable: Iterable[Any], /, start: Any = 0) -> Any:
    if not isinstance(start, int | float):
        raise refuse("sum() with a non-numeric start")
    return sum(iterable, start)


def guarded_round(number: Any, ndigits: int | None = None) -> Any:
    if ndigits is not None and abs(ndigits) > MAX_ROUND_DIGITS:
        raise refuse(f"round() to {ndigits:,} digits")
    return round(number, ndigits)


# --- print ------------------------------------------------------------------------------------


class _DiscardedPrint:
    """What RestrictedPython's ``print`` hook returns: output goes nowhere, ``printed`` is ''."""

    def _call_print(self, *objects: Any, **kwargs: Any) -> None:
        return None

    def __call__(self) -> str:
        return ""


def discarding_print(_getattr_: Any = None) -> _DiscardedPrint:
    """RestrictedPython's ``_print_`` hook."""
    return _DiscardedPrint()


# --- what scripts see ------------------------------------------------------------------------

EXCEPTIONS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (
        Exception,
        ArithmeticError,
        AttributeError,
        IndexError,
        KeyError,
        LookupError,
        OverflowError,
        NameError,
        TypeError,
        ValueError,
        ZeroDivisionError,
    )
}
"""The exception classes scripts can name, raise and catc"""

SAFE_BUILTINS: dict[str, Any] = {
    "None": None,
    "True": True,
    "False": False,
    "abs": abs,
    "all": all,
    "any": any,
    "bool": bool,
    "dict": dict,
    "divmod": divmod,
    "enumerate": enumerate,
    "float": float,
    "int": int,
    "isinstance": isinstance,
    "len": len,
    "list": list,
    "max": max,
    "min": min,
    "range": guarded_range,
    "reversed": reversed,
    "round": guarded_round,
    "set": set,
    "sorted": sorted,
    "str": str,
    "sum": guarded_sum,
    "tuple": tuple,
    "zip": zip,
    "add_duration": add_duration,
    "days_between": days_between,
    "parse_date": parse_date,
    "floor": floor,
    "ceil": ceil,
    **EXCEPTIONS,
}
"""Builtins and helpers every script sees (``now`` is added per environment)."""

FORBIDDEN_NAMES = frozenset(
    {name for name in dir(builtins) if not name.startswith("_")} - set(SAFE_BUILTINS) - {"print"}
) | {"builtins", "importlib", "io", "os", "pathlib", "shutil", "socket", "subprocess", "sys"}
"""Names refused with a clear message when a script reads them and the task data lacks them.

Safety does not depend on this list (none of these is reachable: the builtins are an
allow-list); it turns a puzzling ``NameError`` into "name 'open' is not allowed".
"""
