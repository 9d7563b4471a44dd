"""Settings, read once from the environment (prefix ``RETENTION_FLOW_``) or a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    host: str = "127.0.0.1"
    port: int = 8000


@lru_cache
def get_settings() -> Settings:
    return Settings()


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite file URL so the default works on a fresh checkout."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        Path(url[len(prefix) :]).expanduser().parent.mkdir(parents=True, exist_ok=True)
