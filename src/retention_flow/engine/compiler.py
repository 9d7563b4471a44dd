"""Compiling a bundle: safe XML parsing, SpiffWorkflow's parser, our checks.

``compile_bundle`` parses and validates a bundle once. Validation collects every problem
it can find and names the file, the element id and the problem, so a process owner can
fix a diagram in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from ..core.errors import InvalidProcess
from .bundle import (
    MAX_BUNDLE_FILES,
    MAX_FILE_BYTES,
    Boundary,
    CompiledBundle,
    Issue,
    Manifest,
    ProcessInfo,
    SourceCheck,
    bundle_hash,
    is_bundle_file,
)
from .checks import (
    boundaries_of,
    check_spec,
    check_tree,
    parse_forms,
    parse_manifest,
)
from .dmn_checks import check_decisions


def _parser() -> etree.XMLParser:
    """The parser for every XML we read: no entity expansion, no DTD loading, no network
    (DTDs are then refused on the parsed document, wherever they stood)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


_NO_DTD = "DOCTYPE and entity declarations are not allowed"


def _safe_xml(name: str, text: str) -> etree._Element:
    """Parse XML refusing DTDs and entities outright (XXE, billion laughs).

    The check is made on the parsed document, not on the text: a DOCTYPE (internal
    subset, SYSTEM or PUBLIC identifier) anywhere in the prolog, after any amount of
    comment, and any entity reference left unexpanded are refused; the words
    ``<!DOCTYPE`` inside a comment or a CDATA section are only text and pass. The parser
    never expands entities or loads a DTD, and libxml2 refuses entity amplification, so
    parsing a hostile document before refusing it costs no more than reading it.
    """
    try:
        root = etree.fromstring(text.encode("utf-8"), parser=_parser())
    except etree.XMLSyntaxError as exc:
        # a DOCTYPE after the root element, or inside it, is not well-formed XML
        hint = f" ({_NO_DTD})" if "<!DOCTYPE" in text.upper() else ""
        raise InvalidProcess(
            f"{name}: not well-formed XML: {exc}{hint}",
            errors=[Issue(name, None, f"not well-formed XML: {exc}{hint}").as_dict()],
        ) from exc
    problem = _dtd_problem(root)
    if problem:
        raise InvalidProcess(f"{name}: {problem}", errors=[Issue(name, None, problem).as_dict()])
    return root


def _dtd_problem(root: etree._Element) -> str | None:
    """Why a parsed document must be refused: it declares a DTD or refers to an entity."""
    info = root.getroottree().docinfo
    if (
        info.doctype
        or info.internalDTD is not None
        or info.externalDTD is not None
        or info.system_url
        or info.public_id
    ):
        return f"{_NO_DTD} (found {info.doctype or 'a DOCTYPE'})"
    for entity in root.iter(etree.Entity):
        return f"{_NO_DTD}: entity reference {entity.text} (line {entity.sourceline})"
    return None


def _decode(name: str, content: bytes, issues: list[Issue]) -> str | None:
    if len(content) > MAX_FILE_BYTES:
        issues.append(Issue(name, None, f"file is larger than {MAX_FILE_BYTES} bytes"))
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        issues.append(Issue(name, None, "file is not UTF-8 text"))
        return None


def start_event_names(spec: Any, kind: type) -> frozenset[str]:
    """Names of the ``kind`` events (message, signal) that a top-level start event of
    ``spec`` catches: such a message or signal starts a new case."""
    names: set[str] = set()
    for task_spec in spec.task_specs.values():
        if not isinstance(task_spec, StartEvent):
            continue
        definition = getattr(task_spec, "event_definition", None)
        parts: list[Any] = (
            list(definition.event_definitions)
            if isinstance(definition, MultipleEventDefinition)
            else [definition]
        )
        names.update(str(getattr(d, "name", "")) for d in parts if isinstance(d, kind))
        names.discard("")
    return frozenset(names)


def compile_bundle(
    raw_files: Mapping[str, bytes],
    *,
    check_source: SourceCheck | None = None,
    service_names: Iterable[str] | None = None,
) -> CompiledBundle:
    """Parse and validate; raise ``InvalidProcess`` with every issue found."""
    issues: list[Issue] = []
    files = _read_files(raw_files, issues)
    _raise_if(issues)

    content_hash = bundle_hash(files)  # before the manifest is taken out: it counts too
    manifest = parse_manifest(files, issues)
    forms = parse_forms(files, issues)
    parser, boundaries = _parse_diagrams(files, manifest, issues)
    _raise_if(issues)
    if not any(n.lower().endswith(".bpmn") for n in files):
        raise InvalidProcess(
            "the bundle has no BPMN file", errors=[Issue(None, None, "no .bpmn file").as_dict()]
        )

    bundle = CompiledBundle(
        content_hash=content_hash,
        files=files,
        manifest=manifest,
        forms=forms,
        boundaries=boundaries,
    )
    services = set(service_names) if service_names is not None else None
    _build_processes(parser, bundle, issues, check_source, services)
    check_decisions(parser, check_source, issues)
    _raise_if(issues)
    return bundle


