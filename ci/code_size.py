"""Lines per module and per function of both halves, and the ones over the limits (issue 15).

    python ci/code_size.py             # the table: modules over 300 lines, functions over 60
    python ci/code_size.py --check     # exit 1 on an unexplained module > 500 / function > 80
    python ci/code_size.py --all       # every module and every function over 40 lines

Limits (style.md aims at ~300-line modules): a module over 500 lines or a function over 80
is allowed only when it says why: the words "Long on purpose:" in the module's opening
docstring or `//!` header, or in the function's docstring or the comment lines directly
above it (a table, a state machine, a test list).  Rust test modules (`#[cfg(test)] mod
tests`, `tests.rs` files, the crate's tests/) are not counted.
"""

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "numba_ext" / "pyomp"
CRATE = ROOT / "pass-plugin" / "src"
MODULE_LIMIT, FUNCTION_LIMIT = 500, 80
EXPLAINED = "Long on purpose:"


def python_sizes():
    """(module path, lines, explained, [(function, lines, explained)])"""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        tree = ast.parse(text, str(path))
        functions = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                doc = ast.get_docstring(node) or ""
                functions.append((node.name, size, EXPLAINED in doc))
        module_doc = ast.get_docstring(tree) or ""
        out.append((path.relative_to(ROOT), len(text.splitlines()), EXPLAINED in module_doc,
                    functions))
    return out


_RUST_FN = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:unsafe\s+)?(?:extern\s+\"C\"\s+)?"
                      r"fn\s+([a-z_][a-z0-9_]*)")


def _strip_rust_literals(line):
    """A line without its strings, chars and // comment, so braces inside them don't count."""
    line = re.sub(r'r#*"[^"]*"#*', '""', line)
    line = re.sub(r'"(?:\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(?:\\.|[^'\\])'", "''", line)
    return line.split("//")[0]


def _rust_functions(lines, in_test_file=False):
    """(name, lines, explained) of each `fn`, outside test modules: a function runs from
    its `fn` line to the line where its braces balance again."""
    functions, in_tests = [], False
    i = 0
    while i < len(lines):
        if lines[i].strip() == "#[cfg(test)]" or not i and in_test_file:
            in_tests = True  # by convention the last item of a file
        m = _RUST_FN.match(lines[i])
        if not m or in_tests:
            i += 1
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            code = _strip_rust_literals(lines[j])
            depth += code.count("{") - code.count("}")
            started = started or "{" in code
            if (started and depth <= 0) or (not started and code.rstrip().endswith(";")):
                break
            j += 1
        above = []
        k = i - 1
        while k >= 0 and (lines[k].strip().startswith("//") or lines[k].strip().startswith("#[")):
            above.append(lines[k])
            k -= 1
        functions.append((m.group(1), j - i + 1, any(EXPLAINED in a for a in above)))
        i = j + 1 if started else i + 1
    return functions


def rust_sizes():
    out = []
    for path in sorted(CRATE.rglob("*.rs")):
        lines = path.read_text().splitlines()
        header = [ln for ln in lines if ln.startswith("//!")]
        test_at = next((n for n, ln in enumerate(lines) if ln.strip() == "#[cfg(test)]"),
                       len(lines))
        if path.name == "tests.rs":  # a module's tests in a file of their own
            test_at = 0
        out.append((path.relative_to(ROOT), test_at, any(EXPLAINED in h for h in header),
                    _rust_functions(lines, path.name == "tests.rs")))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--all", action="store_true")
    args = parser.parse_args()
    module_shown, function_shown = (0, 40) if args.all else (300, 60)
    failures = []
    for half, sizes in (("python", python_sizes()), ("rust", rust_sizes())):
        total = sum(lines for _, lines, _, _ in sizes)
        functions = [f for *_, fs in sizes for f in fs]
        over_m = sum(1 for _, lines, _, _ in sizes if lines > MODULE_LIMIT)
        over_f = sum(1 for _, lines, _ in functions if lines > FUNCTION_LIMIT)
        print(f"== {half}: {len(sizes)} modules, {total} lines (Rust: without test modules), "
              f"{len(functions)} functions; over the limits: {over_m} modules > "
              f"{MODULE_LIMIT}, {over_f} functions > {FUNCTION_LIMIT}")
        for path, lines, explained, fs in sorted(sizes, key=lambda s: -s[1]):
            long_fs = sorted((f for f in fs if f[1] > function_shown), key=lambda f: -f[1])
            if lines <= module_shown and not long_fs:
                continue
            mark = " (explained)" if explained and lines > MODULE_LIMIT else ""
            print(f"{lines:6d}  {path}{mark}")
            if lines > MODULE_LIMIT and not explained:
                failures.append(f"{path}: {lines} lines")
            for name, size, f_explained in long_fs:
                f_mark = " (explained)" if f_explained and size > FUNCTION_LIMIT else ""
                print(f"{size:6d}      {name}(){f_mark}")
                if size > FUNCTION_LIMIT and not f_explained:
                    failures.append(f"{path}: {name}() {size} lines")
    if args.check and failures:
        print(f"\nover the limits without a '{EXPLAINED}' comment:")
        for f in failures:
            print("  " + f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
