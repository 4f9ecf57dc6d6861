"""Runs on the GPU machine (CUDA, CuPy; no Numba): loads each PTX kernel prepare.py wrote,
launches it on the prepared inputs (one thread per iteration, 256 per block) and compares
the result with the CPU's. Exit status 0 only if every kernel matches.

    python ci/gpu_check/run_on_gpu.py ci/gpu_check/out
"""

import json
import sys
from pathlib import Path

import cupy as cp
import numpy as np


def arguments(entry, arrays):
    """The kernel's arguments in pyomp.gpu.LoopKernel.arguments' order."""
    args = [np.int64(entry["trip_count"]), np.int64(entry["start"]), np.int64(entry["step"])]
    for name, ty in entry["variables"]:
        if name in arrays:
            host, dev = arrays[name]
            args += [np.uint64(0), np.uint64(0), np.int64(host.size), np.int64(host.itemsize),
                     np.uint64(dev.data.ptr)]
            args += [np.int64(d) for d in host.shape] + [np.int64(s) for s in host.strides]
        elif ty.startswith("float"):
            args.append(np.float64(entry["scalars"][name]))
        else:
            args.append(np.int64(entry["scalars"][name]))
    return args


def main(folder):
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    ok = True
    for name, entry in manifest.items():
        arrays = {}
        for path in folder.glob(f"{name}.*.npy"):
            var = path.name.split(".")[1]
            if var != "expected":
                host = np.load(path)
                arrays[var] = (host, cp.asarray(host))
        kernel = cp.RawModule(path=str(folder / f"{name}.ptx")).get_function("pyomp_kernel")
        n = entry["trip_count"]
        kernel(((n + 255) // 256,), (256,), arguments(entry, arrays))
        cp.cuda.runtime.deviceSynchronize()
        got = cp.asnumpy(arrays[entry["result"]][1])
        want = np.load(folder / f"{name}.expected.npy")
        match = np.allclose(got, want, rtol=1e-12, atol=0)
        ok &= match
        print(f"{name}: {'matches the CPU' if match else 'DIFFERS'} "
              f"(max |diff| {np.abs(got - want).max():.3g}, n={n})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "ci/gpu_check/out"))
