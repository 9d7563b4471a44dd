"""The composition root: one ``AppContext`` per process wires settings, database,
clock, script sandbox, spec cache and the live-workflow cache together."""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from retention_flow.core.calendar import BusinessCalendar
from retention_flow.core.clock import Clock, ScaledClock, SystemClock
from retention_flow.core.config import Settings, get_settings
from retention_flow.core.data_limits import DataLimits
from retention_flow.db.session import create_db_engine
from retention_flow.engine.bundle import CompiledBundle, calendar_of, due_at
from retention_flow.engine.runtime import Runtime
from retention_flow.engine.sandbox import make_script_engine
from retention_flow.engine.sandbox_dates import BusinessDue
from retention_flow.engine.script_pool import shared_pool
from retention_flow.services.audit.seal import AuditKeys, bind_keys

#: the bundle of the case whose step runs now (for ``business_due``'s role calendars)
_STEP_BUNDLE: ContextVar[CompiledBundle | None] = ContextVar("step_bundle", default=None)


@contextmanager
def bundle_scope(bundle: CompiledBundle) -> Iterator[None]:
    """While a step runs: expressions evaluated in it see this bundle's calendars."""
    token = _STEP_BUNDLE.set(bundle)
    try:
        yield
    finally:
        _STEP_BUNDLE.reset(token)


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (with roles, maybe a partner organisation) or the system."""

    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    partner: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls("system", frozenset({"system"}))

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def primary_role(self) -> str:
        return sorted(self.roles)[0] if self.roles else "system"


class LiveWorkflows:
    """Workflows kept in memory between steps, keyed by case id and lock version.

    ``take`` removes the entry, so two threads never mutate one workflow object; the
    winner ``put``s it back after its commit under the new lock version.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, case_id: str, lock_version: int) -> Any | None:
        with self._lock:
            item = self._items.pop(case_id, None)
        if item is None or item[0] != lock_version:
            return None
        return item[1]

    def put(self, case_id: str, lock_version: int, workflow: Any) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._items[case_id] = (lock_version, workflow)
            self._items.move_to_end(case_id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def discard(self, case_id: str) -> None:
        with self._lock:
            self._items.pop(case_id, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class ActorCache:
    """Who a (user, token version) is, for a few seconds: a query saved per request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._items: dict[tuple[str, int], tuple[float, Actor]] = {}
        self._lock = threading.Lock()

    def get(self, username: str, version: int) -> Actor | None:
        item = self._items.get((username, version))
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def put(self, username: str, version: int, actor: Actor) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[(username, version)] = (time.monotonic() + self.seconds, actor)

    def forget(self, username: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == username]:
                del self._items[key]


class RevocationCache:
    """Which tokens were logged out. A revocation made in this process counts at once; a
    token found not revoked is trusted for ``seconds`` before the database is asked
    again (so one made in another process counts within that time, as for a disabled
    user in ``ActorCache``)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._revoked: set[str] = set()
        self._clear_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def known_revoked(self, jti: str) -> bool:
        return jti in self._revoked

    def known_clear(self, jti: str) -> bool:
        until = self._clear_until.get(jti)
        return until is not None and until >= time.monotonic()

    def revoked(self, jti: str) -> None:
        with self._lock:
            if len(self._revoked) > 100_000:
                self._revoked.clear()  # the database still knows them
            self._revoked.add(jti)
            self._clear_until.pop(jti, None)

    def clear(self, jti: str) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._clear_until) > 10_000:
                self._clear_until.clear()
            self._clear_until[jti] = time.monotonic() + self.seconds


class SpecCache:
    """Compiled bundles per deployment id: each deployed version is parsed once."""

    def __init__(self) -> None:
        self._items: dict[str, CompiledBundle] = {}
        self._lock = threading.Lock()

    def get(self, deployment_id: str) -> CompiledBundle | None:
        return self._items.get(deployment_id)

    def put(self, deployment_id: str, bundle: CompiledBundle) -> None:
        with self._lock:
            self._items[deployment_id] = bundle

    def __len__(self) -> int:
        return len(self._items)


def settings_clock(settings: Settings) -> Clock:
    """The real clock, or the simulated one the settings name (simulations only)."""
    if settings.sim_clock_start is not None and settings.sim_clock_anchor is not None:
        return ScaledClock(
            settings.sim_clock_start, settings.sim_clock_anchor, settings.sim_clock_speed
        )
    return SystemClock()


ServiceHandler = Callable[[dict[str, Any], dict[str, Any]], Any]


class AppContext:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        engine: Engine | None = None,
        service_handlers: Mapping[str, ServiceHandler] | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.clock: Clock = clock or settings_clock(self.settings)
        self.db: Engine = engine or create_db_engine(self.settings.database_url, self.settings)
        self.service_handlers: dict[str, ServiceHandler] = dict(service_handlers or {})
        self.calendar = BusinessCalendar.from_settings(
            self.settings.business_timezone,
            self.settings.business_hours,
            self.settings.business_days,
            self.settings.holidays,
        )
        self._calendars: dict[tuple[str, str], BusinessCalendar] = {}
        settings = self.settings
        pool = (
            shared_pool(
                settings.script_workers,
                settings.script_memory_mb,
                settings.script_kill_grace_seconds,
            )
            if settings.script_workers
            else None
        )
        script_engine = make_script_engine(
            budget_seconds=settings.script_budget_seconds,
            service_handlers=self.service_handlers,
            now=self.clock.now,
            helpers=self._script_helpers,
            pool=pool,
            max_data_bytes=settings.script_max_data_bytes,
        )
        self.script_pool = pool
        self.runtime = Runtime(lambda: script_engine, self.clock.now)
        self.script_engine = script_engine
        self.specs = SpecCache()
        self.live = LiveWorkflows(self.settings.workflow_cache_size)
        self.actors = ActorCache(self.settings.actor_cache_seconds)
        self.revocations = RevocationCache(self.settings.actor_cache_seconds)
        #: the audit seal and checkpoint keys (read, or created, on first use)
        self.audit_keys = AuditKeys(self.settings, self.clock.now)
        bind_keys(self.db, self.audit_keys)
        self.data_limits = DataLimits.of(self.settings)
        #: the random draws of "next task" (its exploration share); tests seed their own
        self.routing_rng = random.Random()  # noqa: S311  (not security: work sampling)

    def now(self) -> datetime:
        return self.clock.now()

    def _script_helpers(self, moment: datetime) -> dict[str, Any]:
        """The helpers a script run gets beside the builtins; plain data, so that a script
        worker process gets the same. ``business_due("PT4H")`` is four opening hours from
        ``moment``; ``business_due("PT4H", "specialist")`` counts the specialist role's
        opening hours (the calendar its bundle.json names for it; the settings' otherwise)."""
        bundle = _STEP_BUNDLE.get()
        roles = (
            {role: self.calendar_for(bundle, role) for role in bundle.manifest.defaults}
            if bundle is not None
            else {}
        )
        return {"business_due": BusinessDue(self.calendar, roles, moment)}

    def calendar_for(self, bundle: CompiledBundle, role: str | None) -> BusinessCalendar:
        """The business calendar of ``role`` in ``bundle``: the calendar its bundle.json
        names for the role, else the settings' calendar."""
        defaults = bundle.manifest.defaults.get(role or "")
        name = defaults.calendar if defaults is not None else None
        if name is None:
            return self.calendar
        key = (bundle.content_hash, name)
        found = self._calendars.get(key)
        if found is None:
            found = calendar_of(bundle.manifest.calendars[name], self.calendar)
            self._calendars[key] = found
        return found

    def due_at(
        self,
        start: datetime,
        duration: str,
        calendar: str | None,
        business: BusinessCalendar | None = None,
    ) -> datetime:
        """A work item's due time: calendar time, or business hours (``business``, by
        default the settings' calendar)."""
        if (calendar or self.settings.due_calendar) == "business":
            return (business or self.calendar).add_iso(start, duration)
        return due_at(start, duration)

    def dispose(self) -> None:
        self.live.clear()
        self.db.dispose()
