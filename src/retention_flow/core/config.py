"""Settings, read once from the environment (prefix ``RETENTION_FLOW_``) or a ``.env`` file."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from .settings_groups import RoutingSettings, SelfServiceSettings, SimulationSettings

#: The development default; ``environment=production`` refuses to start with it.
PLACEHOLDER_SECRET = "development-only-secret-change-me-in-production"  # noqa: S105
MIN_METRICS_TOKEN_LENGTH = 16


class Settings(RoutingSettings, SelfServiceSettings, SimulationSettings):
    model_config = SettingsConfigDict(env_prefix="RETENTION_FLOW_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/retention-flow.db",
        description="SQLAlchemy URL: SQLite file by default, postgresql+psycopg://... in prod",
    )
    db_pool_size: int = Field(default=10, ge=1)
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=0)
    sqlite_checkpoint_interval_ms: int = Field(
        default=100,
        ge=0,
        description="SQLite: a background thread checkpoints the WAL this often, off the "
        "step path (0: commits checkpoint every 1000 pages, SQLite's default)",
    )
    auto_migrate: bool = Field(
        default=True, description="apply pending migrations when the service starts"
    )
    script_budget_seconds: float = Field(
        default=1.0, gt=0, description="wall-clock budget for one script or expression"
    )
    script_workers: int = Field(
        default=2,
        ge=0,
        description="worker processes per serving process that run diagram scripts (0: run "
        "them in the serving process, where one C call can freeze it; tests and tools only)",
    )
    script_memory_mb: int = Field(
        default=512, ge=128, description="address-space limit of a script worker process"
    )
    script_kill_grace_seconds: float = Field(
        default=0.25,
        gt=0,
        description="a script worker still busy this long after the budget is killed",
    )
    script_max_data_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        description="largest task data (as JSON text, about) a script or expression may leave",
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
    serve_worker: bool = Field(
        default=True,
        description="`serve` also runs the worker (timers, jobs) in a background thread; "
        "false for deployments that run `retention-flow worker` separately",
    )
    job_lease_seconds: float = Field(
        default=300.0,
        gt=0,
        description="how long a job taken without a heartbeat (direct calls of "
        "`worker.run_jobs_once`) is held; the worker loop and `worker --once` lease for "
        "`worker_lease_seconds` and renew by heartbeat instead",
    )
    worker_lease_seconds: float = Field(
        default=10.0,
        ge=0.3,
        le=3600,
        description="lease on the timers and jobs a worker (or `serve`) takes; its "
        "heartbeat renews what it still holds every third of it, so the work of a worker "
        "that died is taken over within this time plus one poll",
    )
    migration_batch_size: int = Field(
        default=200, ge=1, le=10_000, description="cases one case-migration job migrates"
    )
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
    idempotency_ttl_hours: float = Field(
        default=24.0,
        gt=0,
        description="how long an Idempotency-Key's answer is kept (and replayed) after the "
        "request that sent it first; the same key later is a new request",
    )
    token_ttl_minutes: int = Field(default=60, ge=1, description="access token lifetime")
    session_ttl_minutes: int = Field(
        default=480, ge=1, description="web UI login lifetime (a signed, HttpOnly cookie)"
    )
    session_cookie_secure: bool = Field(
        default=False, description="send the web UI's cookies over HTTPS only (set behind TLS)"
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="failed logins for one user name from one client address before that "
        "address must wait (other addresses are not affected)",
    )
    login_delay_seconds: int = Field(
        default=30,
        ge=1,
        description="the first wait after login_max_failures; it doubles with each further "
        "failure from that address",
    )
    login_max_delay_minutes: int = Field(
        default=15, ge=1, description="the longest wait between login attempts"
    )
    login_failure_window_minutes: int = Field(
        default=60,
        ge=1,
        description="failures older than this (since the last one) are forgotten",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="bearer token a scraper sends to GET /metrics (16+ characters, or the "
        "app refuses to start); unset or empty, /metrics needs a user token with the admin "
        "or system role",
    )
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
    case_data_max_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="largest case data (its JSON encoding, in bytes) a request may send or a "
        "step may leave (413)",
    )
    case_data_max_keys: int = Field(
        default=2000,
        ge=10,
        description="most object members plus array items in case data, all levels (413)",
    )
    case_data_max_depth: int = Field(
        default=16, ge=2, description="deepest nesting of objects/arrays in case data (422)"
    )
    case_data_max_string: int = Field(
        default=32_768, ge=64, description="longest string (characters) in case data (422)"
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
    scan_max_pages: int = Field(
        default=50, ge=1, description="pages of all files of one upload request together (413)"
    )
    scan_max_page_pixels: int = Field(
        default=60_000_000,
        ge=1_000_000,
        description="pixels of one page (an image frame, a PDF page at 300 dpi) (413)",
    )
    scan_max_request_pixels: int = Field(
        default=450_000_000,
        ge=1_000_000,
        description="pixels of all pages of one upload request (50 A4 pages at 300 dpi fit) (413)",
    )
    scan_max_image_pixels: int = Field(
        default=60_000_000,
        ge=1_000_000,
        description="pixels the images embedded in one PDF page declare, together (413)",
    )
    scan_max_page_objects: int = Field(
        default=100_000, ge=100, description="drawing objects of one PDF page, forms' included"
    )
    scan_page_seconds: float = Field(
        default=1.0,
        gt=0,
        description="CPU seconds a decoder child may spend on one page (decode, draw) (413)",
    )
    scan_file_seconds: float = Field(
        default=30.0, gt=0, description="CPU seconds a decoder child may spend on one file (413)"
    )
    scan_decode_memory_mb: int = Field(
        default=1024, ge=64, description="memory a decoder child may add to its start size"
    )
    scan_decode_concurrency: int = Field(
        default=2, ge=1, description="files decoded at once per process (decoder children)"
    )
    scan_decode_wait_seconds: float = Field(
        default=10.0,
        ge=0,
        description="how long an upload waits for a free decoder before 503 with Retry-After",
    )
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
    audit_key_file: str = Field(
        default="./var/audit-keys.json",
        description="JSON file of the audit seal (HMAC) and checkpoint signing (Ed25519) keys, "
        "created 0600 on first use outside production; keep it outside the database and its "
        "backups (production: a mounted secret)",
    )
    audit_keys: SecretStr | None = Field(
        default=None,
        description="the audit keys as JSON (the key file's format) from a secret store; "
        "when set, the key file is not used",
    )
    audit_checkpoint_file: str = Field(
        default="./var/audit-checkpoints.jsonl",
        description="append-only file of signed checkpoints of every audit stream's head "
        "(keep it outside the database, ideally on write-once storage)",
    )
    audit_checkpoint_seconds: float = Field(
        default=300.0,
        ge=0,
        description="how often `retention-flow worker` writes a checkpoint (0: never; "
        "`retention-flow audit checkpoint` writes one on demand)",
    )
    heatmap_rollup_seconds: float = Field(
        default=60.0,
        ge=0,
        description="how often `retention-flow worker` rolls the new audit events up for the "
        "heatmap (0: never; `retention-flow heatmap catch-up` does it on demand)",
    )

    def api_threads_for(self, dialect: str) -> int:
        """Threads serving requests. Measured (bench/http_load.py): SQLite writes one at a
        time, so more than 2 threads only queue on its write lock and convoy on the GIL;
        a PostgreSQL request waits on round trips and commits, which 8 threads overlap."""
        if self.api_threads is not None:
            return self.api_threads
        return 8 if dialect == "postgresql" else 2

    def startup_problems(self) -> list[str]:
        """Why this configuration must not serve (empty when it may): in production the
        placeholder or a short secret key, or a simulated clock; anywhere, a metrics token
        short enough to guess."""
        problems: list[str] = []
        token = self.metrics_token.get_secret_value() if self.metrics_token else ""
        if 0 < len(token.strip()) < MIN_METRICS_TOKEN_LENGTH:
            problems.append(
                f"RETENTION_FLOW_METRICS_TOKEN is shorter than {MIN_METRICS_TOKEN_LENGTH} "
                "characters"
            )
        if self.environment == "production":
            if self.secret_key == PLACEHOLDER_SECRET:
                problems.append("RETENTION_FLOW_SECRET_KEY is the placeholder")
            elif len(self.secret_key) < 32:
                problems.append("RETENTION_FLOW_SECRET_KEY is shorter than 32 characters")
            if self.sim_clock_start is not None:
                problems.append("RETENTION_FLOW_SIM_CLOCK_START is set (simulations only)")
        return problems


@lru_cache
def get_settings() -> Settings:
    return Settings()


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite file URL so the default works on a fresh checkout."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        Path(url[len(prefix) :]).expanduser().parent.mkdir(parents=True, exist_ok=True)