def _read_files(raw_files: Mapping[str, bytes], issues: list[Issue]) -> dict[str, str]:
    """The bundle's files as text; unsupported names and undecodable bytes are issues."""
    if not raw_files:
        raise InvalidProcess(
            "the bundle is empty", errors=[Issue(None, None, "no files").as_dict()]
        )
    if len(raw_files) > MAX_BUNDLE_FILES:
        raise InvalidProcess(f"a bundle has at most {MAX_BUNDLE_FILES} files")
    files: dict[str, str] = {}
    for name, content in raw_files.items():
        if not is_bundle_file(name):
            issues.append(
                Issue(
                    name,
                    None,
                    "unsupported file (expected .bpmn, .dmn, *.schema.json, bundle.json)",
                )
            )
            continue
        text = _decode(name, content, issues)
        if text is not None:
            files[name] = text
    return files


def _parse_diagrams(
    files: Mapping[str, str], manifest: Manifest, issues: list[Issue]
) -> tuple[SpiffBpmnParser, dict[str, Boundary]]:
    """Every .bpmn and .dmn file through the safe XML reader, our tree checks and
    SpiffWorkflow's parser; the boundary events found on the way."""
    parser = SpiffBpmnParser(validator=VALIDATOR)
    boundaries: dict[str, Boundary] = {}
    for name in sorted(files):
        suffix = Path(name).suffix.lower()
        if suffix not in {".bpmn", ".dmn"}:
            continue
        try:
            tree = _safe_xml(name, files[name])
        except InvalidProcess as exc:
            issues.extend(Issue(e["file"], e["element_id"], e["message"]) for e in exc.errors)
            continue
        if suffix == ".bpmn":
            check_tree(name, tree, manifest, issues)
            boundaries.update(boundaries_of(tree))
        try:
            if suffix == ".bpmn":
                parser.add_bpmn_xml(tree, filename=name)
            else:
                parser.add_dmn_xml(tree, filename=name)
        except ValidationException as exc:
            issues.append(Issue(exc.file_name or name, exc.id or None, _spiff_message(exc)))
        except (SpiffWorkflowException, etree.LxmlError, ValueError, KeyError) as exc:
            issues.append(Issue(name, None, f"cannot parse: {exc}"))
    return parser, boundaries


def _build_processes(
    parser: SpiffBpmnParser,
    bundle: CompiledBundle,
    issues: list[Issue],
    check_source: SourceCheck | None,
    services: set[str] | None,
) -> None:
    """Each executable process's spec into ``bundle.processes``, each spec checked once."""
    executable = [
        pid for pid in parser.get_process_ids() if parser.get_process_parser(pid).process_executable
    ]
    if not executable:
        issues.append(Issue(None, None, 'no executable process (isExecutable="true")'))
    manifest, forms = bundle.manifest, bundle.forms
    seen_specs: set[str] = set()
    for pid in executable:
        pparser = parser.get_process_parser(pid)
        file_name = pparser.filename or ""
        try:
            spec = parser.get_spec(pid)
            subspecs = parser.get_subprocess_specs(pid)
        except ValidationException as exc:
            issues.append(Issue(exc.file_name or file_name, exc.id or None, _spiff_message(exc)))
            continue
        except SpiffWorkflowException as exc:
            issues.append(Issue(file_name, getattr(exc, "id", None), str(exc)))
            continue
        except Exception as exc:  # parser bugs must still become a clear message
            issues.append(Issue(file_name, None, f"cannot build process '{pid}': {exc}"))
            continue
        bundle.processes[pid] = ProcessInfo(
            process_id=pid,
            name=pparser.get_name() or pid,
            file_name=file_name,
            channel=manifest.channel_for(pid),
            spec=spec,
            subprocess_specs=subspecs,
            start_messages=start_event_names(spec, MessageEventDefinition),
            start_signals=start_event_names(spec, SignalEventDefinition),
        )
        for one in [spec, *[s for s in subspecs.values() if s is not None]]:
            if one.name in seen_specs:
                continue
            seen_specs.add(one.name)
            one_file = (
                parser.get_process_parser(one.name).filename
                if parser.get_process_parser(one.name)
                else None
            ) or file_name
            check_spec(one, one_file, bundle, forms, manifest, issues, check_source, services)


def _raise_if(issues: list[Issue]) -> None:
    """Raise the problems found, each once (a decision table called by three tasks is
    reported by SpiffWorkflow three times)."""
    issues[:] = list(dict.fromkeys(issues))
    if issues:
        first = issues[0]
        where = ":".join(p for p in (first.file, first.element_id) if p)
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        raise InvalidProcess(
            f"{where + ': ' if where else ''}{first.message}{more}",
            errors=[i.as_dict() for i in issues],
        )


def _spiff_message(exc: ValidationException) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    line = getattr(exc, "line_number", "")
    return f"{text} (line {line})" if line else text
