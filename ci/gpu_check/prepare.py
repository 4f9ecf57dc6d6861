"""Prepares the GPU check (docs/design/gpu-offload.md): the PTX kernels of two pyomp
target loops, their inputs and the CPU's answers, written to a folder that the device
machine receives (it has CUDA and CuPy, not Numba). There, run_on_gpu.py launches each
kernel and compares with the CPU.

    .venv/bin/python ci/gpu_check/prepare.py ci/gpu_check/out
"""

import json
import sys
from pathlib import Path

import numpy as np
from pyomp import njit, openmp
from pyomp.gpu import loop_kernel


@njit
def saxpy(a, x, y):
    with openmp("target teams distribute parallel for map(to: x) map(tofrom: y)"):
        for i in range(len(y)):
            y[i] += a * x[i] + np.sqrt(x[i])


@njit
def smooth(u, v, lo):
    with openmp("target teams distribute parallel for map(to: u) map(tofrom: v)"):
        for i in range(lo, u.shape[0] - 1):
            v[i] = 0.25 * u[i - 1] + 0.5 * u[i] + 0.25 * u[i + 1]


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n = 100_003  # not a multiple of any block size: the guard is exercised
    cases = {
        "saxpy": (saxpy, {"a": 2.5, "x": rng.random(n), "y": rng.random(n)}, "y"),
        "smooth": (smooth, {"u": rng.random(n), "v": np.zeros(n), "lo": 1}, "v"),
    }
    manifest = {}
    for name, (fn, inputs, result) in cases.items():
        args = tuple(inputs[k] for k in fn.py_func.__code__.co_varnames[:len(inputs)])
        kernel = loop_kernel(fn, args, sm="sm_90")
        (out / f"{name}.ptx").write_text(kernel.ptx)
        for k, v in inputs.items():
            if isinstance(v, np.ndarray):
                np.save(out / f"{name}.{k}.npy", v)
        expected = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in inputs.items()}
        fn(*(expected[k] for k in fn.py_func.__code__.co_varnames[:len(inputs)]))
        np.save(out / f"{name}.expected.npy", expected[result])
        manifest[name] = {
            "trip_count": kernel.trip_count, "start": kernel.start, "step": kernel.step,
            "variables": [[v, str(t)] for v, t in kernel.variables],
            "scalars": {k: v for k, v in inputs.items() if not isinstance(v, np.ndarray)},
            "result": result,
        }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(f"wrote {len(cases)} kernels to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ci/gpu_check/out")
