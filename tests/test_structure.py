"""The codebase's shape, checked so that it does not drift: no import circles, no module over 500 lines, no function
over 60 lines, every module importable on its own in a fresh interpreter, ``import nas`` light, and every public
function annotated and documented."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nas", "search_spaces")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60  # the docstring excluded: a long explanation is welcome, a long body is not


def modules() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imported(name: str, path: Path, node: ast.AST, known: set[str]) -> set[str]:
    """The project modules an import statement names (``from .x import y`` counts ``x.y`` when that is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - node.level + 1]
            base = ".".join(anchor + ([base] if base else []))
        targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
    return {t for t in targets if t in known}


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its source (function-level imports included: a lazy
    import hides a circle from ``import`` but not from the reader)."""
    found = modules()
    graph = {}
    for name, path in found.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _imported(name, path, node, set(found))
        # a package's own submodules import the package's __init__ implicitly; that edge is not a design choice
        graph[name] = {e for e in edges if e != name and not name.startswith(e + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycles():
    graph = import_graph()
    assert len(graph) > 20 and graph["nas.engine.api"]  # the walk found the modules and their imports
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_500_lines():
    sizes = {name: path.read_text(encoding="utf-8").count("\n") for name, path in modules().items()}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    length = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        length -= first.end_lineno - first.lineno + 1
    return length


def test_no_function_over_60_lines():
    long = {}
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _body_lines(node) > MAX_FUNCTION_LINES:
                long[f"{name}.{node.name}"] = _body_lines(node)
    assert long == {}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_imports_on_its_own(package):
    names = [n for n in modules() if n.split(".")[0] == package and not n.endswith("__main__")]
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_import_nas_imports_neither_tensorflow_nor_ray():
    code = "import sys, nas; print(sorted(m for m in ('tensorflow', 'keras', 'ray') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr[-2000:]


def _undocumented(node: ast.AST, prefix: str = "") -> list[str]:
    """Public functions and methods of public classes under ``node`` that lack a parameter or return annotation or a
    docstring (``__init__`` needs annotated parameters only); methods are named ``Class.method``."""
    missing = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            if not child.name.startswith("_"):
                missing += _undocumented(child, f"{child.name}.")
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            init = child.name == "__init__"
            if child.name.startswith("_") and not init:
                continue
            params = [a for a in child.args.args + child.args.kwonlyargs if a.arg not in ("self", "cls")]
            annotated = all(a.annotation is not None for a in params) and (child.returns is not None or init)
            documented = init or ast.get_docstring(child) is not None
            if not (annotated and documented):
                missing.append(f"{prefix}{child.name} (line {child.lineno}: annotated={annotated}, "
                               f"documented={documented})")
    return missing


def test_public_functions_are_annotated_and_documented():
    missing = {}
    for name, path in modules().items():
        found = _undocumented(ast.parse(path.read_text(encoding="utf-8")))
        if found:
            missing[name] = found
    assert missing == {}


def test_every_name_in_all_exists():
    """A re-export lost in a move (a package's ``__all__`` naming what it no longer imports) fails here."""
    code = ("import importlib\n"
            f"for name in {sorted(n for n in modules() if not n.endswith('__main__'))!r}:\n"
            "    module = importlib.import_module(name)\n"
            "    missing = [n for n in getattr(module, '__all__', ()) if not hasattr(module, n)]\n"
            "    assert not missing, (name, missing)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
