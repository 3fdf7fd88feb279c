"""The import contract (DESIGN.md's dependency rules), read from the source with `ast`:
every import counts, at module level, inside a function or under `if TYPE_CHECKING:`
(a cycle a type checker has to break is a cycle of design too)."""
from __future__ import annotations

import ast
from pathlib import Path

import edgemobilenet

PKG = Path(edgemobilenet.__file__).resolve().parent
ROOT = PKG.parent

# (importer prefix, forbidden prefix, why)
FORBIDDEN = [
    ("edgemobilenet.models", "edgemobilenet.quant", "models know nothing of quantization"),
    ("edgemobilenet.models", "edgemobilenet.backends", "models know nothing of backends"),
    ("edgemobilenet.models", "edgemobilenet.device", "models know nothing of devices"),
    ("edgemobilenet.quant.ir", "edgemobilenet", "the IR is a leaf that every module can name"),
    ("edgemobilenet.quant", "edgemobilenet.backends", "quant imports no backend"),
    ("edgemobilenet.quant", "edgemobilenet.device", "quant imports no device code"),
    ("edgemobilenet.backends", "edgemobilenet.models", "backends read a QGraph, not models"),
    ("edgemobilenet.backends", "edgemobilenet.quant.capture", "backends read a QGraph"),
    ("edgemobilenet.backends", "torch", "backends never import torch"),
    ("edgemobilenet.backends.mcu", "edgemobilenet.backends.tvm",
     "kernel choice is handed to the MCU backend, not imported"),
    ("edgemobilenet.device", "edgemobilenet.backends", "device code moves bytes and measures"),
]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(tree: ast.AST, module: str, is_pkg: bool, modules: set[str]) -> set[str]:
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                parts = parts[: len(parts) - node.level + (1 if is_pkg else 0)]
                base = ".".join(parts + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.add(sub if sub in modules else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> every module or package it imports (ours and third-party)."""
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    mods = set(files)
    return {m: _imports(ast.parse(p.read_text()), m, p.name == "__init__.py", mods)
            for m, p in files.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root] & graph.keys())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w] & graph.keys()))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_dependency_rules():
    bad = [f"{m} imports {d} ({why})"
           for m, deps in sorted(import_graph().items()) for d in sorted(deps)
           for src, dst, why in FORBIDDEN if _under(m, src) and _under(d, dst)]
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    graph = import_graph()
    # a package's __init__ re-exporting its own submodules is not a cycle of design
    ours = {m: {d for d in deps if not (_under(m, d) and d != m)} for m, deps in graph.items()}
    assert not _cycles(ours), _cycles(ours)


def test_the_checker_sees_lazy_and_type_checking_imports_and_cycles():
    tree = ast.parse("def f():\n    from edgemobilenet.backends.tvm import build\n"
                     "if TYPE_CHECKING:\n    import edgemobilenet.device.rpc\n")
    got = _imports(tree, "edgemobilenet.x", False, {"edgemobilenet.backends.tvm.build"})
    assert got == {"edgemobilenet.backends.tvm.build", "edgemobilenet.device.rpc"}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
