"""A step's writes sent straight to the driver's cursor: each statement compiled once
per dialect and set of keys, its parameters converted by the same bind processors
SQLAlchemy would use.

Why: a step is a handful of small inserts and updates, and SQLAlchemy's per-execute work
(compiled-cache lookup, execution context, parameter processing through the compiled
statement, result wrapping) cost more than the driver's own call, about half of a
step's write time on SQLite (``bench/step_breakdown.py`` shows it as "writes" beside
"driver"). What stays the same: the SQL text (SQLAlchemy compiles it), the values (its
bind processors convert them), the transaction (the connection's own DBAPI connection,
inside the step's transaction and, on PostgreSQL, its pipeline), errors (wrapped as
SQLAlchemy's ``DBAPIError`` subclasses by the connection's own handler, which also
invalidates a connection the error shows dead) and the
engine's ``before/after_cursor_execute`` events (benches count statements with them).

A statement this cannot run exactly as SQLAlchemy would — Python-side column defaults
to compute, expanding ``IN`` parameters, a bind whose value is computed at execution —
is answered ``None`` by ``prepare`` and the caller executes it the ordinary way.

The cache holds every statement object it is given: pass statements built once (module
constants, or built by a cached function), never one built per call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import ClauseElement

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class Prepared:
    """One statement compiled for one dialect and one set of parameter keys."""

    sql: str
    #: per bind, in the order the SQL wants them: (bind name, row key or None, constant)
    binds: tuple[tuple[str, str | None, Any], ...]
    processors: tuple[Processor, ...]
    positional: bool

    def row(self, params: dict[str, Any]) -> Sequence[Any] | dict[str, Any]:
        values = [
            (params[key] if key is not None else constant) for _name, key, constant in self.binds
        ]
        converted = [v if p is None else p(v) for v, p in zip(values, self.processors, strict=True)]
        if self.positional:
            return tuple(converted)
        return {name: v for (name, _k, _c), v in zip(self.binds, converted, strict=True)}


_CACHE: dict[tuple[ClauseElement, str, frozenset[str]], Prepared | None] = {}


def prepare(statement: ClauseElement, dialect: Dialect, keys: frozenset[str]) -> Prepared | None:
    """``statement`` compiled for rows with ``keys`` (cached), or None when it must go
    through SQLAlchemy's execute."""
    cache_key = (statement, dialect.name, keys)
    if cache_key not in _CACHE:
        _CACHE[cache_key] = _compile(statement, dialect, keys)
    return _CACHE[cache_key]


def _compile(statement: ClauseElement, dialect: Dialect, keys: frozenset[str]) -> Prepared | None:
    compiled: Any = statement.compile(dialect=dialect, column_keys=sorted(keys))
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.literal_execute_params:
        return None  # Python-side defaults or values rendered at execution
    if compiled.post_compile_params:
        return None  # expanding IN
    names = (
        list(compiled.positiontup) if compiled.positional else list(compiled.bind_names.values())
    )
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    processors_by_name = compiled._bind_processors
    binds: list[tuple[str, str | None, Any]] = []
    for name in names:
        bind = by_name[name]
        if bind.key in keys:
            binds.append((name, bind.key, None))
        elif bind.callable is not None or bind.required:
            return None  # a value computed at execution, or missing (let SQLAlchemy say so)
        else:
            binds.append((name, None, bind.value))
    return Prepared(
        sql=compiled.string,
        binds=tuple(binds),
        processors=tuple(processors_by_name.get(name) for name, _k, _c in binds),
        positional=bool(compiled.positional),
    )


def execute(conn: Connection, prepared: Prepared, rows: list[dict[str, Any]]) -> Any:
    """Run ``prepared`` for ``rows`` on the connection's DBAPI cursor; answers the
    cursor (``rowcount``: rows matched, read after a pipeline's sync on PostgreSQL)."""
    params: Any = [prepared.row(r) for r in rows]
    many = len(params) != 1
    if not many:
        params = params[0]
    dbapi_conn = conn.connection
    cursor = dbapi_conn.cursor()
    events = conn._has_events or conn.engine._has_events
    sql = prepared.sql
    if events:
        conn.dispatch.before_cursor_execute(conn, cursor, sql, params, None, many)
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
    except Exception as exc:  # SQLAlchemy's own handling: wrapped, disconnects invalidated
        conn._handle_dbapi_exception(exc, sql, params, cursor, None)
    if events:
        conn.dispatch.after_cursor_execute(conn, cursor, sql, params, None, many)
    return cursor
