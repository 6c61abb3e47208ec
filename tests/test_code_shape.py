"""Code shape: no function in model/ or experiments/ longer than MAX_LINES (issue 15).

A function's length is ``end_lineno - lineno + 1`` of its ``def`` (decorators left out,
signature and docstring included); methods and nested functions count on their own too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("model", "experiments")
MAX_LINES = 60

#: Functions allowed to be longer, as "path::qualified name" -> why splitting them hurts.
EXCEPTIONS = {
    # 69 lines, 45 of them the signature and docstring of its 15 keyword options; the body
    # is one flat option -> metadata mapping. Splitting it would repeat the 15-option
    # signature in a helper or hide the options behind untyped, undocumented **kwargs.
    "model/params.py::lever": "one option per line: signature, docstring, metadata",
}


def _functions(tree: ast.AST, prefix: str = ""):
    """Yield ``(qualified name, node)`` of every function in ``tree``, nested ones too."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + node.name, node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def _lengths() -> dict[str, int]:
    """Lines of every function of the packages, by ``"path::qualified name"``."""
    lengths = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            where = path.relative_to(ROOT).as_posix()
            for name, node in _functions(tree):
                key, n = f"{where}::{name}", node.end_lineno - node.lineno + 1
                lengths[key] = max(n, lengths.get(key, 0))  # a name defined twice: the longer
    return lengths


def test_no_function_is_longer_than_the_limit():
    too_long = {
        name: n for name, n in _lengths().items() if n > MAX_LINES and name not in EXCEPTIONS
    }
    assert not too_long, "\n".join(
        f"{name}: {n} lines (at most {MAX_LINES}; split it, or add it to EXCEPTIONS with why)"
        for name, n in sorted(too_long.items())
    )


def test_every_exception_is_still_needed():
    lengths = _lengths()
    stale = [name for name in EXCEPTIONS if lengths.get(name, 0) <= MAX_LINES]
    assert not stale, f"no longer needed (gone or short enough), remove from EXCEPTIONS: {stale}"


# ------------------------------------------------------------------ import direction
def _runtime_imports(tree: ast.AST, module: str) -> set[str]:
    """Package modules ``module`` imports at run time (anywhere but ``if TYPE_CHECKING``)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found.update(n for n in names if n.split(".")[0] in PACKAGES)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] in PACKAGES)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name != module}


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports; packages' ``__init__`` left out (they
    gather their submodules' names for users, which is the other way by design)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            name = ".".join(rel.parts)
            if path.name != "__init__.py":
                modules[name] = ast.parse(path.read_text(encoding="utf-8"))
    return {
        name: {m for m in _runtime_imports(tree, name) if m in modules}
        for name, tree in modules.items()
    }


def test_no_module_imports_one_that_imports_it_back():
    """Imports run one way (config -> design -> execute -> store -> analyse -> charts; model
    below experiments), local imports included; annotations-only imports are allowed."""
    graph = _import_graph()
    cycles = []

    def reach(start: str, node: str, seen: set[str]) -> None:
        for nxt in graph[node]:
            if nxt == start:
                cycles.append(start)
            elif nxt not in seen and nxt.split(".")[0] == start.split(".")[0]:
                seen.add(nxt)
                reach(start, nxt, seen)

    for name in graph:
        reach(name, name, {name})
    assert sorted(set(cycles)) == []
