"""How diagram scripts are compiled: RestrictedPython plus our policy (see ``sandbox.py``).

The policy refuses imports and classes, puts a ``_tick_()`` budget check into every loop,
function, lambda and comprehension, and rewrites operations that can build huge results in
one C call (``*``, ``**``, ``<<``, ``+``, ``%``, f-string fields, ``str(...)``) into calls of
the size-checking guards in ``sandbox_helpers``.

``is_inline`` decides which scripts may run in the serving process rather than in a worker
process: straight-line code whose every operation is bounded by the size of the task data
(no loops, no functions, no comprehensions, no method calls but ``.get``, calls only of a
few helpers), with arithmetic limited at run time to small numbers and strings. That covers
gateway conditions, DMN cells and ``outcome = "retained"`` scripts, the common path.
"""

from __future__ import annotations

import ast
import functools
import re
from types import CodeType
from typing import Any, Literal, NamedTuple

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations

from retention_flow.core.errors import ScriptRefused
from retention_flow.engine.sandbox_helpers import FORBIDDEN_NAMES

SCRIPT_FILENAME = "<bpmn-script>"
COMPILE_CACHE_SIZE = 2048

_BINOP_GUARDS = {
    ast.Pow: "_pow_",
    ast.Mult: "_mul_",
    ast.LShift: "_lshift_",
    ast.Add: "_add_",
    ast.Mod: "_mod_",
}
_ERROR_LINE = re.compile(r"^Line (\d+): (.*)$", re.DOTALL)

INLINE_CALLS = frozenset({"len", "abs", "bool", "now", "days_between"})
INLINE_METHODS = frozenset({"get"})
INLINE_MAX_NODES = 300
_INLINE_NODES = (
    ast.Module,
    ast.Expression,
    ast.Expr,
    ast.Assign,
    ast.Pass,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Constant,
    ast.Compare,
    ast.BoolOp,
    ast.UnaryOp,
    ast.BinOp,
    ast.IfExp,
    ast.Subscript,
    ast.Call,
    ast.Attribute,
    ast.Tuple,
    ast.List,
    ast.cmpop,
    ast.boolop,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
)


class _SandboxPolicy(RestrictingNodeTransformer):  # type: ignore[misc]
    """RestrictedPython's policy plus our refusals and the rewrites of size-risky operations."""

    def _refuse(self, node: ast.AST, what: str) -> None:
        self.error(node, f"{what} is not allowed")

    def visit_Import(self, node: ast.Import) -> ast.AST:
        self._refuse(node, f"import of '{', '.join(alias.name for alias in node.names)}'")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        self._refuse(node, f"import from '{node.module or '.'}'")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self._refuse(node, "a class definition")
        return node

    def visit_While(self, node: ast.While) -> Any:
        node = super().visit_While(node)
        node.body.insert(0, self._tick(node))
        return node

    def visit_For(self, node: ast.For) -> Any:
        node = super().visit_For(node)
        node.body.insert(0, self._tick(node))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        node = super().visit_FunctionDef(node)
        node.body.insert(0, self._tick(node))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        node = super().visit_Lambda(node)
        node.body = self._call("_tick_", node.body, node.body)
        return node

    def visit_comprehension(self, node: ast.comprehension) -> Any:
        node = super().visit_comprehension(node)
        node.ifs.insert(0, self._call("_tick_", node.iter))
        return node

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        return node if guard is None else self._call(guard, node, node.left, node.right)

    def visit_Call(self, node: ast.Call) -> Any:
        node = super().visit_Call(node)
        func = node.func if isinstance(node, ast.Call) else None
        if isinstance(func, ast.Name) and func.id == "str":
            # str(container) builds its text in one C call: _str_(str, ...) checks its size
            node.args.insert(0, func)
            node.func = ast.Name("_str_", ast.Load())
            copy_locations(node.func, node)
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        node = self.node_contents_visit(node)
        spec = node.format_spec if node.format_spec is not None else ast.Constant("")
        conversion = ast.Constant(node.conversion)
        node.value = self._call("_format_", node, node.value, spec, conversion)
        node.format_spec, node.conversion = None, -1
        return node

    def _tick(self, where: ast.stmt) -> ast.Expr:
        statement = ast.Expr(self._call("_tick_", where))
        copy_locations(statement, where)
        return statement

    @staticmethod
    def _call(helper: str, where: ast.AST, *args: ast.expr) -> ast.Call:
        call = ast.Call(func=ast.Name(helper, ast.Load()), args=list(args), keywords=[])
        copy_locations(call, where)
        copy_locations(call.func, where)
        return call


class CompiledScript(NamedTuple):
    code: CodeType
    unbound_forbidden: tuple[str, ...]
    """Forbidden names the script reads without assigning; refused unless task data has them."""
    inline: bool = False
    """Bounded straight-line code the serving process may run itself (see ``is_inline``)."""
    assigned: tuple[str, ...] = ()
    """The names an inline script assigns (the only task data it can change)."""


def is_inline(tree: ast.AST) -> bool:
    """True for straight-line code whose cost the size of the task data bounds."""
    method_calls: set[int] = set()
    for count, node in enumerate(ast.walk(tree), 1):
        if count > INLINE_MAX_NODES or not isinstance(node, _INLINE_NODES):
            return False
        if isinstance(node, ast.Assign):
            if not all(isinstance(target, ast.Name) for target in node.targets):
                return False
        elif isinstance(node, ast.Call):
            if node.keywords or not _inline_callee(node.func):
                return False
            if isinstance(node.func, ast.Attribute):
                method_calls.add(id(node.func))
        elif isinstance(node, ast.Attribute):
            if id(node) not in method_calls:
                return False
        elif isinstance(node, ast.Tuple | ast.List):
            if not isinstance(node.ctx, ast.Load):
                return False
            if not all(isinstance(item, ast.Constant) for item in node.elts):
                return False
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            return False
    return True


def _inline_callee(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in INLINE_CALLS
    return (
        isinstance(func, ast.Attribute)
        and func.attr in INLINE_METHODS
        and isinstance(func.value, ast.Name)
    )


def _refusal(errors: list[str] | tuple[str, ...]) -> ScriptRefused:
    details = []
    for error in errors:
        match = _ERROR_LINE.match(error)
        line, message = (int(match[1]), match[2]) if match else (None, error)
        details.append({"line": line, "message": message})
    return ScriptRefused("; ".join(errors), errors=details)


@functools.lru_cache(maxsize=COMPILE_CACHE_SIZE)
def compile_script(source: str, mode: Literal["exec", "eval"]) -> CompiledScript:
    """Compile a script (``exec``) or expression (``eval``) under the sandbox policy.

    Cached per source string: the same gateway condition runs for every case. Refusals are
    raised as ``ScriptRefused`` (and, being exceptions, not cached).
    """
    if mode == "eval":
        source = source.strip()
    try:
        tree = ast.parse(source, SCRIPT_FILENAME, mode)
    except SyntaxError as err:
        raise _refusal([f"Line {err.lineno}: syntax error: {err.msg}"]) from None
    loaded: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.ExceptHandler) and node.name:
            bound.add(node.name)
    inline = is_inline(tree)
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(tree, SCRIPT_FILENAME, policy=_SandboxPolicy)
    if result.errors:
        raise _refusal(result.errors)
    return CompiledScript(
        result.code,
        tuple(sorted((loaded - bound) & FORBIDDEN_NAMES)),
        inline,
        tuple(sorted(bound)) if inline else (),
    )
