"""Find and load the OpenMP runtime (LLVM libomp or Intel libiomp5) for Python and for MCJIT code.

The LLVM pass emits calls in Clang's ``__kmpc_*`` ABI, which only libomp and libiomp5 provide
(not GCC's libgomp).  Compiled code is linked by MCJIT, where an unresolved symbol is not an
error but a call to address 0, so every symbol in ``symbols.py`` is checked here, once, at load.
"""

from __future__ import annotations

import ctypes
import glob
import os
import re
import site
import sys
import sysconfig
import threading
from dataclasses import dataclass, field

from llvmlite import binding as llvm

from ..errors import OpenMPRuntimeNotFound
from .symbols import ALL_SYMBOLS, PYTHON_API_SYMBOLS

ENV_VAR = "PYOMP_OPENMP_LIB"
#: Where to look when PYOMP_OPENMP_LIB is not set: "wheel" (only the runtime pip installed
#: with pyomp, the cmeel-libomp package), "system" (only the system's libraries), or both
#: (the default: the wheel's first).  The wheel's CI test sets "wheel" so that the system's
#: libomp cannot stand in for a missing dependency.
SEARCH_VAR = "PYOMP_OPENMP_SEARCH"
_SEARCHES = ("wheel", "system", "all")

#: What pyomp sets for the runtime (read when libomp starts) unless the user set it:
#: - OMP_CANCELLATION: `cancel` constructs take effect only when it is true at start;
#: - KMP_LOCK_KIND=tas: libomp's test-and-set lock for `critical` (also atomics' and
#:   reductions' fallback locks) and omp_*_lock, instead of its default queuing lock:
#:   per lock operation under contention (EPCC syncbench, 2 cores, libomp 21) 0.011 us
#:   against 0.074 at 2 threads, 0.067 against 2.3 at 8 and 0.14 against 6.0 at 16
#:   (oversubscribed: the test-and-set lock yields, it does not collapse); gcc/libgomp
#:   0.017, 0.034, 0.038 (benchmarks/README.md, "Locks").
#: - KMP_TEAMS_THREAD_LIMIT: libomp caps the threads of all a league's teams at the number
#:   of processors (num_teams(3) on 2 cores gives 2 teams and a warning); a program asks
#:   for a league as it asks num_threads for a team, and gets it (oversubscribed if so).
RUNTIME_DEFAULTS = {"OMP_CANCELLATION": "true", "KMP_LOCK_KIND": "tas",
                    "KMP_TEAMS_THREAD_LIMIT": "4096"}
#: The RUNTIME_DEFAULTS this process set (not the user's): what benchmarks take out of
#: their C programs' environment, so C runs with libomp's own defaults.
defaults_applied: dict[str, str] = {}

_HOW_TO_FIX = (
    "pyomp's wheel depends on `cmeel-libomp` (LLVM libomp from PyPI): `pip install "
    "cmeel-libomp` restores it. Or install a system one (`apt-get install libomp-19-dev` on "
    "Debian/Ubuntu, `dnf install libomp` on Fedora, `brew install libomp`), or set "
    "PYOMP_OPENMP_LIB to the path of a libomp.so (or Intel libiomp5.so). GCC's libgomp does "
    "not work: it lacks the __kmpc_* entry points."
)


@dataclass(frozen=True)
class RuntimeLibrary:
    """The loaded OpenMP runtime: where it is, who made it and which version (best effort)."""

    path: str
    vendor: str  # "LLVM libomp" or "Intel libiomp5"
    version: str  # e.g. "19" for Debian's llvm-19, "unknown" when nothing tells
    source: str = "system"  # "wheel" (cmeel-libomp from PyPI), "system" or PYOMP_OPENMP_LIB
    cdll: ctypes.CDLL = field(default=None, repr=False, compare=False)


_lock = threading.Lock()
_loaded: RuntimeLibrary | None = None


def load() -> RuntimeLibrary:
    """Load the OpenMP runtime once (later calls return the same object) or raise
    ``OpenMPRuntimeNotFound``.  ``PYOMP_OPENMP_LIB``, when set, is the only candidate."""
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                _loaded = _load()
    return _loaded


def _load() -> RuntimeLibrary:
    for name, value in RUNTIME_DEFAULTS.items():  # a user's own setting wins
        if name not in os.environ:
            os.environ[name] = value
            defaults_applied[name] = value
    forced = os.environ.get(ENV_VAR)
    if forced:
        # An explicit choice must never be replaced silently by another library.
        return _open(forced, f"{ENV_VAR}={forced}: ", source=ENV_VAR)
    search = os.environ.get(SEARCH_VAR) or "all"
    if search not in _SEARCHES:
        raise OpenMPRuntimeNotFound(
            f"{SEARCH_VAR}={search!r}: expected one of {', '.join(_SEARCHES)}")
    rejected = []
    for source, path in _candidates(search):
        try:
            return _open(path, source=source)
        except OpenMPRuntimeNotFound as exc:
            if os.path.sep in path:  # a bare soname the dynamic loader lacks is no news
                rejected.append(str(exc))
    lines = ["No usable OpenMP runtime library found"
             + (f" ({SEARCH_VAR}={search})." if search != "all" else ".")]
    lines += ["  rejected: " + r for r in rejected]
    lines.append(_HOW_TO_FIX)
    raise OpenMPRuntimeNotFound("\n".join(lines))


