"""The bundle lint: one rule set. ``lint_bundle`` answers what ``compile_bundle`` refuses
(``errors``: a bundle with any cannot deploy) and what our modelling conventions ask
(``warnings``: ``lint_bpmn``, ``lint_layout``, ``lint_docs``), each as an ``Issue``
(file, element id, message), the shape validation answers in."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree
from pydantic import ValidationError

from ..core.errors import InvalidProcess
from .bundle import MANIFEST_NAME, CompiledBundle, Issue, Manifest, SourceCheck
from .compiler import _parser, compile_bundle
from .lint_bpmn import lint_file
from .lint_docs import lint_dmn, lint_form, lint_manifest
from .lint_layout import lint_layout
from .lint_model import NS, BundleIndex, ServiceSpec


@dataclass
class LintResult:
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    bundle: CompiledBundle | None = None
    #: what compile_bundle raised (the errors), to raise again where validation must fail
    refusal: InvalidProcess | None = None

    @property
    def issues(self) -> list[Issue]:
        return [*self.errors, *self.warnings]


def lint_bundle(
    raw_files: Mapping[str, bytes],
    *,
    check_source: SourceCheck | None = None,
    services: Mapping[str, ServiceSpec | None] | None = None,
    forms_used_elsewhere: Iterable[str] = (),
) -> LintResult:
    """``services``: operator -> its parameters (None: any), as deploying knows them."""
    result = LintResult()
    try:
        result.bundle = compile_bundle(
            raw_files,
            check_source=check_source,
            service_names=None if services is None else services.keys(),
        )
    except InvalidProcess as exc:
        result.refusal = exc
        errors = exc.errors or [{"file": None, "element_id": None, "message": exc.detail}]
        result.errors = [Issue(e.get("file"), e.get("element_id"), e["message"]) for e in errors]
    known = {k: v for k, v in (services or {}).items() if v is not None}
    index = _index(raw_files, known, forms_used_elsewhere)
    result.warnings = conventions(index)
    return result


def conventions(index: BundleIndex) -> list[Issue]:
    """Every convention rule over the indexed bundle, each problem once."""
    issues: list[Issue] = []
    for name, root in sorted(index.bpmn.items()):
        lint_file(name, root, index, issues)
        lint_layout(name, root, issues)
    for name, root in sorted(index.dmn.items()):
        lint_dmn(name, root, issues)
    for name, doc in sorted(index.forms.items()):
        lint_form(name, doc, index.used_forms, issues)
    lint_manifest(index, issues)
    return list(dict.fromkeys(issues))


def _index(
    raw_files: Mapping[str, bytes],
    services: Mapping[str, ServiceSpec],
    forms_used_elsewhere: Iterable[str],
) -> BundleIndex:
    """The files that parse (the others are errors already), and the names across them."""
    bpmn: dict[str, etree._Element] = {}
    dmn: dict[str, etree._Element] = {}
    forms: dict[str, object] = {}
    manifest_doc = None
    for name, content in raw_files.items():
        suffix = Path(name).suffix.lower()
        try:
            if suffix in (".bpmn", ".dmn"):
                root = etree.fromstring(content, _parser())
                if root.getroottree().docinfo.doctype:
                    continue
                (bpmn if suffix == ".bpmn" else dmn)[name] = root
            elif name == MANIFEST_NAME:
                manifest_doc = json.loads(content)
            elif name.lower().endswith(".schema.json"):
                forms[name] = json.loads(content)
        except (etree.XMLSyntaxError, ValueError):
            continue
    try:
        manifest = Manifest.model_validate(manifest_doc or {})
    except ValidationError:
        manifest = Manifest()
    index = BundleIndex(
        bpmn=bpmn,
        dmn=dmn,
        forms=forms,
        manifest=manifest,
        manifest_doc=manifest_doc if isinstance(manifest_doc, dict) else None,
        services=services,
        used_forms=set(forms_used_elsewhere),
    )
    for root in bpmn.values():
        index.processes |= {str(p.get("id")) for p in root.findall("bpmn:process", NS)}
        index.messages |= {str(m.get("id")) for m in root.findall("bpmn:message", NS)}
    return index
