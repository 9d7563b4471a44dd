"""Settings, read once from the environment (prefix ``RETENTION_FLOW_``) or a ``.env`` file."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The development default; ``environment=production`` refuses to start with it.
PLACEHOLDER_SECRET = "development-only-secret-change-me-in-production"  # noqa: S105


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETENTION_FLOW_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/retention-flow.db",
        description="SQLAlchemy URL: SQLite file by default, postgresql+psycopg://... in prod",
    )
    db_pool_size: int = Field(default=10, ge=1)
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=0)
    auto_migrate: bool = Field(
        default=True, description="apply pending migrations when the service starts"
    )
    script_budget_seconds: float = Field(
        default=1.0, gt=0, description="wall-clock budget for one script or expression"
    )
    default_due: str = Field(default="P1D", description="ISO duration: default work item due time")
    default_priority: int = Field(default=50, ge=0, le=100)
    workflow_cache_size: int = Field(
        default=2048, ge=0, description="live workflows kept in memory per process (0 = off)"
    )
    due_calendar: Literal["calendar", "business"] = Field(
        default="calendar",
        description="count work-item due times in calendar time or in business hours "
        "(a task's dueCalendar property overrides it)",
    )
    business_timezone: str = Field(default="Europe/Berlin", description="IANA time zone")
    business_hours: str = Field(default="08:00-18:00", description="opening hours, local time")
    business_days: str = Field(default="mon,tue,wed,thu,fri", description="working days")
    holidays: list[date] = Field(default_factory=list, description="closed days (ISO dates)")
    processes_dir: str = Field(
        default="processes", description="folder of bundle folders that `demo` deploys"
    )
    demo_password: str | None = Field(
        default=None, description="password of the demo users (random and printed if unset)"
    )
    worker_poll_seconds: float = Field(default=1.0, gt=0, description="worker idle poll interval")
    api_threads: int | None = Field(
        default=None,
        ge=0,
        description="threads serving API requests per process (0: anyio's 40; unset: "
        "2 on SQLite, 8 on PostgreSQL, see api_threads_for)",
    )
    api_gc_thresholds: tuple[int, int, int] | None = Field(
        default=(100_000, 50, 1000),
        description="gc.set_threshold for API processes (unset: Python's 700, 10, 10). "
        "With hot workflows cached in memory, collections at Python's default pace walked "
        "the whole heap often enough to stall requests by ~100 ms (bench/http_load.py p99)",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    environment: Literal["development", "production"] = Field(
        default="development",
        description="production refuses to start with the placeholder secret key",
    )
    secret_key: str = Field(
        default=PLACEHOLDER_SECRET,
        description="HMAC key that signs access tokens (set a long random value in production)",
    )
    actor_cache_seconds: float = Field(
        default=5.0, ge=0, description="how long a process trusts a token's user lookup"
    )
    idempotency_pending_seconds: float = Field(
        default=120.0,
        gt=0,
        description="after how long an unanswered Idempotency-Key reservation counts as "
        "abandoned (its request died before its work committed) and may run again",
    )
    token_ttl_minutes: int = Field(default=60, ge=1, description="access token lifetime")
    session_ttl_minutes: int = Field(
        default=480, ge=1, description="web UI login lifetime (a signed, HttpOnly cookie)"
    )
    session_cookie_secure: bool = Field(
        default=False, description="send the web UI's cookies over HTTPS only (set behind TLS)"
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="failed logins in a row before the account is locked"
    )
    login_lock_minutes: int = Field(default=15, ge=1, description="how long a lock lasts")
    password_hash_time_cost: int = Field(default=3, ge=1, description="argon2id passes")
    password_hash_memory_kib: int = Field(default=65536, ge=8, description="argon2id memory")
    kpi_scorecard_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "retention_rate": 0.4,
            "service_level": 0.3,
            "first_contact_resolution": 0.2,
            "handling": 0.1,
            "quality": 0.2,
        },
        description="agent scorecard: weight of each KPI (JSON object)",
    )
    kpi_target_handling_seconds: float = Field(
        default=60.0, gt=0, description="handling time that scores full marks on the scorecard"
    )
    kpi_fcr_days: int = Field(
        default=7,
        ge=0,
        le=366,
        description="first-contact resolution: days in which a new case of the same customer "
        "counts as a repeat contact",
    )
    kpi_answer_seconds: float = Field(
        default=20.0, ge=0, description="answered in time: longest wait before work starts"
    )
    kpi_manual_target_seconds: float = Field(
        default=60.0, gt=0, description="manual work per case below this counts as on target"
    )
    kpi_offer_cost_cents: dict[str, int] = Field(
        default_factory=dict,
        description="monthly cost of each offer code in cents (JSON object), for cases "
        "whose data carries no offer_cost_cents",
    )
    qa_sample_per_agent: int = Field(
        default=5, ge=0, le=1000, description="QA: completed cases sampled per agent and period"
    )
    qa_strata: list[str] = Field(
        default_factory=lambda: ["channel", "outcome"],
        description="QA: what the sample is spread over (channel, outcome, process, offer)",
    )
    qa_double_share: float = Field(
        default=0.2, ge=0, le=1, description="QA: share of samples given to two reviewers"
    )
    qa_form: str = Field(
        default="qa_review.schema.json",
        max_length=400,
        description="QA: the checklist form schema in the bundle",
    )
    max_upload_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="largest request body accepted (413)"
    )
    scan_threads: int = Field(
        default=1,
        ge=1,
        description="threads reading one upload's pages in-process (inline); bench/scan_intake.py "
        "measured 2 no faster than 1 on a busy 2-core machine",
    )
    scan_async: bool = Field(
        default=False,
        description="answer uploads at once and leave the pages to `retention-flow worker`",
    )
    scan_job_attempts: int = Field(default=5, ge=1, description="tries of one page job")
    scan_stale_minutes: float = Field(
        default=10,
        gt=0,
        description="the worker dispatches again scan pages left queued this long",
    )
    scan_inbox: str | None = Field(
        default=None,
        description="folder the worker watches for scans (files move to processed/ or failed/)",
    )
    scan_inbox_settle_seconds: float = Field(
        default=2.0,
        ge=0,
        description="an inbox file is read once its size and mtime held still this long",
    )
    celery_broker_url: str | None = Field(
        default=None,
        description="Redis URL: scanned pages go to Celery workers (`worker --celery`)",
    )
    celery_queue: str = Field(default="ocr", description="the Celery queue of page tasks")

    def api_threads_for(self, dialect: str) -> int:
        """Threads serving requests. Measured (bench/http_load.py): SQLite writes one at a
        time, so more than 2 threads only queue on its write lock and convoy on the GIL;
        a PostgreSQL request waits on round trips and commits, which 8 threads overlap."""
        if self.api_threads is not None:
            return self.api_threads
        return 8 if dialect == "postgresql" else 2

    def startup_problems(self) -> list[str]:
        """Why this configuration must not serve (empty when it may)."""
        problems: list[str] = []
        if self.environment == "production":
            if self.secret_key == PLACEHOLDER_SECRET:
                problems.append("RETENTION_FLOW_SECRET_KEY is the placeholder")
            elif len(self.secret_key) < 32:
                problems.append("RETENTION_FLOW_SECRET_KEY is shorter than 32 characters")
        return problems


@lru_cache
def get_settings() -> Settings:
    return Settings()


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite file URL so the default works on a fresh checkout."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        Path(url[len(prefix) :]).expanduser().parent.mkdir(parents=True, exist_ok=True)
