"""cache=True works through pyomp's pipeline: a cached function loads and runs in a new
process without recompiling."""

import os
import subprocess
import sys
import textwrap

MODULE = textwrap.dedent("""
    import numpy as np
    import pyomp

    @pyomp.njit(cache=True)
    def kernel(a):
        s = 0.0
        for i in range(a.size):
            s += a[i] * i
        return s

    if __name__ == "__main__":
        r = kernel(np.arange(10.0))
        sig = kernel.signatures[0]
        print(r, kernel.stats.cache_hits.get(sig, 0), kernel.stats.cache_misses.get(sig, 0))
""")


def _run(path, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    out = subprocess.run([sys.executable, str(path)], env=env, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_cached_function_loads_in_a_new_process(tmp_path):
    path = tmp_path / "cached_kernel.py"
    path.write_text(MODULE)
    first = _run(path, tmp_path / "cache")
    second = _run(path, tmp_path / "cache")
    assert first[0] == second[0] == "285.0"
    assert first[1:] == ["0", "1"], "first run compiles and writes the cache"
    assert second[1:] == ["1", "0"], "second run loads from the cache"
