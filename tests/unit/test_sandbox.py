"""The sandboxed script environment: data semantics, helpers, refusals and the time budget."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from retention_flow.core.errors import ScriptBudgetExceeded, ScriptError, ScriptRefused
from retention_flow.engine.sandbox import (
    SandboxEnvironment,
    compile_script,
    make_script_engine,
    original_error,
)
from retention_flow.engine.script_pool import ScriptPool

FROZEN = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
BUDGET = 0.2
HOSTILE = Path(__file__).parent.parent / "data" / "hostile"


@pytest.fixture(scope="module")
def pool() -> Iterator[ScriptPool]:
    workers = ScriptPool(2, 512 * 1024 * 1024, 0.25)
    workers.warm_up()
    yield workers
    workers.close()


@pytest.fixture(params=["here", "worker"])
def env(request: pytest.FixtureRequest, pool: ScriptPool) -> SandboxEnvironment:
    """Every test runs twice: scripts in this process, and (but inline ones) in a worker."""
    return SandboxEnvironment(
        budget_seconds=BUDGET,
        now=lambda: FROZEN,
        pool=pool if request.param == "worker" else None,
    )


# --- data semantics ----------------------------------------------------------------------------


def test_evaluate_sees_task_data_over_external_context(env: SandboxEnvironment) -> None:
    assert env.evaluate("attempts < limit", {"attempts": 2}, {"limit": 3}) is True
    assert env.evaluate("x", {"x": "task"}, {"x": "external"}) == "task"


def test_evaluate_leaves_task_data_alone(env: SandboxEnvironment) -> None:
    context = {"attempts": 2}
    assert env.evaluate("  attempts + 1\n", context) == 3
    assert context == {"attempts": 2}


def test_execute_turns_assignments_into_task_data(env: SandboxEnvironment) -> None:
    context: dict[str, Any] = {"attempts": 1, "notes": ["called"]}
    assert env.execute("attempts += 1\nnotes.append('mailed')\nlabel = 'retry'", context)
    assert context == {"attempts": 2, "notes": ["called", "mailed"], "label": "retry"}


def test_execute_keeps_only_plain_data(env: SandboxEnvironment) -> None:
    context: dict[str, Any] = {"fee": 10}
    script = (
        "def double(value):\n"
        "    return value * 2\n"
        "triple = lambda value: value * 3\n"
        "fees = (f for f in [fee])\n"
        "tags = {'a', 'b'}\n"
        "window = range(3)\n"
        "when = parse_date('2026-01-05')\n"
        "pairs = [(1, 'a')]\n"
        "nested = {'list': [1, 2.5, None, True], 'key': {'deeper': 'yes'}}\n"
        "bad_nested = {'fn': double}\n"
        "print('hello')\n"
        "result = double(fee) + triple(fee)\n"
    )
    env.execute(script, context)
    assert context == {
        "fee": 10,
        "pairs": [(1, "a")],
        "nested": {"list": [1, 2.5, None, True], "key": {"deeper": "yes"}},
        "result": 50,
    }


def test_task_data_shadows_builtins_and_helpers(env: SandboxEnvironment) -> None:
    context = {"type": "premium", "now": "yesterday", "min": 3}
    env.execute("label = type + ' ' + now + ' ' + str(min)", context)
    assert context["label"] == "premium yesterday 3"


def test_execute_drops_external_context_and_refuses_clashes(env: SandboxEnvironment) -> None:
    context: dict[str, Any] = {"a": 1}
    env.execute("b = a + shared", context, {"shared": 10})
    assert context == {"a": 1, "b": 11}
    with pytest.raises(ValueError, match="shared"):
        env.execute("b = 1", {"shared": 1}, {"shared": 2})


def test_failed_script_puts_task_data_back(env: SandboxEnvironment) -> None:
    context = {"a": 1}
    with pytest.raises(ZeroDivisionError):
        env.execute("a = 5\nb = 2\nc = 1 / 0", context)
    assert context == {"a": 1}


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ("x = missing + 1", NameError),
        ("x = 1 / 0", ZeroDivisionError),
        ("x = 'a' + 1", TypeError),
        ("x = {}['k']", KeyError),
        ("raise ValueError('business rule broken')", ValueError),
    ],
)
def test_ordinary_errors_propagate_unchanged(
    env: SandboxEnvironment, script: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        env.execute(script, {})


def test_scripts_can_catch_ordinary_errors(env: SandboxEnvironment) -> None:
    context: dict[str, Any] = {"raw": "12x"}
    env.execute("try:\n    n = int(raw)\nexcept ValueError:\n    n = 0", context)
    assert context["n"] == 0


def test_syntax_error_is_refused_with_its_line(env: SandboxEnvironment) -> None:
    with pytest.raises(ScriptRefused, match="Line 2: syntax error") as caught:
        env.execute("a = 1\nb = (\n", {})
    assert caught.value.errors[0]["line"] == 2


def test_print_writes_nowhere(env: SandboxEnvironment, capsys: pytest.CaptureFixture[str]) -> None:
    context: dict[str, Any] = {}
    env.execute("print('leak')\nshown = printed", context)
    assert capsys.readouterr().out == ""
    assert context == {"shown": ""}


def test_compiled_code_is_cached_per_source() -> None:
    assert compile_script("attempts < 3", "eval") is compile_script("attempts < 3", "eval")
    assert compile_script("attempts < 3", "eval") is not compile_script("attempts < 4", "eval")


# --- helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("now()", "2026-01-05T09:00:00Z"),
        ("add_duration(now(), 'P14D')", "2026-01-19T09:00:00Z"),
        ("add_duration('2026-01-05T09:00:00Z', 'PT2H30M')", "2026-01-05T11:30:00Z"),
        ("add_duration('2026-01-05T09:00:00+02:00', 'P1W')", "2026-01-12T07:00:00Z"),
        ("add_duration('2026-01-31', 'P1M')", "2026-02-28"),
        ("add_duration('2024-02-29', 'P1Y')", "2025-02-28"),
        ("add_duration('2026-03-01', '-P1D')", "2026-02-28"),
        ("add_duration('2026-03-01', 'PT1,5S')", "2026-03-01T00:00:01.500000Z"),
        ("days_between('2026-01-01', '2026-03-01')", 59),
        ("days_between('2026-03-01T23:00:00Z', '2026-01-01')", -59),
        ("days_between('2026-01-05T23:30:00-02:00', now())", -1),
        ("parse_date('2026-01-05').year", 2026),
        ("parse_date('2026-01-05T10:00:00Z') > parse_date('2026-01-05')", True),
        ("floor(2.7) + ceil(2.1)", 5),
        ("sorted(zip([2, 1], 'ba'))", [(1, "a"), (2, "b")]),
        ("isinstance(attempts, int) and max(attempts, 4) == 4", True),
    ],
)
def test_helpers(env: SandboxEnvironment, expression: str, expected: Any) -> None:
    assert env.evaluate(expression, {"attempts": 2}) == expected


@pytest.mark.parametrize("expression", ["add_duration(now(), 'P')", "parse_date('soon')"])
def test_helpers_reject_bad_input_as_ordinary_errors(
    env: SandboxEnvironment, expression: str
) -> None:
    with pytest.raises(ValueError, match="not an ISO-8601"):
        env.evaluate(expression, {})


def test_now_defaults_to_the_system_clock() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    value = SandboxEnvironment().evaluate("now()", {})
    assert value.endswith("Z")
    assert datetime.fromisoformat(value) >= before


# --- size guards do not get in the way of ordinary scripts ---------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2 ** 10", 1024),
        ("2 ** -1", 0.5),
        ("'ab' * 3", "ababab"),
        ("3 * [0]", [0, 0, 0]),
        ("1 << 4", 16),
        ("7 % 3", 1),
        ("[1] + [2]", [1, 2]),
        ("'%05.1f' % 3.14159", "003.1"),
        ("'%(name)s-%d' % {'name': 'x'} if False else '%s-%d' % ('x', 7)", "x-7"),
        ("f'{fee:.2f}|{name!r:>5}'", "12.50|  'a'"),
        ("'a-b'.replace('-', '')", "ab"),
        ("', '.join(x for x in ['a', 'b'])", "a, b"),
        ("'7'.zfill(3) + 'x'.ljust(2, '.')", "007x."),
        ("'a\\tb'.expandtabs(2)", "a b"),
        ("'abc'.translate({97: 'xy'})", "xybc"),
        ("round(2.567, 2)", 2.57),
        ("sum([1, 2], 10)", 13),
        ("list(range(2, 8, 2))", [2, 4, 6]),
    ],
)
def test_guarded_operations_still_work(
    env: SandboxEnvironment, expression: str, expected: Any
) -> None:
    assert env.evaluate(expression, {"fee": 12.5, "name": "a"}) == expected


def test_guarded_inplace_operations_still_work(env: SandboxEnvironment) -> None:
    context: dict[str, Any] = {"items": [1]}
    alias_script = "alias = items\nitems += [2]\nitems *= 2\nn = 3\nn **= 2\nn <<= 1\nn %= 7"
    env.execute(alias_script, context)
    assert context["items"] == [1, 2, 1, 2]
    assert context["alias"] is context["items"]  # += on a list stays in place, as in Python
    assert context["n"] == 4


# --- hostile scripts ---------------------------------------------------------------------------

REFUSED = [
    ("import os", "import of 'os'"),
    ("from os import path", "import from 'os'"),
    ("__import__('os')", '"__import__" is an invalid variable name'),
    ("data = open('/etc/passwd').read()", "name 'open' is not allowed"),
    ("x = ().__class__.__base__.__subclasses__()", '"__class__" is an invalid attribute'),
    ("y = getattr(x, '__class__')", "name 'getattr' is not allowed"),
    ("y = x.__dict__", '"__dict__" is an invalid attribute'),
    ("y = type(x)", "name 'type' is not allowed"),
    ("y = vars()", "name 'vars' is not allowed"),
    ("y = eval('1')", "Eval calls are not allowed"),
    ("exec('x = 1')", "Exec calls are not allowed"),
    ("y = compile('1', 'f', 'eval')", "name 'compile' is not allowed"),
    ("y = globals()", "name 'globals' is not allowed"),
    ("y = iter([1])", "name 'iter' is not allowed"),
    ("y = input()", "name 'input' is not allowed"),
    ("y = [].__class__", '"__class__" is an invalid attribute'),
    ("y = (lambda: 1).__code__", '"__code__" is an invalid attribute'),
    ("y = (i for i in [1]).gi_frame", '"gi_frame" is a restricted name'),
    ("y = sys.modules['os']", "name 'sys' is not allowed"),
    ("y = __builtins__['open']", '"__builtins__" is an invalid variable name'),
    ("y = int.mro()", "attribute 'mro' of type"),
    ("y = '{0.__class__}'.format(1)", "attribute 'format' of str"),
    ("y = '{x.__class__}'.format_map({'x': 1})", "attribute 'format_map' of str"),
    ("y = str.format('{0.__class__}', 1)", "attribute 'format' of type"),
    ("class Escape:\n    pass", "a class definition is not allowed"),
    ("y = 2 ** 10 ** 10", "'**' with exponent 10,000,000,000"),
    ("y = (10 ** 100) ** 5000", "'**' producing an integer"),
    ("y = 'a' * 10 ** 9", "'*' repetition producing 1,000,000,000 items"),
    ("y = [0] * 10 ** 9", "'*' repetition producing 1,000,000,000 items"),
    ("y = 10 ** 9 * (0,)", "'*' repetition producing 1,000,000,000 items"),
    ("y = 2 ** 9000\nfor i in range(20):\n    y = y * y", "'*' producing an integer"),
    ("y = 1 << 10 ** 9", "'<<' by 1,000,000,000 bits"),
    ("y = list(range(10 ** 12))", "range() producing 1,000,000,000,000 items"),
    ("y = range(10 ** 30)", "range() producing"),
    ("s = 'a'\nfor i in range(40):\n    s += s", "'+=' concatenation"),
    ("s = [0]\nfor i in range(40):\n    s += s", "'+=' concatenation"),
    ("s = [0] * 1000\nfor i in range(40):\n    s = s + s", "'+' concatenation"),
    ("s = [0]\ns *= 10 ** 9", "'*=' repetition"),
    ("y = 'x'.ljust(10 ** 9)", "padding"),
    ("y = ('a' * 1000).replace('a', 'b' * 1000000)", "replace()"),
    ("y = ('\\t' * 1000).expandtabs(10 ** 6)", "expandtabs()"),
    ("y = ('x' * 1000).join(['a'] * 10 ** 6)", "join()"),
    ("y = ''.join(['a' * 10 ** 6] * 1000)", "join()"),
    ("y = ('a' * 10 ** 6).translate({97: 'b' * 10 ** 6})", "translate()"),
    ("y = ('a' * 10 ** 6).translate(['b' * 10 ** 6] * 128)", "translate()"),
    ("y = str.ljust('x', 10 ** 9)", "attribute 'ljust' of the str type"),
    ("y = f'{1:>{10 ** 9}}'", "f-string format with width or precision 1000000000"),
    ("y = f'{1.0:.1000000}'", "f-string format with width or precision 1000000"),
    ("y = '%1000000000d' % 1", "'%' format with width or precision 1000000000"),
    ("y = '%*d' % (10 ** 9, 1)", "'*' width in a '%' format"),
    ("y = round(5, -10 ** 7)", "round() to -10,000,000 digits"),
    ("y = sum([[0] * 1000] * 1000, [])", "sum() with a non-numeric start"),
    ("y = (1).to_bytes(10 ** 9, 'big')", "attribute 'to_bytes' of int"),
    ("x = 'abc'\nx.upper = 1", "assigning into a str"),
]

STOPPED = [
    "while True: pass",
    "x = 0\nwhile True:\n    x = x + 1",
    "while True:\n    try:\n        while True:\n            pass\n    except:\n        pass",
    "while True:\n    try:\n        while True:\n            pass\n    finally:\n        continue",
    "items = [0]\nfor x in items:\n    items.append(x)",
    "items = [0]\nseen = [items.append(x) for x in items]",
    "f = lambda n: n and (f(n - 1), f(n - 1))\nf(60)",
    "def f(n):\n    return [f(n - 1) for _ in range(2)] if n else 0\nf(60)",
    "def g():\n    while True:\n        yield 1\ntotal = sum(g())",
]


@pytest.mark.parametrize(("script", "detail"), REFUSED)
def test_hostile_script_is_refused(env: SandboxEnvironment, script: str, detail: str) -> None:
    context: dict[str, Any] = {"x": 1}
    started = time.monotonic()
    with pytest.raises(ScriptRefused) as caught:
        env.execute(script, context)
    assert detail in caught.value.detail
    assert time.monotonic() - started < 2.0
    assert context == {"x": 1}


@pytest.mark.parametrize("script", STOPPED)
def test_endless_script_is_stopped_by_the_budget(env: SandboxEnvironment, script: str) -> None:
    context: dict[str, Any] = {}
    started = time.monotonic()
    with pytest.raises(ScriptBudgetExceeded, match=f"script ran longer than {BUDGET} s"):
        env.execute(script, context)
    assert time.monotonic() - started < BUDGET + 2.0
    assert context == {}


@pytest.mark.parametrize(
    "expression",
    [
        "len([items.append(x) for items in [[0]] for x in items]) > 0",
        "sum(1 for items in [[0]] for x in items if items.append(x) is None)",
    ],
)
def test_endless_expression_is_stopped_by_the_budget(
    env: SandboxEnvironment, expression: str
) -> None:
    with pytest.raises(ScriptBudgetExceeded):
        env.evaluate(expression, {})


@pytest.mark.parametrize(
    ("expression", "produced"),
    [("lambda: 1", "function"), ("(x for x in [1])", "generator"), ("[len]", "list")],
)
def test_expressions_must_produce_data(
    env: SandboxEnvironment, expression: str, produced: str
) -> None:
    with pytest.raises(ScriptRefused, match=f"an expression producing a {produced}"):
        env.evaluate(expression, {})


def test_forbidden_names_are_refused_only_when_task_data_lacks_them(
    env: SandboxEnvironment,
) -> None:
    with pytest.raises(ScriptRefused, match="name 'open' is not allowed"):
        env.evaluate("open", {})
    assert env.evaluate("open", {"open": True}) is True


def test_work_within_the_budget_completes(env: SandboxEnvironment) -> None:
    context: dict[str, Any] = {}
    env.execute("total = 0\nfor i in range(10000):\n    total += i", context)
    assert context["total"] == sum(range(10000))


def test_budget_restores_the_previous_tracer(env: SandboxEnvironment) -> None:
    def outer_tracer(frame: Any, event: str, arg: Any) -> None:
        return None

    original = sys.gettrace()
    sys.settrace(outer_tracer)
    try:
        with pytest.raises(ScriptBudgetExceeded):
            env.execute("while True:\n    pass", {})
        assert sys.gettrace() is outer_tracer
        env.evaluate("1 + 1", {})
        assert sys.gettrace() is outer_tracer
    finally:
        sys.settrace(original)


# --- service tasks and the script engine ------------------------------------------------------


def test_call_service_runs_the_handler_and_returns_json() -> None:
    calls: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def lookup(context: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        calls.append((context, params))
        return {"active": True, "id": params["customer_id"]}

    env = SandboxEnvironment(service_handlers={"crm_lookup": lookup})
    context = {"customer_id": 7}
    result = env.call_service(
        context,
        operation_name="crm_lookup",
        operation_params={"customer_id": {"value": 7, "type": "int"}},
    )
    assert result == '{"active": true, "id": 7}'
    assert calls == [(context, {"customer_id": 7})]
    with pytest.raises(ScriptError, match="unknown service 'billing'"):
        env.call_service(context, operation_name="billing", operation_params={})


@pytest.fixture
def ready_task() -> Any:
    """A real SpiffWorkflow task to hand to the script engine."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(HOSTILE / "import_os.bpmn"))
    workflow = BpmnWorkflow(parser.get_spec("hostile_import_os"))
    return workflow.get_tasks(state=TaskState.READY)[0]


