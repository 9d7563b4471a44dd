"""The sandboxed script engine every diagram script, condition and DMN cell runs through.

Process owners write Python in diagrams; SpiffWorkflow runs it with plain ``exec``/``eval``
unless given another environment. ``SandboxEnvironment`` keeps SpiffWorkflow's data semantics
(task data in as variables, assignments out) but compiles with RestrictedPython plus a policy
of our own (``sandbox_policy``), exposes only an allow-list of builtins and helpers, checks
operations that could build huge results in C, and stops a script that runs past its budget.

Where scripts run. One C call (``str([x] * 20)`` on a big list, comparing or hashing an
exponentially shared tuple, sorting) holds the GIL for as long as it takes, so no check in
the serving process can interrupt it, and it freezes every request of that process. With a
``ScriptPool`` (the service layer always gives one) only *inline* scripts run in the serving
process: straight-line code whose cost the task data bounds (``sandbox_policy.is_inline``:
gateway conditions, DMN cells, ``outcome = "retained"``). Every other script and expression
runs in a worker process with a memory limit (``RLIMIT_AS``) and a CPU limit, and is killed
when it runs past its budget plus a grace period (``script_pool``). Task data goes to the
worker and comes back as data; what a script leaves is checked for size there, under the
budget, before the serving process decodes it.

How the time budget works inside a run. The policy puts a ``_tick_()`` check at the top of
every loop body, function and lambda and into every comprehension; past the deadline each
tick raises ``_BudgetInterrupt`` (a ``BaseException``, so ``except Exception`` in a script
does not catch it), and raises again at the next tick if a script swallowed it, so after the
deadline a script can only run a bounded amount of straight-line code. Work done in C in one
operation is bounded by the size checks, and in a worker by the kill. (A ``sys.settrace``
tracer was tried first: on CPython 3.11 ``while True: pass`` produces no line events and
tracing switches off once the tracer raises, so it protected nothing the ticks do not.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import CodeType
from typing import TYPE_CHECKING, Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

from retention_flow.core.errors import ScriptBudgetExceeded, ScriptError, ScriptRefused
from retention_flow.engine import sandbox_helpers as h
from retention_flow.engine import sandbox_limits as limits
from retention_flow.engine.sandbox_dates import make_now
from retention_flow.engine.sandbox_helpers import SAFE_BUILTINS
from retention_flow.engine.sandbox_policy import (
    SCRIPT_FILENAME,
    CompiledScript,
    compile_script,
)

if TYPE_CHECKING:
    from retention_flow.engine.script_pool import ScriptPool

__all__ = ["SCRIPT_FILENAME", "SandboxEnvironment", "compile_script", "make_script_engine"]

DEFAULT_MAX_DATA_BYTES = 2 * 1024 * 1024


class _BudgetInterrupt(BaseException):
    """Stops a script past its deadline; ``except Exception`` in a script does not catch it."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


#: Builds the helpers one script run gets beside the builtins (``business_due``), for the
#: moment it runs at; they must pickle: a worker process gets the same ones.
HelperFactory = Callable[[datetime], Mapping[str, Any]]


class SandboxEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]
    """A ``TaskDataEnvironment`` look-alike that runs scripts in the sandbox.

    Task data shadows builtins and helpers (a variable called ``type`` or ``now`` works);
    the guard names RestrictedPython calls (``_getattr_``...) cannot be shadowed. Without a
    ``pool`` every script runs in this process (guards only: what the workers themselves do).
    """

    def __init__(
        self,
        *,
        budget_seconds: float = 1.0,
        service_handlers: Mapping[str, Callable[..., Any]] | None = None,
        now: Callable[[], datetime] | None = None,
        helpers: HelperFactory | None = None,
        pool: ScriptPool | None = None,
        max_data_bytes: int = DEFAULT_MAX_DATA_BYTES,
    ) -> None:
        super().__init__({})
        self.budget_seconds = budget_seconds
        self.service_handlers = dict(service_handlers or {})
        self.clock = now or _utc_now
        self.helpers = helpers
        self.pool = pool
        self.max_data_bytes = max_data_bytes
        self._builtins = {**SAFE_BUILTINS, "now": make_now(self.clock)}
        self._guards: dict[str, Any] = {
            "__builtins__": self._builtins,
            "_getattr_": h.guarded_getattr,
            "_getitem_": lambda obj, key: obj[key],
            "_getiter_": iter,
            "_write_": h.guarded_write,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_inplacevar_": h.guarded_inplacevar,
            "_apply_": h.guarded_apply,
            "_str_": h.guarded_apply,
            "_print_": h.discarding_print,
            "_format_": h.guarded_format,
            "_pow_": h.guarded_pow,
            "_mul_": h.guarded_mul,
            "_lshift_": h.guarded_lshift,
            "_add_": h.guarded_add,
            "_mod_": h.guarded_mod,
        }
        self._inline_guards = {
            **self._guards,
            "_add_": limits.inline_add,
            "_mul_": limits.inline_mul,
            "_mod_": limits.inline_mod,
        }
        self._reserved = frozenset(self._guards) | {"_tick_"}

    def _guards_for(self, inline: bool) -> dict[str, Any]:
        guards = self._inline_guards if inline else self._guards
        if self.helpers is None:
            return guards
        return {**guards, "__builtins__": {**self._builtins, **self.helpers(self.clock())}}

    def evaluate(
        self,
        expression: str,
        context: dict[str, Any],
        external_context: Mapping[str, Any] | None = None,
    ) -> Any:
        compiled = compile_script(expression, "eval")
        external = external_context or {}
        self._check_unbound(compiled, context, external)
        if compiled.inline or self.pool is None:
            try:
                return self._evaluate_here(compiled, context, external)
            except limits.NeedsWorker:
                if self.pool is None:
                    return self._evaluate_here(compiled._replace(inline=False), context, external)
        return self._in_worker("eval", expression, context, external)

    def _evaluate_here(
        self, compiled: CompiledScript, context: Mapping[str, Any], external: Mapping[str, Any]
    ) -> Any:
        guards = self._guards_for(compiled.inline)
        result = self._run(compiled.code, {**external, **context, **guards})
        if not compiled.inline:
            limits.check_task_data({"result": result}, self.max_data_bytes, "the expression")
        if not limits.is_result_data(result):
            raise ScriptRefused(f"an expression producing a {type(result).__name__} is not allowed")
        return result

    def execute(
        self,
        script: str,
        context: dict[str, Any],
        external_context: Mapping[str, Any] | None = None,
    ) -> bool:
        """Run a script with the task data as its variables, updating ``context`` in place.

        Afterwards only plain data stays: functions, generators, sets, datetimes... and the
        sandbox's own names are removed; the task data must fit in ``max_data_bytes``. If the
        script fails, the task data's top-level keys are put back as they were (in a worker,
        nested changes are undone too: the worker changed a copy).
        """
        compiled = compile_script(script, "exec")
        external = external_context or {}
        clashes = set(external).intersection(context)
        if clashes:
            raise ValueError(f"task data overwrites data object(s): {sorted(clashes)}")
        self._check_unbound(compiled, context, external)
        if compiled.inline or self.pool is None:
            try:
                self._execute_here(compiled, context, external)
                return True
            except limits.NeedsWorker:
                if self.pool is None:
                    self._execute_here(compiled._replace(inline=False), context, external)
                    return True
        result = self._in_worker("exec", script, context, external)
        context.clear()
        context.update(result)
        return True

    def _execute_here(
        self, compiled: CompiledScript, context: dict[str, Any], external: Mapping[str, Any]
    ) -> None:
        before = dict(context)
        context.update(external)
        context.update(self._guards_for(compiled.inline))
        try:
            self._run(compiled.code, context)
            for key in list(context):
                if key in self._reserved or key in external:
                    del context[key]
            # sized first: is_plain would walk a huge or exponentially shared value for long;
            # an inline script can only have changed the names it assigns
            changed = (
                {k: context[k] for k in compiled.assigned if k in context}
                if compiled.inline
                else context
            )
            limits.check_task_data(changed, self.max_data_bytes, "the script")
            for key in [key for key, value in context.items() if not limits.is_plain(value)]:
                del context[key]
            context.update({k: v for k, v in before.items() if k in self._reserved})
        except BaseException:
            context.clear()
            context.update(before)
            raise

    def _in_worker(
        self,
        kind: str,
        source: str,
        context: Mapping[str, Any],
        external: Mapping[str, Any],
    ) -> Any:
        if self.pool is None:
            raise ScriptError("no script worker pool")
        moment = self.clock()
        options = {
            "budget_seconds": self.budget_seconds,
            "now": moment,
            "helpers": dict(self.helpers(moment)) if self.helpers is not None else {},
            "max_data_bytes": self.max_data_bytes,
        }
        return self.pool.run((kind, source, dict(context), dict(external), options))

    def call_service(
        self,
        context: dict[str, Any],
        operation_name: str,
        operation_params: Mapping[str, Mapping[str, Any]],
        **kwargs: Any,
    ) -> str:
        """Run a registered service handler; SpiffWorkflow ``json.loads`` what we return."""
        handler = self.service_handlers.get(operation_name)
        if handler is None:
            raise ScriptError(f"unknown service '{operation_name}'")
        params = {name: param["value"] for name, param in operation_params.items()}
        return json.dumps(handler(context, params))

    @staticmethod
    def _check_unbound(
        compiled: CompiledScript, context: Mapping[str, Any], external: Mapping[str, Any]
    ) -> None:
        for name in compiled.unbound_forbidden:
            if name not in context and name not in external:
                raise ScriptRefused(f"name '{name}' is not allowed")

    def _run(self, code: CodeType, namespace: dict[str, Any]) -> Any:
        """``eval`` the code, stopping it once it runs past the time budget."""
        monotonic = time.monotonic
        deadline = monotonic() + self.budget_seconds
        stopped = False

        def tick(value: Any = True) -> Any:
            nonlocal stopped
            if monotonic() > deadline:
                stopped = True
                raise _BudgetInterrupt
            return value

        namespace["_tick_"] = tick
        try:
            result = eval(code, namespace)  # noqa: S307 - compiled by RestrictedPython above
        except _BudgetInterrupt:
            result = None
        if stopped:  # also when the script caught the interrupt and finished anyway
            raise ScriptBudgetExceeded(f"script ran longer than {self.budget_seconds} s")
        return result


class SandboxScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    """``PythonScriptEngine`` over a ``SandboxEnvironment``, with its error handling fixed.

    SpiffWorkflow 3.2's ``call_service`` refers to an undefined ``script`` when a service
    fails, its line lookup expects the file name ``<string>``, it concatenates ``err.args[0]``
    to a string even when it is not one (``KeyError(5)``), and ``WorkflowTaskException`` does
    not keep the exception it wraps. Every ``WorkflowTaskException`` raised here carries the
    original as ``.exception`` (and ``__cause__``); see ``original_error``.
    """

    environment: SandboxEnvironment

    def __init__(self, environment: SandboxEnvironment | None = None) -> None:
        super().__init__(environment=environment or SandboxEnvironment())

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> Any:
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except SpiffWorkflowException as err:
            err.add_note(f"Error evaluating expression '{expression}'")
            raise
        except Exception as err:
            message = f"Error evaluating expression '{expression}': {type(err).__name__}: {err}"
            raise _wrap(message, task, err) from err

    def execute(self, task: Any, script: str, external_context: Any = None) -> bool:
        try:
            return self.environment.execute(script, task.data, external_context or {})
        except Exception as err:
            wrapped = self.create_task_exec_exception(task, script, err)
            if wrapped is err:
                raise
            raise wrapped from err

    def call_service(self, task: Any, **kwargs: Any) -> str:
        try:
            return self.environment.call_service(task.data, **kwargs)
        except SpiffWorkflowException:
            raise
        except Exception as err:
            name = kwargs.get("operation_name")
            raise _wrap(f"service '{name}' failed: {type(err).__name__}: {err}", task, err) from err

    def create_task_exec_exception(self, task: Any, script: str, err: Exception) -> Exception:
        line_number, error_line = self.get_error_line_number_and_content(script, err)
        if isinstance(err, SpiffWorkflowException):
            err.line_number = line_number
            err.error_line = error_line
            err.add_note(f"Python script error on line {line_number}: '{error_line}'")
            spiff_error: Exception = err
            return spiff_error
        detail = type(err).__name__ + (f": {err}" if err.args else "")
        wrapped: Exception = _wrap(
            detail, task, err, line_number=line_number, error_line=error_line
        )
        return wrapped

    def get_error_line_number_and_content(self, script: str, err: Exception) -> tuple[int, str]:
        line_number = getattr(err, "script_line", None) or 0  # reported by a worker process
        if isinstance(err, ScriptRefused) and err.errors:
            line_number = err.errors[0].get("line") or 0
        frame = err.__traceback__
        while frame is not None:
            if frame.tb_frame.f_code.co_filename == SCRIPT_FILENAME:
                line_number = frame.tb_lineno
            frame = frame.tb_next
        lines = script.splitlines()
        return line_number, lines[line_number - 1] if 0 < line_number <= len(lines) else ""


def _wrap(message: str, task: Any, err: Exception, **details: Any) -> WorkflowTaskException:
    wrapped = WorkflowTaskException(message, task=task, exception=err, **details)
    wrapped.exception = err
    return wrapped


def original_error(error: BaseException) -> BaseException:
    """The exception a script, condition or service raised, under SpiffWorkflow's wrapping."""
    seen: set[int] = set()
    while isinstance(error, WorkflowTaskException) and id(error) not in seen:
        seen.add(id(error))
        inner = getattr(error, "exception", None) or error.__cause__ or error.__context__
        if inner is None:
            break
        error = inner
    return error


def make_script_engine(
    *,
    budget_seconds: float = 1.0,
    service_handlers: Mapping[str, Callable[..., Any]] | None = None,
    now: Callable[[], datetime] | None = None,
    helpers: HelperFactory | None = None,
    pool: ScriptPool | None = None,
    max_data_bytes: int = DEFAULT_MAX_DATA_BYTES,
) -> SandboxScriptEngine:
    """The script engine to give every ``BpmnWorkflow`` (``script_engine=...``)."""
    return SandboxScriptEngine(
        SandboxEnvironment(
            budget_seconds=budget_seconds,
            service_handlers=service_handlers,
            now=now,
            helpers=helpers,
            pool=pool,
            max_data_bytes=max_data_bytes,
        )
    )
