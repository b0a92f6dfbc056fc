"""The code's shape: every class name is unique across the packages, and the provider modules import no cycle."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("datagen", "filters", "finetune")


def _modules(package: str) -> dict[str, ast.Module]:
    """Dotted module name -> its parsed source, for every .py file under ``package``."""
    out = {}
    for path in sorted((ROOT / package.replace(".", "/")).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return out


def _imported(module: str, tree: ast.Module, is_package: bool) -> set[str]:
    """Every module ``tree`` imports, at module level or inside a function (``TYPE_CHECKING`` blocks too)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_two_classes_share_a_name() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for package in PACKAGES:
        for module, tree in _modules(package).items():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    where[node.name].append(module)
    shared = {name: mods for name, mods in where.items() if len(mods) > 1}
    assert not shared, f"class names defined more than once (rename one so each says what it is): {shared}"


def test_provider_modules_import_no_cycle() -> None:
    modules = _modules("datagen.providers")
    packages = {m for m in modules if (ROOT / m.replace(".", "/") / "__init__.py").exists()}
    graph = {
        m: {dep for dep in _imported(m, tree, m in packages) if dep in modules and dep != m}
        for m, tree in modules.items()
    }
    assert len(graph) > 5 and any(graph.values())  # the walk found the modules and their imports
    cycle = _cycle(graph)
    assert cycle is None, "import cycle among datagen.providers modules: " + " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_function_level_cycle() -> None:
    a = ast.parse("from pkg import b\n")
    b = ast.parse("def f():\n    from pkg.a import x\n")
    graph = {
        "pkg.a": _imported("pkg.a", a, False) & {"pkg.b"},
        "pkg.b": _imported("pkg.b", b, False) & {"pkg.a"},
    }
    assert _cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]
