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


@pytest.mark.parametrize("base", ["", "http://127.0.0.1:8000", "https://answer.example.invalid/x"])
def test_a_self_service_address_the_qr_code_can_carry(base: str) -> None:
    settings = Settings(database_url="sqlite:///unused.db", self_service_base_url=base)
    assert settings.self_service_base_url == base


@pytest.mark.parametrize(
    ("base", "why"),
    [
        ("answer.example.invalid", "should match pattern"),  # no scheme
        ("https://answer.example.invalid/#x", "should match pattern"),  # a fragment
        ("https://answer.example.invalid/?a=1", "should match pattern"),
        ("https://" + "a" * 57 + ".de", "at most 64 characters"),
    ],
)
def test_a_self_service_address_the_qr_code_cannot_carry_is_refused(base: str, why: str) -> None:
    with pytest.raises(ValueError, match="self_service_base_url") as refused:
        Settings(database_url="sqlite:///unused.db", self_service_base_url=base)
    assert why in str(refused.value)
