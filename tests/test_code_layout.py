"""Two rules of the code's layout, checked on every Python file of the project (tests too):

- no module imports a ``_private`` name from another file, by ``from m import _x`` or by
  ``m._x`` on an imported module: a private name may change without a look at other files;
- no import cycle between the project's modules (imports inside functions count: they are
  dependencies too), found as the strongly connected components of the import graph.

Both read the source with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("collector", "stream", "batch", "schemas", "infra", "loadgen", "chaos")
SCRIPT_DIRS = ("bench",)  # scripts that import each other as top-level modules
LAYOUT = ("tests", *PACKAGES, *SCRIPT_DIRS)


def _files() -> Iterator[Path]:
    for top in LAYOUT:
        yield from sorted((ROOT / top).rglob("*.py"))


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] in SCRIPT_DIRS:
        return parts[-1]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_name(path): path for path in _files()}


def _resolve(path: Path, node: ast.ImportFrom) -> str | None:
    """The absolute module name of a ``from ... import``."""
    if not node.level:
        return node.module
    package = _name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _imports(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """(line, module, name) of each import of a project module; name None for ``import m``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(path, node)
            if module in MODULES:
                for alias in node.names:
                    yield node.lineno, module, alias.name


def _private_uses(path: Path, text: str | None = None) -> Iterator[str]:
    tree = ast.parse(text if text is not None else path.read_text(encoding="utf-8"))
    modules: dict[str, str] = {}  # local name -> the project module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    modules[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(path, node)
            if module not in MODULES:
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                if sub in MODULES:
                    modules[alias.asname or alias.name] = sub
                elif _is_private(alias.name) and MODULES[module] != path:
                    yield f"line {node.lineno}: from {module} import {alias.name}"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and _is_private(node.attr)
            and MODULES[modules[node.value.id]] != path
        ):
            yield f"line {node.lineno}: {modules[node.value.id]}.{node.attr}"


def test_no_module_imports_a_private_name_of_another_file():
    found = {
        str(path.relative_to(ROOT)): uses
        for path in _files()
        if (uses := list(_private_uses(path)))
    }
    assert found == {}


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for _, module, imported in _imports(path):
            sub = f"{module}.{imported}" if imported else None
            target = sub if sub in MODULES else module
            if target != name:
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
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


def test_no_import_cycle_between_modules():
    assert _cycles(_graph()) == []


def test_the_checks_see_what_they_look_for():
    """The checks themselves: a cycle is found, and so is a private import (both ways)."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    app = ROOT / "collector" / "app.py"
    text = "\n".join(
        (
            "from collector import ingest",
            "import collector.parse as p",
            "from collector.enrich import _MS",
            "ingest._parse(1)",
            "p._join('a', 1)",
            "ingest.ingest",
        )
    )
    assert sorted(_private_uses(app, text)) == [
        "line 3: from collector.enrich import _MS",
        "line 4: collector.ingest._parse",
        "line 5: collector.parse._join",
    ]
    assert list(_private_uses(app, "from collector.app import _admission\n")) == []  # its own
    graph = _graph()
    assert "schemas.dlq" in graph["collector.records"]  # imports are seen, lazy ones too
    assert "collector.app" in graph["collector.worker"]
    assert any(path.name == "test_code_layout.py" for path in _files())
