"""The sandboxed script engine every diagram script, condition and DMN cell runs through.

Process owners write Python in diagrams; SpiffWorkflow runs it with plain ``exec``/``eval``
unless given another environment. ``SandboxEnvironment`` keeps SpiffWorkflow's data semantics
(task data in as variables, assignments out) but compiles with RestrictedPython plus a policy
of our own, exposes only an allow-list of builtins and helpers, checks operations that could
build huge results in C, and stops a script that runs past its time budget.

How the time budget works. The policy puts a ``_tick_()`` check at the top of every loop
body, function and lambda and into every comprehension; past the deadline each tick raises
``_BudgetInterrupt`` (a ``BaseException``, so ``except Exception`` in a script does not
catch it), and raises again at the next tick if a script swallowed it, so after the deadline
a script can only run a bounded amount of straight-line code. Work done in C in one
operation is bounded by the size checks instead. (A ``sys.settrace`` tracer was tried
first: on CPython 3.11 ``while True: pass`` produces no line events and tracing switches
off once the tracer raises, so it protected nothing the ticks do not, at 6x the cost.)
"""

from __future__ import annotations

import ast
import functools
import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import CodeType
from typing import Any, Literal, NamedTuple

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

from retention_flow.core.errors import ScriptBudgetExceeded, ScriptError, ScriptRefused
from retention_flow.engine import sandbox_helpers as h
from retention_flow.engine.sandbox_helpers import FORBIDDEN_NAMES, SAFE_BUILTINS

SCRIPT_FILENAME = "<bpmn-script>"
COMPILE_CACHE_SIZE = 2048

_BINOP_GUARDS = {
    ast.Pow: "_pow_",
    ast.Mult: "_mul_",
    ast.LShift: "_lshift_",
    ast.Add: "_add_",
    ast.Mod: "_mod_",
}
_ERROR_LINE = re.compile(r"^Line (\d+): (.*)$", re.DOTALL)


class _BudgetInterrupt(BaseException):
    """Stops a script past its deadline; ``except Exception`` in a script does not catch it."""


