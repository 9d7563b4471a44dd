"""Workflow state as JSON, without the process spec.

SpiffWorkflow's stock serializer embeds the whole parsed spec (every task spec of the
diagram) in each workflow's JSON. We keep specs once per deployed version in memory
(``SpecCache``), so a case's state only needs the task tree and data: the JSON is a
fraction of the size and restoring skips rebuilding the spec objects.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_STATE_VERSION
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

#: Stored beside every case's state. ``+nospec`` marks our spec-less layout.
SERIALIZER_VERSION = f"{SPIFF_STATE_VERSION}+nospec"


class _SpeclessWorkflowConverter(BpmnWorkflowConverter):  # type: ignore[misc]
    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(
        self,
        dct: dict[str, Any],
        spec: Any = None,
        subprocess_specs: Mapping[str, Any] | None = None,
        script_engine: Any = None,
    ) -> BpmnWorkflow:
        if spec is None:
            raise ValueError("restoring a workflow needs its spec")
        workflow = self.target_class(
            spec, dict(subprocess_specs or {}), script_engine=script_engine, deserializing=True
        )
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class StateSerializer:
    """``dumps(workflow) -> str`` and ``loads(state, spec, ...) -> workflow``."""

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def registry(self) -> Any:
        """One registry per thread: its ``_encoder_mode`` flag is per-call state."""
        registry = getattr(self._local, "registry", None)
        if registry is None:
            config = dict(SPIFF_CONFIG)
            config[BpmnWorkflow] = _SpeclessWorkflowConverter
            registry = BpmnWorkflowSerializer.configure(config)
            self._local.registry = registry
            # in encoder mode the registry leaves some objects (events in task data) to
            # the JSON encoder, exactly as SpiffWorkflow's own serialize_json does
            self._local.encoder = create_encoder(registry, None)
        return registry

    def dumps(self, workflow: BpmnWorkflow) -> str:
        registry = self.registry
        registry._encoder_mode = True
        try:
            dct = registry.convert(workflow)
            return json.dumps(dct, cls=self._local.encoder, separators=(",", ":"))
        finally:
            registry._encoder_mode = False

    def loads(
        self,
        state: str,
        spec: Any,
        subprocess_specs: Mapping[str, Any],
        script_engine: Any,
        version: str = SERIALIZER_VERSION,
    ) -> BpmnWorkflow:
        dct = json.loads(state)
        base_version = version.split("+", 1)[0]
        if base_version in MIGRATIONS:
            MIGRATIONS[base_version](dct)
        return self.registry.restore(
            dct, spec=spec, subprocess_specs=subprocess_specs, script_engine=script_engine
        )