@pytest.mark.parametrize("where", ["here", "worker"])
def test_engine_reports_the_failing_line_and_keeps_the_original(
    ready_task: Any, pool: ScriptPool, where: str
) -> None:
    engine = make_script_engine(budget_seconds=BUDGET, pool=pool if where == "worker" else None)
    with pytest.raises(WorkflowTaskException) as caught:
        engine.execute(ready_task, "a = 1\nfor i in [1]:\n    b = {}[5]")
    assert isinstance(original_error(caught.value), KeyError)
    assert (caught.value.line_number, caught.value.error_line) == (3, "    b = {}[5]")

    with pytest.raises(WorkflowTaskException) as caught:
        engine.execute(ready_task, "a = 1\nimport os")
    assert isinstance(original_error(caught.value), ScriptRefused)
    assert caught.value.line_number == 2

    with pytest.raises(WorkflowTaskException) as caught:
        engine.evaluate(ready_task, "1 / 0")
    assert isinstance(original_error(caught.value), ZeroDivisionError)


def test_engine_wraps_service_failures(ready_task: Any) -> None:
    def broken(context: dict[str, Any], params: dict[str, Any]) -> None:
        raise ConnectionError("crm down")

    engine = make_script_engine(service_handlers={"crm_lookup": broken})
    with pytest.raises(WorkflowTaskException, match="service 'crm_lookup' failed") as caught:
        engine.call_service(ready_task, operation_name="crm_lookup", operation_params={})
    assert isinstance(original_error(caught.value), ConnectionError)