def _open(path: str, prefix: str = "", source: str = "system") -> RuntimeLibrary:
    """Check ``path`` has every symbol, then give its addresses to MCJIT."""
    try:
        # RTLD_LOCAL first: a library we reject must not pollute the global namespace.
        probe = ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)
    except OSError as exc:
        raise OpenMPRuntimeNotFound(
            f"{prefix}cannot load OpenMP runtime {path!r}: {exc}\n{_HOW_TO_FIX}") from None
    missing = [name for name in ALL_SYMBOLS if not hasattr(probe, name)]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        shown = ", ".join(missing[:5]) + more
        raise OpenMPRuntimeNotFound(
            f"{prefix}OpenMP runtime {path!r} lacks required symbol(s) {shown} "
            f"(is it GCC's libgomp? pyomp needs LLVM libomp or Intel libiomp5).\n{_HOW_TO_FIX}")
    addresses = {name: ctypes.cast(getattr(probe, name), ctypes.c_void_p).value
                 for name in ALL_SYMBOLS}
    real = _real_path(addresses["omp_get_thread_num"]) or os.path.realpath(path)
    # The library stays RTLD_LOCAL: libomp also exports libgomp's entry points (GOMP_*,
    # omp_*), and a global libomp would capture the libraries loaded after it that need
    # them: Numba's `omp` threading layer then ran prange on libomp's pool and its start-up
    # omp_set_num_threads(NUMBA_NUM_THREADS) changed pyomp's team size.  Nothing needs it
    # global: compiled code reaches it through the explicit symbols below, Python through
    # this handle.
    lib = probe
    # Bind our names explicitly: LLVM checks explicit symbols first, so compiled code calls
    # this library even if another OpenMP runtime (say torch's libgomp) was loaded earlier
    # and exports some of the same omp_* names.  Python (ctypes) and MCJIT code then agree.
    for name, addr in addresses.items():
        llvm.add_symbol(name, addr)
        if llvm.address_of_symbol(name) != addr:  # pragma: no cover - defensive
            raise OpenMPRuntimeNotFound(f"{prefix}MCJIT cannot resolve {name} in {real!r}")
    _register_pyomp_runtime(prefix)
    _check_python_api(prefix)
    return RuntimeLibrary(real, _vendor(real), _version(path, real), source, lib)


def _register_pyomp_runtime(prefix):
    """pyomp's own loop dispatcher lives in the Rust extension (pass-plugin/src/runtime.rs);
    compiled code calls it by name, also code loaded from the cache without compiling."""
    from .. import _pass
    for name, addr in _pass.runtime_symbols():
        llvm.add_symbol(name, addr)
        if llvm.address_of_symbol(name) != addr:  # pragma: no cover - defensive
            raise OpenMPRuntimeNotFound(f"{prefix}MCJIT cannot resolve {name}")


def _check_python_api(prefix):
    """The fork's GIL release calls CPython's C API by name: bound explicitly (the JIT
    searches the process only once Numba has set up its own code generator)."""
    for name in PYTHON_API_SYMBOLS:
        addr = ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p).value
        llvm.add_symbol(name, addr)
        if llvm.address_of_symbol(name) != addr:  # pragma: no cover - defensive
            raise OpenMPRuntimeNotFound(f"{prefix}MCJIT cannot resolve CPython's {name}")


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def _real_path(address: int) -> str | None:
    """The file a loaded symbol lives in (dladdr), so a bare soname yields a real path."""
    try:
        dladdr = ctypes.CDLL(None).dladdr
    except (OSError, AttributeError):
        return None
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    out = _DlInfo()
    if not dladdr(address, ctypes.byref(out)) or not out.dli_fname:
        return None
    return os.path.realpath(os.fsdecode(out.dli_fname))


def _site_dirs() -> list[str]:
    """Directories where pip may have put the cmeel-libomp wheel (no heavy imports)."""
    dirs = [sysconfig.get_paths().get(k) for k in ("purelib", "platlib")]
    try:
        dirs += site.getsitepackages() + [site.getusersitepackages()]
    except AttributeError:  # old virtualenv's site.py lacks these
        pass
    dirs += sys.path
    seen = []
    for d in dirs:
        if d and d not in seen and os.path.isdir(d):
            seen.append(d)
    return seen


def _llvm_major(path: str) -> int:
    m = re.search(r"llvm-(\d+)", path)
    return int(m.group(1)) if m else -1


