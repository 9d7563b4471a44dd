"""Running workflows: the only place that drives SpiffWorkflow objects.

The services layer hands us a compiled bundle and a state string, asks for one
operation (start, complete a user task, deliver a message, fire timers, retry, cancel)
and gets back the new state plus a ``Snapshot`` describing what is now waiting: ready
human tasks, pending timers, awaited messages, whether the process ended.

Failure rule: if the automatic steps after an operation fail (a script raises, the
sandbox refuses, a service errors), the workflow is rebuilt from the state before the
operation, the operation itself is applied again *without* running automatic steps,
and ``StepFailed`` carries that state out. The caller stores it with an incident: the
agent's input is kept, the failing element waits READY, and ``retry`` runs it again.
"""

from __future__ import annotations

import copy
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.util.task import TaskState

from ..core.errors import (
    MessageNotCorrelated,
    RetentionFlowError,
    ScriptError,
    TaskNotReady,
)
from . import clockbridge
from .bundle import CompiledBundle, ProcessInfo, UserTaskMeta
from .instances import check_output_item, instance_name
from .sandbox import original_error
from .serializer import SERIALIZER_VERSION, StateSerializer
from .task_data import case_data, check_output, data_changes


@dataclass(frozen=True)
class ReadyTask:
    task_id: str
    element_id: str
    name: str
    spec_name: str
    meta: UserTaskMeta | None
    partner: str | None = None


@dataclass(frozen=True)
class PendingTimer:
    task_id: str
    element_id: str
    kind: str
    due_at: datetime


@dataclass
class Snapshot:
    ready: list[ReadyTask]
    timers: list[PendingTimer]
    messages: list[str]
    completed: bool
    data: dict[str, Any]
    ran: list[str] = field(default_factory=list)  # element ids completed automatically
    signals: list[str] = field(default_factory=list)  # names of signals waited for


