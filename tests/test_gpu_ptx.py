"""The first step towards GPUs (docs/design/gpu-offload.md): a target loop of a pyomp
function compiles to a PTX kernel through LLVM's NVPTX backend, linked into the pass
(pyomp.gpu, pass-plugin/src/gpu.rs). No GPU here: the PTX is checked for what the kernel
must do (one iteration per thread, guarded by the trip count; global loads and stores;
the math as PTX instructions) and host-only code is refused by name. Running the kernel
on a GPU and comparing with the CPU is ci/gpu_check/ (needs a lent GPU machine)."""

import re

import numpy as np
import pytest
from pyomp import PyompError, njit, openmp
from pyomp.errors import PassError
from pyomp.gpu import loop_kernel


@njit
def saxpy(a, x, y):
    with openmp("target teams distribute parallel for map(to: x) map(tofrom: y)"):
        for i in range(len(y)):
            y[i] += a * x[i] + np.sqrt(x[i])


@njit
def stencil(u, v, lo):
    with openmp("target parallel for"):
        for i in range(lo, u.shape[0] - 1):
            v[i] = 0.5 * (u[i - 1] + u[i + 1])


@njit
def calls_exp(x):
    with openmp("target teams loop"):
        for i in range(x.size):
            x[i] = np.exp(x[i])


@njit
def no_loop(x):
    with openmp("target"):
        x[0] = 1


def test_a_target_loop_becomes_a_ptx_kernel():
    x, y = np.arange(8.0), np.ones(8)
    k = loop_kernel(saxpy, (2.0, x, y), sm="sm_80")
    ptx = k.ptx
    assert ".visible .entry pyomp_kernel(" in ptx and ".target sm_80" in ptx
    assert "%tid.x" in ptx and "%ctaid.x" in ptx and "%ntid.x" in ptx
    assert re.search(r"setp\.ge\.s64", ptx)  # threads past the trip count do nothing
    assert "ld.global.f64" in ptx and "st.global.f64" in ptx
    assert "sqrt.rn.f64" in ptx  # np.sqrt as the PTX instruction
    assert "NRT_" not in ptx and "Py" not in ptx
    assert [name for name, _ in k.variables] == ["y", "a", "x"]
    assert (k.trip_count, k.start, k.step) == (8, 0, 1)


def test_the_kernel_arguments_follow_numbas_array_layout():
    x, y = np.arange(8.0), np.ones(8)
    k = loop_kernel(saxpy, (2.0, x, y))
    args = k.arguments(y=(y, 0x1000), a=2.0, x=(x, 0x2000))
    assert args[:3] == [("int64", 8), ("int64", 0), ("int64", 1)]
    # y: meminfo, parent, nitems, itemsize, data, shape, strides
    assert args[3:10] == [("pointer", 0), ("pointer", 0), ("int64", 8), ("int64", 8),
                          ("pointer", 0x1000), ("int64", 8), ("int64", 8)]
    assert args[10] == ("float64", 2.0)
    params = re.findall(r"\.param \.(\w+) pyomp_kernel_param_\d+", k.ptx)
    assert len(params) == len(args)  # one PTX parameter per argument
    assert params[10] == "f64"


def test_a_range_with_a_start_and_another_architecture():
    u, v = np.arange(10.0), np.zeros(10)
    k = loop_kernel(stencil, (u, v, 1), sm="sm_90")
    assert ".target sm_90" in k.ptx
    assert (k.trip_count, k.start, k.step) == (8, 1, 1)


def test_host_only_code_is_refused_by_name():
    with pytest.raises(PassError, match="cannot run on an NVIDIA GPU: it calls llvm.exp"):
        loop_kernel(calls_exp, (np.ones(4),))


def test_a_function_without_a_target_loop_is_a_clear_error():
    with pytest.raises(PyompError, match="no `target ... parallel for` loop"):
        loop_kernel(no_loop, (np.ones(4),))
