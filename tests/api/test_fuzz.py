"""Property-based fuzzing of the REST API from its own OpenAPI schema (schemathesis).

Bounded: a few examples per operation, no deadline games. Every answer must be below
500 and, where the schema documents a body, match it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from retention_flow.api.app import create_app
from retention_flow.services.context import AppContext
from tests.factories import deploy

FUZZER_ROLES = ["agent", "telemarketing", "team_lead", "back_office", "process_owner", "auditor"]


@pytest.fixture
def fuzz_auth(ctx: AppContext, add_user: Callable[..., dict[str, str]]) -> dict[str, str]:
    deploy(ctx, "three_steps")
    return add_user("fuzzer", FUZZER_ROLES)


def test_no_server_errors_and_schema_holds(ctx: AppContext, fuzz_auth: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ctx))
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    failures: list[str] = []
    calls: list[tuple[str, int]] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            response = case.call_and_validate(headers=fuzz_auth, checks=checks)
            calls.append((case.path, response.status_code))

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert operations >= 20
    assert len(calls) >= operations and any(200 <= status < 300 for _, status in calls)
    assert not failures, "\n\n".join(failures)
