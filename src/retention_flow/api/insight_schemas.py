"""Response bodies of the insight routes: the heatmap of a process version."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HeatElement(BaseModel):
    element_id: str
    name: str | None
    type: str | None = Field(description="BPMN element type (userTask, exclusiveGateway, ...)")
    on_diagram: bool = Field(description="false: recorded for the version, not on its diagram")
    cases: int = Field(description="cases that passed the element in the period")
    times: int = Field(description="times it was passed (loops count each time)")
    entered: int = Field(description="user tasks that became ready")
    waits: int = Field(description="completed user tasks measured for the waits")
    wait_p50_seconds: float | None = Field(
        description="ready -> completed, median (within 2 % when source is rollup)"
    )
    wait_p95_seconds: float | None = Field(description="ready -> completed, 95th percentile")
    sla_breaches: int = Field(description="tasks ended after their due time or open past it")
    escalations: int = Field(description="SLA timers fired on an open task")
    incidents: int = Field(description="failed steps at the element")


class HeatFlow(BaseModel):
    flow_id: str
    source: str
    target: str
    name: str | None
    cases: int = Field(description="cases that passed the source and reached the target")


class HeatmapPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    process_id: str
    version: int
    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    cases: int = Field(description="cases of the version with an audit event in the period")
    source: str = Field(
        description="rollup: counts exact, waits within 2 % (log-spaced histogram); "
        "events: read from the audit events (no rollup yet, or a period under an hour)"
    )
    wait_relative_error: float = Field(
        description="how far the p50/p95 waits may be off, relative (0: exact)"
    )
    elements: list[HeatElement]
    flows: list[HeatFlow]