def _candidates(search="all"):
    """(source, library path or soname) to try, best first, without duplicates: the
    cmeel-libomp wheel's ("wheel"), then the system's ("system"); `search` keeps one kind.

    A generator: the last resort, ctypes.util.find_library, runs ldconfig/gcc subprocesses,
    so it only runs when every cheap candidate has failed.
    """
    seen = set()

    def fresh(paths):
        for p in paths:
            if p not in seen:
                seen.add(p)
                yield p

    if search in ("wheel", "all"):
        for d in _site_dirs():  # the cmeel-libomp wheel
            lib = os.path.join(d, "cmeel.prefix", "lib")
            for pattern in ("libomp.so*", "libomp*.dylib"):
                for path in fresh(sorted(glob.glob(os.path.join(lib, pattern)), key=len)):
                    yield "wheel", path
    if search == "wheel":
        return
    # The environment's own lib/ (a conda environment's llvm-openmp: conda's package of pyomp
    # depends on it, conda/recipe.yaml)
    for pattern in ("libomp.so*", "libomp.dylib"):
        for path in fresh(sorted(glob.glob(os.path.join(sys.prefix, "lib", pattern)), key=len)):
            yield "system", path
    # Debian/Ubuntu's layout; llvm-19 (what the pass is built against) first, then newest first.
    debian = ["/usr/lib/llvm-19/lib/libomp.so.5"]
    debian += sorted(glob.glob("/usr/lib/llvm-*/lib/libomp.so*"),
                     key=lambda p: (-_llvm_major(p), len(p)))
    for path in fresh(p for p in debian if os.path.exists(p)):
        yield "system", path
    # Whatever the dynamic loader finds by soname (LD_LIBRARY_PATH, ld.so.cache).
    for name in fresh(["libomp.so.5", "libomp.so", "libiomp5.so"]):
        yield "system", name
    import ctypes.util

    for path in fresh(filter(None, (ctypes.util.find_library(n) for n in ("omp", "iomp5")))):
        yield "system", path


def _vendor(real: str) -> str:
    return "Intel libiomp5" if "iomp" in os.path.basename(real) else "LLVM libomp"


def _version(path: str, real: str) -> str:
    """Best effort: llvm-N in the path, libomp-N.so, cmeel's dist-info, or the build string."""
    for p in (path, real):
        m = re.search(r"llvm-(\d+)", p) or re.search(r"lib(?:i?omp)-(\d+)", os.path.basename(p))
        if m:
            return m.group(1)
    m = re.match(r"(.*)[/\\]cmeel\.prefix[/\\]lib[/\\]", path)
    if m:
        for meta in glob.glob(os.path.join(m.group(1), "cmeel_libomp-*.dist-info")):
            return os.path.basename(meta)[len("cmeel_libomp-"):-len(".dist-info")]
    try:  # libomp embeds e.g. "@(#) LLVM OMP build compiler: Clang 19.1"; ~1 MB, page-cached
        with open(real, "rb") as f:
            m = re.search(rb"build compiler: Clang (\d+(?:\.\d+)*)", f.read())
        if m:
            return m.group(1).decode()
    except OSError:
        pass
    return "unknown"


def info() -> dict:
    """What ``python -m pyomp info`` prints: the runtime, its defaults and the OMP_*/KMP_* vars."""
    rt = load()
    out = {
        "path": rt.path,
        "vendor": rt.vendor,
        "version": rt.version,
        "source": rt.source,
        "other_runtimes": other_openmp_runtimes(rt.path),
        "omp_get_max_threads": int(rt.cdll.omp_get_max_threads()),
        "omp_get_num_procs": int(rt.cdll.omp_get_num_procs()),
    }
    for key in sorted(os.environ):
        if key.startswith(("OMP_", "KMP_")) or key == ENV_VAR:
            out[key] = os.environ[key]
    return out


#: File names of OpenMP runtimes (GCC's libgomp, LLVM's libomp, Intel's libiomp5).
_OPENMP_RUNTIME = re.compile(r"^lib(gomp|i?omp5?)([-.].*)?\.(so|dylib)")


def other_openmp_runtimes(ours: str) -> list[str]:
    """OpenMP runtimes mapped into this process besides pyomp's (`ours`): Numba's
    `parallel=True` layer on libgomp, a BLAS built with OpenMP, torch...  Each keeps its
    own thread pool: two pools busy at once oversubscribe the cores (docs: README,
    "Runtime").  Linux only (/proc/self/maps); elsewhere, none reported."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split(None, 5)[5].strip() for line in f if line.count(" ") >= 5
                     and "/" in line}
    except OSError:
        return []
    ours = os.path.realpath(ours)
    return sorted(p for p in paths if _OPENMP_RUNTIME.match(os.path.basename(p))
                  and os.path.realpath(p) != ours)
