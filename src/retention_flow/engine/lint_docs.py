"""Conventions of a bundle's other files (``retention-flow lint``): decision tables (a
DMNDI shape per decision, hit policy COLLECT, a description on every rule), form schemas
(draft 2020-12, closed objects, titles and descriptions, ``enum`` equal to the titled
``oneOf`` choices, every form used by a user task) and ``bundle.json`` (channels and role
defaults for processes and roles that exist)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from lxml import etree

from ..core.roles import WORK_ROLES, normalise_role
from .bundle import MANIFEST_NAME, Issue
from .lint_model import DMN_NS, DMNDI_NS, BundleIndex

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def lint_dmn(name: str, root: etree._Element, issues: list[Issue]) -> None:
    shaped = {s.get("dmnElementRef") for s in root.iter(f"{{{DMNDI_NS}}}DMNShape")}
    for decision in root.iter(f"{{{DMN_NS}}}decision"):
        did = decision.get("id")
        if did not in shaped:
            issues.append(Issue(name, did, "decision has no DMNShape (DMNDI)"))
        table = decision.find(f"{{{DMN_NS}}}decisionTable")
        if table is None or table.get("hitPolicy") != "COLLECT":
            issues.append(Issue(name, did, "decision table must use hit policy COLLECT"))
        for rule in decision.iter(f"{{{DMN_NS}}}rule"):
            if not (rule.findtext(f"{{{DMN_NS}}}description") or "").strip():
                issues.append(Issue(name, rule.get("id"), "rule has no description"))


def lint_form(name: str, doc: Any, used: set[str], issues: list[Issue]) -> None:
    """A form schema that is valid JSON Schema (``checks.parse_forms`` reports the others)."""

    def add(message: str) -> None:
        issues.append(Issue(name, None, message))

    if not isinstance(doc, dict):
        return
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    errors = sorted(meta.iter_errors(doc), key=lambda e: list(e.path))
    if errors:  # a deploy error names the first; list them all
        for err in errors if len(errors) > 1 else []:
            where = "/".join(str(p) for p in err.path) or "(root)"
            add(f"not a valid JSON Schema at {where}: {err.message}")
        return
    if doc.get("$schema") != DRAFT_2020_12:
        add("$schema must be draft 2020-12")
    if doc.get("additionalProperties") is not False:
        add("form must be type object with additionalProperties false")
    for key in ("title", "description"):
        if not doc.get(key):
            add(f"form has no {key}")
    found = doc.get("properties")
    properties: dict[str, Any] = found if isinstance(found, dict) else {}
    for required in doc.get("required") or []:
        if required not in properties:
            add(f"required {required!r} is not a property")
    for prop_name, prop in properties.items():
        if not isinstance(prop, dict):
            continue
        if "title" not in prop:
            add(f"property {prop_name} has no title")
        if "oneOf" in prop or "enum" in prop:
            choices = [o for o in prop.get("oneOf", []) if isinstance(o, dict)]
            consts = [o.get("const") for o in choices]
            if consts != prop.get("enum") or any("title" not in o for o in choices):
                add(f"property {prop_name}: enum must equal the titled oneOf consts")
    if name not in used:
        add("form is not used by any user task")


def lint_manifest(index: BundleIndex, issues: list[Issue]) -> None:
    doc = index.manifest_doc
    if doc is None:
        return
    channels = doc.get("channel")
    for pid in channels if isinstance(channels, dict) else {}:
        if pid not in index.processes:
            issues.append(Issue(MANIFEST_NAME, None, f"channel for unknown process {pid!r}"))
    defaults = doc.get("defaults")
    for role in defaults if isinstance(defaults, dict) else {}:
        if normalise_role(index.manifest.roles.get(role) or role) not in WORK_ROLES - {"system"}:
            issues.append(Issue(MANIFEST_NAME, None, f"defaults for unknown role {role!r}"))
