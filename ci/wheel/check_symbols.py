"""Fails when the wheel's extension needs a symbol an old Linux lacks (ci/build-wheel.sh).

    python ci/wheel/check_symbols.py dist/pyomp_rs-*.whl 2.28

Every undefined dynamic symbol of pyomp/_pass.abi3.so must be CPython's API (the
interpreter that imports the module defines it), a weak reference (Rust's std probes for
newer functions at run time), or versioned no newer than GLIBC_<max> (GCC_*, libgcc_s's,
are on the manylinux list).  An unversioned one is a function the glibc stubs of the link
lacked (newer than the wheel's glibc): the import would fail with "undefined symbol".
Prints the newest glibc version used.
"""

import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


def undefined_symbols(so):
    """(name, version or '', weak) of each undefined dynamic symbol (objdump -T)."""
    out = subprocess.run(["objdump", "-T", str(so)], capture_output=True, text=True,
                         check=True).stdout
    found = []
    for line in out.splitlines():
        if "*UND*" not in line:
            continue
        fields = line.split()
        name = fields[-1]
        version = next((f.strip("()") for f in fields if re.match(r"\(?[A-Z_]+_\d", f)), "")
        found.append((name, version, " w " in f" {line} "))
    return found


def check(so, max_glibc):
    limit = tuple(int(x) for x in max_glibc.split("."))
    problems, newest = [], (0,)
    for name, version, weak in undefined_symbols(so):
        if name.startswith(("Py", "_Py")) or weak:
            continue
        if not version:
            problems.append(f"{name}: no version (not in glibc {max_glibc}'s stubs)")
            continue
        m = re.match(r"GLIBC_(\d+(?:\.\d+)*)$", version)
        if m:
            have = tuple(int(x) for x in m.group(1).split("."))
            newest = max(newest, have)
            if have > limit:
                problems.append(f"{name}@{version}: newer than glibc {max_glibc}")
    return problems, ".".join(map(str, newest))


def main(wheel, max_glibc):
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as z:
            (member,) = [n for n in z.namelist() if n.endswith(".so")]
            so = Path(z.extract(member, tmp))
        problems, newest = check(so, max_glibc)
    for p in problems:
        print("  " + p)
    print(f"{member}: newest glibc symbol version {newest}; "
          f"{'FAILED' if problems else 'ok'} for glibc >= {max_glibc}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
