"""Fails when modules import each other in a circle (issue 15: each module can be read
alone, the pipeline in one direction).

    python ci/import_cycles.py            # both halves (what ci/test.sh runs)
    python ci/import_cycles.py --python   # numba_ext/pyomp only
    python ci/import_cycles.py --rust     # pass-plugin/src only

Python: every `import` of the package's own modules, at module level or inside a function
(a deferred import is still a dependence). Rust: `crate::m` and `super::m` paths between
the crate's modules (a file or a folder). Prints each cycle (a strongly connected group of
modules) and exits 1 if there is one.
"""

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "numba_ext" / "pyomp"
CRATE = ROOT / "pass-plugin" / "src"


def python_graph():
    """module name (dotted, inside the package) -> the package's modules it imports."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom) or node.level == 0:
                continue
            base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
            stem = base + (node.module.split(".") if node.module else [])
            for alias in node.names:  # `from . import x` names modules; `from .x import y`
                target = ".".join(stem + [alias.name])
                found = target if target in modules else ".".join(stem)
                if found in modules and found != name and found != "":
                    graph[name].add(found)
    return graph


# `crate::a::b::...` or `super::super::a::...`: the path's segments, resolved to the longest
# prefix that names one of the crate's modules (a file or a folder).
_RUST_PATH = re.compile(r"\b(crate|super)((?:::[a-z_][a-z0-9_]*)+)")


def rust_graph():
    """module (path below src, e.g. lower/loops) -> the crate's modules it uses."""
    modules = {}
    for path in CRATE.rglob("*.rs"):
        rel = path.relative_to(CRATE).with_suffix("")
        name = str(rel.parent) if rel.name == "mod" else str(rel)
        modules[name] = path
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        text = re.sub(r"//.*", "", path.read_text())
        text = text.split("#[cfg(test)]")[0]  # a module's tests may use anything
        parent = str(Path(name).parent) if path.name != "mod.rs" else name
        for root, rest in _RUST_PATH.findall(text):
            segments = rest.split("::")[1:]
            if root == "crate":
                base = Path()
            else:
                base = Path(parent) if path.name != "mod.rs" else Path(name).parent
            while segments and segments[0] == "super":
                base, segments = base.parent, segments[1:]
            prefixes = (str(base.joinpath(*segments[:k])) for k in range(len(segments), 0, -1))
            target = next((t for t in prefixes if t in modules), None)
            if target is not None and target != name:
                graph[name].add(target)
    return graph


def cycles(graph):
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="store_true")
    parser.add_argument("--rust", action="store_true")
    args = parser.parse_args()
    halves = {"python": python_graph, "rust": rust_graph}
    chosen = [h for h in halves if getattr(args, h)] or list(halves)
    failed = False
    for half in chosen:
        graph = halves[half]()
        groups = cycles(graph)
        for group in groups:
            edges = [f"{a} -> {b}" for a in group for b in sorted(graph[a]) if b in group]
            print(f"{half}: import cycle among {', '.join(group)}: {'; '.join(edges)}")
        if not groups:
            print(f"{half}: no import cycle ({len(graph)} modules)")
        failed = failed or bool(groups)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
