"""What the lint rules share: the bundle read once (``BundleIndex``), the namespaces and
the service operators' parameters (``ServiceSpec``, given by services/)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from .bundle import BPMN_NS, Manifest

NS = {
    "bpmn": BPMN_NS,
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
#: reports a problem: (element id or None, message)
Add = Callable[[str | None, str], None]
DMN_NS = "https://www.omg.org/spec/DMN/20191111/MODEL/"
DMNDI_NS = "https://www.omg.org/spec/DMN/20191111/DMNDI/"
#: the user task properties the engine reads (checks._user_task_meta)
USER_TASK_PROPERTIES = frozenset(
    {
        "formJsonSchemaFilename",
        "due",
        "priority",
        "partnerVariable",
        "fourEyesWith",
        "requiredSkills",
        "escalatedPriority",
        "dueCalendar",
    }
)


@dataclass(frozen=True)
class ServiceSpec:
    """A service operator's parameters (a task passes exactly these) and, per parameter
    that must be a literal, the values it may take."""

    parameters: frozenset[str]
    literals: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass
class BundleIndex:
    """The bundle's files parsed once, and the names the rules look up across files."""

    bpmn: dict[str, etree._Element]
    dmn: dict[str, etree._Element]
    forms: dict[str, Any]
    manifest: Manifest
    manifest_doc: dict[str, Any] | None
    services: Mapping[str, ServiceSpec]
    processes: set[str] = field(default_factory=set)
    messages: set[str] = field(default_factory=set)
    used_forms: set[str] = field(default_factory=set)

    @property
    def outcome(self) -> str:
        return self.manifest.outcome_variable


def local(el: etree._Element) -> str:
    return str(etree.QName(el).localname)


def text_of(el: etree._Element, path: str) -> str:
    """The stripped text at ``path`` under ``el`` ('' when there is none)."""
    return (el.findtext(path, "", NS) or "").strip()
