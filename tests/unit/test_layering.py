"""The layering of src/retention_flow, read from the imports (ast, every import including
those inside functions): which package may import what, and no import cycle between
modules. Faces (api/, web/, cli*.py) go through services/; engine/ alone speaks
SpiffWorkflow; ocr/ is pure; db/ is below services/ and engine/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "retention_flow"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str) -> set[str]:
    """Every module named by an import in ``path`` (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):  # imports for annotations only do not count
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports (ours resolved to the module; others as written)."""
    files = {_module_name(p): p for p in (SRC / PACKAGE).rglob("*.py")}
    files = {n: p for n, p in files.items() if ".db.migrations." not in f"{n}."}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets: set[str] = set()
        for target in _imports(path, name):
            if target == PACKAGE or target.startswith(f"{PACKAGE}."):
                while target not in files and "." in target:
                    target = target.rsplit(".", 1)[0]
            # a module's own packages are imported before it anyway: not an edge
            if target != name and not name.startswith(f"{target}."):
                targets.add(target)
        graph[name] = targets
    return graph


def _layer(module: str) -> str:
    """``api``, ``web``, ``cli`` (cli*.py), ``engine``, ``services``... or the module name."""
    rest = module.removeprefix(f"{PACKAGE}.")
    top = rest.split(".", 1)[0]
    return "cli" if top.startswith("cli") else top


def _is(target: str, *roots: str) -> bool:
    return any(target == r or target.startswith(f"{r}.") for r in roots)


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    ours = f"{PACKAGE}."
    rules: list[tuple[str, set[str], tuple[str, ...]]] = [
        # (what, layers it applies to ("*": all but allowed_anywhere), imported roots)
        ("SpiffWorkflow outside engine/", {"*"}, ("SpiffWorkflow",)),
        ("FastAPI/Starlette outside api/ and web/", {"*"}, ("fastapi", "starlette")),
        ("ocr/ importing db/ or services/", {"ocr"}, (f"{ours}db", f"{ours}services")),
        ("a face importing engine/", {"api", "web", "cli"}, (f"{ours}engine",)),
        ("db/ importing services/ or engine/", {"db"}, (f"{ours}services", f"{ours}engine")),
    ]
    allowed_anywhere = {
        "SpiffWorkflow outside engine/": {"engine"},
        "FastAPI/Starlette outside api/ and web/": {"api", "web"},
    }
    out: list[str] = []
    for module, targets in sorted(graph.items()):
        layer = _layer(module)
        for what, layers, roots in rules:
            if "*" in layers:
                if layer in allowed_anywhere[what]:
                    continue
            elif layer not in layers:
                continue
            out += [f"{what}: {module} imports {t}" for t in sorted(targets) if _is(t, *roots)]
    return out


def import_cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = []
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work.append((root, sorted(t for t in graph[root] if t in graph)))
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(t for t in graph[nxt] if t in graph)))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(frozenset(component))
    return out


def test_layers_import_only_what_they_may() -> None:
    assert layering_violations(import_graph()) == []


def test_no_import_cycle() -> None:
    assert [sorted(c) for c in import_cycles(import_graph())] == []


@pytest.mark.parametrize(
    ("module", "target", "rule"),
    [
        ("services.cases", "SpiffWorkflow.bpmn.workflow", "SpiffWorkflow outside engine/"),
        ("services.cases", "fastapi", "FastAPI/Starlette outside api/ and web/"),
        ("engine.runtime", "starlette.requests", "FastAPI/Starlette outside api/ and web/"),
        ("ocr.read", f"{PACKAGE}.db.session", "ocr/ importing db/ or services/"),
        ("ocr.read", f"{PACKAGE}.services.scans", "ocr/ importing db/ or services/"),
        ("api.uploads", f"{PACKAGE}.engine.bundle", "a face importing engine/"),
        ("web.task", f"{PACKAGE}.engine", "a face importing engine/"),
        ("cli_scans", f"{PACKAGE}.engine.bundle", "a face importing engine/"),
        ("db.models", f"{PACKAGE}.services.cases", "db/ importing services/ or engine/"),
        ("db.models", f"{PACKAGE}.engine.bundle", "db/ importing services/ or engine/"),
    ],
)
def test_each_rule_catches_its_import(module: str, target: str, rule: str) -> None:
    graph = {f"{PACKAGE}.{module}": {target}}
    assert layering_violations(graph) == [f"{rule}: {PACKAGE}.{module} imports {target}"]


@pytest.mark.parametrize(
    ("module", "target"),
    [
        ("engine.runtime", "SpiffWorkflow.bpmn.workflow"),
        ("api.cases", "fastapi"),
        ("web.pages", "starlette.responses"),
        ("services.processes", f"{PACKAGE}.engine.bundle"),
        ("ocr.read", f"{PACKAGE}.core.errors"),
    ],
)
def test_allowed_imports_pass(module: str, target: str) -> None:
    assert layering_violations({f"{PACKAGE}.{module}": {target}}) == []


def test_a_new_cycle_is_found() -> None:
    a, b, c = (f"{PACKAGE}.services.{n}" for n in ("a", "b", "c"))
    cycles = import_cycles({a: {b}, b: {c}, c: {a, "json"}})
    assert cycles == [frozenset({a, b, c})]