class _SandboxPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus our refusals and the rewrites of size-risky operations."""

    def _refuse(self, node: ast.AST, what: str) -> None:
        self.error(node, f"{what} is not allowed")

    def visit_Import(self, node: ast.Import) -> ast.AST:
        self._refuse(node, f"import of '{', '.join(alias.name for alias in node.names)}'")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        self._refuse(node, f"import from '{node.module or '.'}'")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self._refuse(node, "a class definition")
        return node

    def visit_While(self, node: ast.While) -> Any:
        node = super().visit_While(node)
        node.body.insert(0, self._tick(node))
        return node

    def visit_For(self, node: ast.For) -> Any:
        node = super().visit_For(node)
        node.body.insert(0, self._tick(node))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        node = super().visit_FunctionDef(node)
        node.body.insert(0, self._tick(node))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        node = super().visit_Lambda(node)
        node.body = self._call("_tick_", node.body, node.body)
        return node

    def visit_comprehension(self, node: ast.comprehension) -> Any:
        node = super().visit_comprehension(node)
        node.ifs.insert(0, self._call("_tick_", node.iter))
        return node

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        return node if guard is None else self._call(guard, node, node.left, node.right)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        node = self.node_contents_visit(node)
        if node.format_spec is not None:
            spec, conversion = node.format_spec, ast.Constant(node.conversion)
            node.value = self._call("_format_", node, node.value, spec, conversion)
            node.format_spec, node.conversion = None, -1
        return node

    def _tick(self, where: ast.stmt) -> ast.Expr:
        statement = ast.Expr(self._call("_tick_", where))
        copy_locations(statement, where)
        return statement

    @staticmethod
    def _call(helper: str, where: ast.AST, *args: ast.expr) -> ast.Call:
        call = ast.Call(func=ast.Name(helper, ast.Load()), args=list(args), keywords=[])
        copy_locations(call, where)
        return call


class CompiledScript(NamedTuple):
    code: CodeType
    unbound_forbidden: tuple[str, ...]
    """Forbidden names the script reads without assigning; refused unless task data has them."""


def _refusal(errors: list[str] | tuple[str, ...]) -> ScriptRefused:
    details = []
    for error in errors:
        match = _ERROR_LINE.match(error)
        line, message = (int(match[1]), match[2]) if match else (None, error)
        details.append({"line": line, "message": message})
    return ScriptRefused("; ".join(errors), errors=details)


@functools.lru_cache(maxsize=COMPILE_CACHE_SIZE)
def compile_script(source: str, mode: Literal["exec", "eval"]) -> CompiledScript:
    """Compile a script (``exec``) or expression (``eval``) under the sandbox policy.

    Cached per source string: the same gateway condition runs for every case. Refusals are
    raised as ``ScriptRefused`` (and, being exceptions, not cached).
    """
    if mode == "eval":
        source = source.strip()
    try:
        tree = ast.parse(source, SCRIPT_FILENAME, mode)
    except SyntaxError as err:
        raise _refusal([f"Line {err.lineno}: syntax error: {err.msg}"]) from None
    loaded: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.ExceptHandler) and node.name:
            bound.add(node.name)
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(tree, SCRIPT_FILENAME, policy=_SandboxPolicy)
    if result.errors:
        raise _refusal(result.errors)
    return CompiledScript(result.code, tuple(sorted((loaded - bound) & FORBIDDEN_NAMES)))


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """A ``TaskDataEnvironment`` look-alike that runs scripts in the sandbox.

    Task data shadows builtins and helpers (a variable called ``type`` or ``now`` works);
    the guard names RestrictedPython calls (``_getattr_``...) cannot be shadowed.
    """

    def __init__(
        self,
        *,
        budget_seconds: float = 1.0,
        service_handlers: Mapping[str, Callable[..., Any]] | None = None,
        now: Callable[[], datetime] | None = None,
        helpers: Mapping[str, Callable[..., Any]] | None = None,
    ) -> None:
        super().__init__({})
        self.budget_seconds = budget_seconds
        self.service_handlers = dict(service_handlers or {})
        self._guards: dict[str, Any] = {
            "__builtins__": {
                **SAFE_BUILTINS,
                "now": h.make_now(now or _utc_now),
                **(helpers or {}),
            },
            "_getattr_": h.guarded_getattr,
            "_getitem_": lambda obj, key: obj[key],
            "_getiter_": iter,
            "_write_": h.guarded_write,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_inplacevar_": h.guarded_inplacevar,
            "_apply_": lambda func, *args, **kwargs: func(*args, **kwargs),
            "_print_": h.discarding_print,
            "_format_": h.guarded_format,
            "_pow_": h.guarded_pow,
            "_mul_": h.guarded_mul,
            "_lshift_": h.guarded_lshift,
            "_add_": h.guarded_add,
            "_mod_": h.guarded_mod,
        }
        self._reserved = frozenset(self._guards) | {"_tick_"}

    def evaluate(
        self,
        expression: str,
        context: dict[str, Any],
        external_context: Mapping[str, Any] | None = None,
    ) -> Any:
        compiled = compile_script(expression, "eval")
        external = external_context or {}
        self._check_unbound(compiled, context, external)
        result = self._run(compiled.code, {**external, **context, **self._guards})
        if not h.is_result_data(result):
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
        sandbox's own names are removed. If the script fails, the task data's top-level keys
        are put back as they were (in-place changes to nested lists and dicts are not undone).
        """
        compiled = compile_script(script, "exec")
        external = external_context or {}
        clashes = set(external).intersection(context)
        if clashes:
            raise ValueError(f"task data overwrites data object(s): {sorted(clashes)}")
        self._check_unbound(compiled, context, external)
        before = dict(context)
        context.update(external)
        context.update(self._guards)
        try:
            self._run(compiled.code, context)
        except BaseException:
            context.clear()
            context.update(before)
            raise
        for key in list(context):
            if key in self._reserved or key in external or not h.is_plain(context[key]):
                del context[key]
        context.update({k: v for k, v in before.items() if k in self._reserved})
        return True

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


class SandboxScriptEngine(PythonScriptEngine):
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
            return err
        detail = type(err).__name__ + (f": {err}" if err.args else "")
        return _wrap(detail, task, err, line_number=line_number, error_line=error_line)

    def get_error_line_number_and_content(self, script: str, err: Exception) -> tuple[int, str]:
        line_number = 0
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
    helpers: Mapping[str, Callable[..., Any]] | None = None,
) -> SandboxScriptEngine:
    """The script engine to give every ``BpmnWorkflow`` (``script_engine=...``)."""
    return SandboxScriptEngine(
        SandboxEnvironment(
            budget_seconds=budget_seconds,
            service_handlers=service_handlers,
            now=now,
            helpers=helpers,
        )
    )
