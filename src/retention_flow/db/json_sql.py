"""A JSON column's member as text in SQL, safe on every stored value.

SQLite's JSON functions fail the whole statement on one malformed row (``NaN`` written
before the strict rule, or behind the application's back): a search over every case
would then answer an error to everyone. ``json_text`` reads the member only from rows
that hold valid JSON there (others read as NULL); on PostgreSQL (JSONB, always valid)
it is the plain ``->>`` operator, so expression indexes still apply.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class JsonText(ColumnElement[str]):
    inherit_cache = True
    type = String()
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("member", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Any, key: str) -> None:
        self.column = column
        # built once: the same bound parameter wherever the element appears, so that
        # PostgreSQL sees GROUP BY and SELECT naming one expression
        self.member = column[key].as_string()


def json_text(column: Any, key: str) -> JsonText:
    """``column[key]`` as text (NULL when absent, or when the row's JSON is malformed)."""
    return JsonText(column, key)


@compiles(JsonText)
def _plain(element: JsonText, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.member, **kw))


@compiles(JsonText, "sqlite")
def _guarded(element: JsonText, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    member = compiler.process(element.member, **kw)
    return f"CASE WHEN json_valid({column}) THEN CAST({member} AS TEXT) END"


class JsonTextLiteral(JsonText):
    """``json_text`` with the key written into the SQL (not a bound parameter), so that
    the expression is the one an expression index was built on: SQLite matches index
    expressions token for token, and a ``?`` is not the index's literal path."""

    inherit_cache = True


def json_text_indexed(column: Any, key: str) -> JsonTextLiteral:
    """``column[key]`` as text, in the form of an expression index on it (``key`` comes
    from the code, never from a request)."""
    return JsonTextLiteral(column, key)


@compiles(JsonTextLiteral)
def _plain_literal(element: JsonText, compiler: Any, **kw: Any) -> str:
    return _plain(element, compiler, **{**kw, "literal_binds": True})


@compiles(JsonTextLiteral, "sqlite")
def _guarded_literal(element: JsonText, compiler: Any, **kw: Any) -> str:
    return _guarded(element, compiler, **{**kw, "literal_binds": True})
