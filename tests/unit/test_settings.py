"""Settings whose defaults depend on the database."""

from __future__ import annotations

import pytest

from retention_flow.core.config import Settings


@pytest.mark.parametrize(
    ("configured", "dialect", "expected"),
    [(None, "sqlite", 2), (None, "postgresql", 8), (4, "sqlite", 4), (0, "postgresql", 0)],
)
def test_api_threads_follow_the_database_unless_set(
    configured: int | None, dialect: str, expected: int
) -> None:
    settings = Settings(database_url="sqlite:///unused.db", api_threads=configured)
    assert settings.api_threads_for(dialect) == expected


def test_api_threads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETENTION_FLOW_API_THREADS", "3")
    assert Settings().api_threads_for("postgresql") == 3
