"""Groups of settings that ``core.config.Settings`` inherits (one class would pass the
module size limit): outcome-based routing, and the customer self-service link. The
environment prefix and ``.env`` come from ``Settings``' own ``model_config``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings


class RoutingSettings(BaseSettings):
    """How "next task" offers work (services/routing/offering.py)."""

    routing_policy: Literal["outcome", "skills", "fifo"] = Field(
        default="outcome", description="how next task picks: outcome-based, skills only, FIFO"
    )
    routing_at_risk_minutes: float = Field(
        default=30.0, ge=0, description="a task due within this is at risk and offered first"
    )
    routing_prior_strength: float = Field(
        default=20.0, ge=0, description="cases of the team's rate an agent's rate is shrunk by"
    )
    routing_exploration: float = Field(
        default=0.05, ge=0, le=1, description="share of offers picked at random (learning)"
    )
    routing_hold_below: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="hold a task from an agent expected below "
        "this share of the team's rate for its segment, until it is at risk (0: never)",
    )
    routing_wait_weight: float = Field(
        default=0.01, ge=0, description="score per hour a task has waited (ages old work in)"
    )
    routing_specialist_bonus: float = Field(
        default=0.1, ge=0, description="score for a task needing skills (few can take it)"
    )
    routing_history_days: int = Field(default=90, ge=1, description="outcome history learned")
    routing_rates_seconds: float = Field(default=60.0, ge=0, description="learned rates cache")


class SelfServiceSettings(BaseSettings):
    """The personal link on retention letters (services/outreach/self_service.py)."""

    self_service_base_url: str = Field(
        default="http://127.0.0.1:8000",
        max_length=64,
        pattern=r"^(https?://[^#?\s]+)?$",
        description="the public address printed in customers' self-service links "
        "(letters, and the response form's QR code): <base>/s/<token>; empty: no links "
        "(self-service off; the QR code carries only the form's data). At most 64 "
        "characters: with case numbers of up to 21 characters the QR code then stays at "
        "version 8 or below (modules of 0.51 mm in the 25 mm box)",
    )
    self_service_link_days: int = Field(
        default=42,
        ge=1,
        le=365,
        description="how long a customer's self-service link works after its letter is "
        "written (it stops at first use anyway)",
    )
    self_service_requests_per_minute: int = Field(
        default=30,
        ge=1,
        description="requests one client address may make to the self-service page per "
        "minute (429 beyond)",
    )


class SimulationSettings(BaseSettings):
    """A clock that runs faster than the wall clock, for load simulations of a working
    day in minutes (bench/simulate_day.py --http). Every process of a deployment reads the
    same three values, so they agree on the time; production refuses to start with it."""

    sim_clock_start: datetime | None = Field(
        default=None,
        description="simulations only: the simulated moment at `sim_clock_anchor` "
        "(an aware ISO time); unset, the processes use the real clock",
    )
    sim_clock_anchor: float | None = Field(
        default=None, description="the wall-clock moment (Unix seconds) the simulated clock starts"
    )
    sim_clock_speed: float = Field(
        default=1.0, gt=0, le=10_000, description="simulated seconds per wall-clock second"
    )

    @model_validator(mode="after")
    def _whole_clock(self) -> SimulationSettings:
        if (self.sim_clock_start is None) != (self.sim_clock_anchor is None):
            raise ValueError("set RETENTION_FLOW_SIM_CLOCK_START and _ANCHOR together")
        if self.sim_clock_start is not None and self.sim_clock_start.tzinfo is None:
            raise ValueError("RETENTION_FLOW_SIM_CLOCK_START needs a time zone (e.g. Z)")
        return self
