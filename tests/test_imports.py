"""No import circle anywhere in the lab's packages: every `import` and `from ... import` (function-level ones and
those for type checking too) as an edge between the lab's modules, and no cycle among them."""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("labcore", "rllab", "genlab")


def _modules() -> dict[str, Path]:
    return {".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): f
            for pkg in PACKAGES for f in (ROOT / pkg).rglob("*.py")}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from genlab import shapes`
    return {m for m in found if m in modules and m != name}


def import_cycles() -> list[list[str]]:
    modules = _modules()
    edges = {name: sorted(_imports(name, path, modules)) for name, path in modules.items()}
    cycles, done, stack = [], set(), []

    def visit(m: str) -> None:
        if m in stack:
            cycles.append(stack[stack.index(m):] + [m])
            return
        if m in done:
            return
        stack.append(m)
        for dep in edges[m]:
            visit(dep)
        stack.pop()
        done.add(m)

    for m in sorted(modules):
        visit(m)
    return cycles


def test_no_import_circle():
    cycles = import_cycles()
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_check_finds_a_circle(tmp_path, monkeypatch):
    pkg = tmp_path / "genlab"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from genlab.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from genlab import a\n")  # a function-level import counts too
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGES", ("genlab",))
    assert import_cycles() == [["genlab.a", "genlab.b", "genlab.a"]]
