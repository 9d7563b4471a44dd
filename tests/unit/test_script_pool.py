"""Where scripts run: inline in this process (bounded straight-line code) or in a worker
process of the ``ScriptPool`` (everything else), and what crosses between them."""

from __future__ import annotations

import ast
import pickle
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from retention_flow.core.calendar import BusinessCalendar
from retention_flow.core.errors import ScriptBudgetExceeded, ScriptRefused
from retention_flow.engine.sandbox import SandboxEnvironment, compile_script
from retention_flow.engine.sandbox_dates import BusinessDue
from retention_flow.engine.sandbox_policy import is_inline
from retention_flow.engine.script_pool import ScriptPool, decode_answer

FROZEN = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pool() -> Iterator[ScriptPool]:
    workers = ScriptPool(2, 512 * 1024 * 1024, 0.25)
    workers.warm_up()
    yield workers
    workers.close()


class RecordingPool:
    """Stands in for a pool: records what would have gone to a worker."""

    def __init__(self, real: ScriptPool) -> None:
        self.real = real
        self.sent: list[str] = []

    def run(self, request: tuple[Any, ...]) -> Any:
        self.sent.append(request[1])
        return self.real.run(request)


@pytest.mark.parametrize(
    ("source", "inline"),
    [
        ('outcome = "retained"', True),
        ('offer_response == "accepted"', True),
        ("attempts = attempts + 1", True),
        ('allocation.get("partner_id") is None', True),
        ('(region) in ("north", "east")', True),
        ("len(eligible_offers) == 0 and not signed", True),
        ('x = a if b else "none"\ny = x', True),
        ("days_between(start, now()) > 30", True),
        ("str(x)", False),
        ("x.upper()", False),
        ("[x] * 20", False),
        ("x[1:]", False),
        ("f'{x}'", False),
        ("2 ** 10", False),
        ("sorted(x)", False),
        ("for i in x:\n    pass", False),
        ("y = [i for i in x]", False),
        ("x.y = 1", False),
        ("a, b = x", False),
        ("d['k'] = 1", False),
        ("len(x, key=1)", False),
        ("{'a': x}", False),
        ("add_duration(x, 'P1D')", False),
    ],
)
def test_inline_is_straight_line_code_bounded_by_the_data(source: str, inline: bool) -> None:
    assert is_inline(ast.parse(source)) is inline


def test_inline_scripts_stay_here_and_the_rest_go_to_a_worker(pool: ScriptPool) -> None:
    recording = RecordingPool(pool)
    env = SandboxEnvironment(budget_seconds=0.5, pool=recording)  # type: ignore[arg-type]
    context: dict[str, Any] = {"attempts": 1, "fee": 10}
    env.execute("attempts = attempts + 1\noutcome = 'retained'", context)
    assert env.evaluate("attempts >= 2", context) is True
    assert recording.sent == []
    env.execute("for i in range(3):\n    fee = fee + i", context)
    assert recording.sent == ["for i in range(3):\n    fee = fee + i"]
    assert context == {"attempts": 2, "outcome": "retained", "fee": 13, "i": 2}


def test_inline_script_meeting_a_big_value_runs_again_in_a_worker(pool: ScriptPool) -> None:
    recording = RecordingPool(pool)
    env = SandboxEnvironment(budget_seconds=0.5, pool=recording)  # type: ignore[arg-type]
    context: dict[str, Any] = {"s": "a" * 20_000, "n": 2}
    env.execute("t = s + s\nn = n + 1", context)
    assert recording.sent == ["t = s + s\nn = n + 1"]
    assert len(context["t"]) == 40_000 and context["n"] == 3
    assert env.evaluate("n * 10 ** 0", {"n": 2}) == 2  # '**' is never inline
    assert env.evaluate("n * n", {"n": 2**5000}) == 2**10000
    assert len(recording.sent) == 3


