"""The API fuzz run (schemathesis, from the app's own OpenAPI document), shared by the
bounded CI test (``tests/api/test_fuzz.py``) and the longer ``bench/fuzz_api.py``.

Every operation is called by every role's user (its own token), ``examples`` generated
requests each; each operation gets an even share of ``seconds`` (past it, each remaining
role still makes one call), so the run is bounded and every operation is reached. Each
answer is checked: no server error, the content type documented, the body valid against
the documented schema.
``POST /api/auth/logout`` runs last (it revokes the token it is sent with). No
shrinking: a failing operation is reported with the request that failed first, so
the run's time stays bounded.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)
from schemathesis.core.result import Err
from schemathesis.generation import GenerationMode

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@dataclass
class FuzzReport:
    operations: int = 0
    operations_run: int = 0
    calls: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    #: "METHOD /path" -> answers by status code
    by_operation: dict[str, Counter[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stopped_early: bool = False

    @property
    def server_errors(self) -> int:
        return self.statuses["5xx"]

    def summary(self) -> str:
        classes = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return (
            f"{self.operations_run}/{self.operations} operations, {self.calls} calls in "
            f"{self.seconds:.1f} s ({classes}); {len(self.failures)} failing operation/role"
            + (" (some cut short at their share of the time)" if self.stopped_early else "")
        )


def fuzz(
    app: Any,
    tokens: dict[str, dict[str, str]],
    *,
    examples: int,
    seconds: float,
    derandomize: bool = True,
    known: dict[str, str] | None = None,
) -> FuzzReport:
    """Fuzz every operation of ``app`` as each role in ``tokens`` (name -> headers).

    Requests are valid by the schema (positive), invalid (negative: wrong types, missing
    fields, out of range), or valid with the path's ids taken from ``known`` (real
    cases, tasks, partners...), so that calls reach past the 404s."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # a schema schemathesis cannot read: no fuzzing of it
        operations.append(result.ok())
    # logging out ends the token it is sent with: last, or every later call answers 401
    operations.sort(key=lambda op: op.path == "/api/auth/logout")
    report = FuzzReport(operations=len(operations))
    started = time.monotonic()
    config = settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=derandomize,
        database=None,
        phases=[Phase.explicit, Phase.generate],
    )
    for index, operation in enumerate(operations):
        # an even share of the time per operation (time one leaves over goes to the next);
        # past it, each role still makes one call
        deadline = started + seconds * (index + 1) / len(operations)
        report.operations_run += 1
        name = f"{operation.method.upper()} {operation.path}"
        answers = report.by_operation.setdefault(name, Counter())
        strategy = _strategy(operation, known or {})
        for role, headers in tokens.items():
            try:
                _runner(strategy, headers, report, answers, config, deadline)()
            except _OutOfTime:
                report.stopped_early = True
            except Exception as exc:  # collect every operation's failure, then report all
                report.failures.append(f"{name} as {role}: {str(exc)[:2000]}")
    report.seconds = time.monotonic() - started
    return report


class _OutOfTime(Exception):
    """The operation's share of the run's time is used up."""


def _strategy(operation: Any, known: dict[str, str]) -> Any:
    strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )
    names = [p.name for p in operation.iter_parameters() if p.location.value == "path"]
    if names and all(n in known for n in names):
        fixed = {n: known[n] for n in names}
        strategy = strategy | operation.as_strategy(path_parameters=fixed)
    return strategy


def _runner(
    strategy: Any,
    headers: dict[str, str],
    report: FuzzReport,
    answers: Counter[int],
    config: Any,
    deadline: float,
) -> Any:
    calls = [0]

    @given(case=strategy)
    @config
    def run(case: Any) -> None:
        if calls[0] and time.monotonic() > deadline:
            raise _OutOfTime
        calls[0] += 1
        response = case.call(headers=headers)
        report.calls += 1
        report.statuses[f"{response.status_code // 100}xx"] += 1
        answers[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    return run