class StepFailed(RetentionFlowError):
    """Automatic steps failed; ``state``/``snapshot`` are the safe state to store."""

    code = "incident"
    title = "Incident"

    def __init__(
        self,
        *,
        element_id: str,
        task_id: str | None,
        error: BaseException,
        tb: str,
        workflow: BpmnWorkflow,
        changes: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{element_id}: {type(error).__name__}: {error}")
        self.element_id = element_id
        self.task_id = task_id
        self.error = error
        self.traceback = tb
        self.workflow = workflow
        self.changes = changes or {}
        self.error_code = error.code if isinstance(error, RetentionFlowError) else "script_error"


#: Changes a workflow; may return the task it completed (its data changes count).
Operation = Callable[[BpmnWorkflow], Any]


@dataclass
class StepLog:
    ran: list[str]  # element ids completed automatically
    changes: dict[str, Any]  # the data keys the step's completed tasks set


class Runtime:
    """Stateless apart from the serializer; one per process, shared by threads."""

    def __init__(self, script_engine_factory: Callable[[], Any], now: Callable[[], datetime]):
        self._script_engine_factory = script_engine_factory
        self._now = now
        self.serializer = StateSerializer()
        self.serializer_version = SERIALIZER_VERSION

    # -- building and storing ---------------------------------------------------

    def new(self, process: ProcessInfo, data: dict[str, Any]) -> BpmnWorkflow:
        wf = BpmnWorkflow(
            process.spec, process.subprocess_specs, script_engine=self._script_engine_factory()
        )
        wf.task_tree.data.update(copy.deepcopy(data))
        # the start task copies its data onward when it runs
        for task in wf.get_tasks(state=TaskState.READY):
            task.data.update(copy.deepcopy(data))
        return wf

    def load(self, process: ProcessInfo, state: str, version: str) -> BpmnWorkflow:
        return self.serializer.loads(
            state,
            process.spec,
            process.subprocess_specs,
            self._script_engine_factory(),
            version,
        )

    def dump(self, wf: BpmnWorkflow) -> str:
        return self.serializer.dumps(wf)

    # -- operations -------------------------------------------------------------

    def run(
        self,
        wf: BpmnWorkflow,
        operation: Operation | None,
        rebuild: Callable[[], BpmnWorkflow],
    ) -> StepLog:
        """Apply ``operation`` then the automatic steps; see the module docstring.

        ``rebuild`` returns a fresh workflow in the pre-operation state. Returns the
        element ids the engine completed automatically and the data the step changed.
        """
        ran: list[str] = []
        completed: list[Any] = []
        current: list[Any] = [None]

        def will_complete(task: Any) -> None:
            current[0] = task

        def did_complete(task: Any) -> None:
            completed.append(task)
            check_output(task)
            bpmn_id = getattr(task.task_spec, "bpmn_id", None)
            if bpmn_id:
                ran.append(bpmn_id)

        with clockbridge.use_clock(self._now):
            if operation is not None:
                # errors here are the caller's (bad input): nothing stored
                done = operation(wf)
                if done is not None:
                    completed.append(done)
            try:
                wf.do_engine_steps(will_complete, did_complete)
                wf.refresh_timers()
                wf.do_engine_steps(will_complete, did_complete)
            except (SpiffWorkflowException, ScriptError, Exception) as exc:
                failed = _failed_task(exc) or current[0]
                root = original_error(exc)
                safe = rebuild()
                done = operation(safe) if operation is not None else None
                raise StepFailed(
                    element_id=_element_of(failed) or "unknown",
                    task_id=str(failed.id) if failed is not None else None,
                    error=root,
                    tb=_short_traceback(root),
                    workflow=safe,
                    changes=data_changes([done] if done is not None else []),
                ) from exc
        return StepLog(ran, data_changes(completed))

    @staticmethod
    def complete_user_task(task_id: str, data: dict[str, Any]) -> Operation:
        def op(wf: BpmnWorkflow) -> Any:
            task = _ready_manual(wf, task_id)
            check_output_item(task, data)
            task.data.update(copy.deepcopy(data))
            task.run()
            return task

        return op

    @staticmethod
    def deliver_message(name: str, payload: dict[str, Any]) -> Operation:
        return _deliver(MessageEventDefinition, "message", name, payload)

    @staticmethod
    def deliver_signal(name: str, payload: dict[str, Any]) -> Operation:
        """Catch signal ``name`` wherever the case waits for it (every waiting event)."""
        return _deliver(SignalEventDefinition, "signal", name, payload)

    @staticmethod
    def start_by_event(operation: Operation) -> Operation:
        """For a new case whose start event catches a message or signal: run up to the
        start event (it then waits), then deliver with ``operation``."""

        def op(wf: BpmnWorkflow) -> Any:
            wf.do_engine_steps()
            return operation(wf)

        return op

    @staticmethod
    def cancel(wf: BpmnWorkflow) -> None:
        wf.cancel()

    # -- reading ----------------------------------------------------------------

    def snapshot(
        self,
        wf: BpmnWorkflow,
        bundle: CompiledBundle,
        ran: list[str],
        data: dict[str, Any] | None = None,
    ) -> Snapshot:
        ready: list[ReadyTask] = []
        for task in wf.get_tasks(state=TaskState.READY, manual=True):
            spec_name = task.workflow.spec.name
            element_id = task.task_spec.bpmn_id
            meta = bundle.user_task(spec_name, element_id)
            partner = (
                task.data.get(meta.partner_variable) if meta and meta.partner_variable else None
            )
            ready.append(
                ReadyTask(
                    task_id=str(task.id),
                    element_id=element_id,
                    name=instance_name(task, task.task_spec.bpmn_name or element_id),
                    spec_name=spec_name,
                    meta=meta,
                    partner=str(partner) if partner is not None else None,
                )
            )
        timers: list[PendingTimer] = []
        messages: list[str] = []
        signals: list[str] = []
        for task in wf.event_manager.tasks.values():
            if not task.has_state(TaskState.WAITING):
                continue
            for definition in _definitions(task.task_spec.event_definition):
                if isinstance(definition, TimerEventDefinition):
                    value = definition.details(task).value
                    if value:
                        timers.append(
                            PendingTimer(
                                task_id=str(task.id),
                                element_id=task.task_spec.bpmn_id or task.task_spec.name,
                                kind=_timer_kind(definition),
                                due_at=TimerEventDefinition.get_datetime(value),
                            )
                        )
                elif isinstance(definition, MessageEventDefinition):
                    messages.append(definition.name)
                elif isinstance(definition, SignalEventDefinition):
                    signals.append(definition.name)
        return Snapshot(
            ready=ready,
            timers=timers,
            messages=sorted(set(messages)),
            completed=bool(wf.completed),
            data=data if data is not None else case_data(wf),
            ran=ran,
            signals=sorted(set(signals)),
        )


def _deliver(kind: type, what: str, name: str, payload: dict[str, Any]) -> Operation:
    """Send the ``kind`` event ``name`` (message or signal) to the task waiting for it."""

    def op(wf: BpmnWorkflow) -> None:
        waiting = [
            definition
            for t in wf.event_manager.tasks.values()
            if t.has_state(TaskState.WAITING)
            for definition in _definitions(t.task_spec.event_definition)
            if isinstance(definition, kind) and getattr(definition, "name", None) == name
        ]
        if not waiting:
            raise MessageNotCorrelated(f"the case is not waiting for {what} '{name}'")
        try:
            wf.send_event(BpmnEvent(waiting[0], copy.deepcopy(payload)))
        except WorkflowException as exc:
            raise MessageNotCorrelated(str(exc)) from exc

    return op


def _definitions(definition: Any) -> list[Any]:
    """An event-based gateway waits on several definitions at once."""
    if isinstance(definition, MultipleEventDefinition):
        return list(definition.event_definitions)
    return [definition]


def _ready_manual(wf: BpmnWorkflow, task_id: str) -> Any:
    try:
        task = wf.get_task_from_id(UUID(task_id))
    except (ValueError, KeyError, TypeError):
        task = None
    if task is None or not task.task_spec.manual or task.state != TaskState.READY:
        raise TaskNotReady(f"task {task_id} is not open on this case")
    return task


def _failed_task(exc: BaseException) -> Any:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        task = getattr(current, "task", None)
        if task is not None:
            return task
        current = current.__cause__ or current.__context__
    return None


def _element_of(task: Any) -> str | None:
    if task is None:
        return None
    return str(getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name)


def _timer_kind(definition: TimerEventDefinition) -> str:
    if isinstance(definition, DurationTimerEventDefinition):
        return "duration"
    if isinstance(definition, CycleTimerEventDefinition):
        return "cycle"
    return "date"


def _short_traceback(exc: BaseException, limit: int = 8) -> str:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__, limit=limit)
    return "".join(lines)[-4000:]