def test_worker_results_keep_sharing_and_failed_scripts_change_nothing(pool: ScriptPool) -> None:
    env = SandboxEnvironment(budget_seconds=0.5, pool=pool)
    context: dict[str, Any] = {"items": [1], "nested": {"k": [1]}}
    env.execute("alias = items\nitems.append(2)", context)
    assert context["alias"] is context["items"] and context["items"] == [1, 2]
    with pytest.raises(KeyError):
        env.execute("nested['k'].append(2)\nx = {}['missing']", context)
    assert context["nested"] == {"k": [1]}  # the worker changed a copy


def test_worker_sees_the_clock_and_the_business_calendar(pool: ScriptPool) -> None:
    calendar = BusinessCalendar.from_settings("Europe/Berlin", "08:00-18:00", "mon,tue", [])
    roles = {"specialist": BusinessCalendar.from_settings("UTC", "10:00-12:00", "mon", [])}
    env = SandboxEnvironment(
        budget_seconds=0.5,
        pool=pool,
        now=lambda: FROZEN,
        helpers=lambda moment: {"business_due": BusinessDue(calendar, roles, moment)},
    )
    context: dict[str, Any] = {}
    script = (
        "for i in [1]:\n    at = now()\n    due = business_due('PT12H')\n"
        "    special = business_due('PT1H', 'specialist')"
    )
    env.execute(script, context)
    assert context == {
        "i": 1,
        "at": "2026-01-05T09:00:00Z",
        "due": "2026-01-06T11:00:00Z",
        "special": "2026-01-05T11:00:00Z",
    }
    assert env.evaluate("business_due('PT1H')", {}) == "2026-01-05T10:00:00Z"


def test_worker_errors_keep_their_class_detail_and_line(pool: ScriptPool) -> None:
    env = SandboxEnvironment(budget_seconds=0.5, pool=pool)
    with pytest.raises(ScriptRefused, match="'\\*' repetition producing") as refused:
        env.execute("x = 1\nfor i in [1]:\n    y = 'a' * 10 ** 9", {})
    assert refused.value.script_line == 3  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"^bad fee$"):
        env.execute("for i in [1]:\n    raise ValueError('bad fee')", {})


def test_answers_are_decoded_as_data_only() -> None:
    values = ("ok", {"at": FROZEN, "d": date(2026, 1, 5), "t": timedelta(1), "s": {1}})
    assert decode_answer(pickle.dumps(values)) == values
    with pytest.raises(pickle.UnpicklingError, match="answered with a"):
        decode_answer(pickle.dumps(("ok", ScriptRefused("x"))))
    with pytest.raises(pickle.UnpicklingError):
        decode_answer(b"cos\nsystem\n(S'true'\ntR.")


def test_a_killed_worker_is_replaced_and_threads_share_the_pool(pool: ScriptPool) -> None:
    env = SandboxEnvironment(budget_seconds=0.2, pool=pool)
    kills = pool.kills
    dag = "t = (0,)\nu = (0,)\nfor i in range(90):\n    t = (t, t)\n    u = (u, u)\nx = t == u"
    with pytest.raises(ScriptBudgetExceeded, match="its worker process was killed"):
        env.execute(dag, {})
    assert pool.kills == kills + 1
    for worker in list(pool._idle):  # a worker that died while idle is replaced on use
        worker.process.kill()
        worker.process.wait()

    results: list[Any] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for _ in range(20):
                results.append(env.evaluate("sum(range(n))", {"n": n}) == n * (n - 1) // 2)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == [True] * 160


def test_compile_marks_inline_scripts_and_their_assignments() -> None:
    compiled = compile_script("a = 1\nb = a + 1", "exec")
    assert compiled.inline and compiled.assigned == ("a", "b")
    assert not compile_script("a = str(x)", "exec").inline
    # classified inline, but '*' on a list is not small arithmetic: it runs in a worker
    assert compile_script("a = [1] * 3", "exec").inline


def test_workers_start_on_first_use_or_on_start() -> None:
    lazy = ScriptPool(1, 256 * 1024 * 1024, 0.25)
    try:
        assert lazy._count == 0  # a command that runs no script starts no process
        env = SandboxEnvironment(budget_seconds=5.0, pool=lazy)
        assert env.evaluate("sorted([2, 1])", {}) == [1, 2]
        assert lazy._count == 1
    finally:
        lazy.close()
