"""Devices as compiled code and Python see them: the device numbers, the device routines
of the OpenMP API, and the helpers the front end calls around target constructs
(pyomp.targets rewrites each construct into calls of these).

Devices 0..HOST_DEVICES-1 are host offload devices, CPU devices with a data environment of
their own (the present tables of pass-plugin/src/device/): `map` copies to and from them
exactly as to a GPU. Device HOST_DEVICES (= omp_get_num_devices(), as OpenMP 5 numbers it)
is the initial device, the host itself, where `map` moves nothing. OMP_TARGET_OFFLOAD=
DISABLED leaves only the initial device (number 0); MANDATORY makes a construct on a device
that does not exist an error (DEFAULT runs it on the host, as libomptarget does).

Inside a target region the thread's default-device ICV (libomp's, which nested parallel
regions and tasks inherit) also carries the device the region runs on:
`(device + 1) << 16 | default device`, so omp_is_initial_device and omp_get_device_num
answer right on every thread of the region, in called functions too.
"""

from __future__ import annotations

import ctypes
import functools
import os

import numpy as np
from llvmlite import ir as llir
from numba import njit, types
from numba.core import cgutils
from numba.core.extending import intrinsic, overload, register_jitable
from numba.np.arrayobj import make_array

HOST_DEVICES = 4
_POLICY = os.environ.get("OMP_TARGET_OFFLOAD", "DEFAULT").strip().upper()
DISABLED = _POLICY == "DISABLED"
MANDATORY = _POLICY == "MANDATORY"
NUM_DEVICES = 0 if DISABLED else HOST_DEVICES
INITIAL_DEVICE = NUM_DEVICES
#: OpenMP 5.1's omp_initial_device and 5.2's omp_invalid_device.
omp_initial_device, omp_invalid_device = -1, -2

# map bits (pass-plugin/src/device/mod.rs); the second byte is what a scalar does
TO, FROM, ALWAYS, DELETE, PRESENT, OWN_COPY = 1, 2, 4, 8, 16, 32
#: a scalar's value comes back to the host after the construct (from / tofrom)
SCALAR_BACK = 256
#: no device clause (the default device) / no section bound
NO_DEVICE = -(1 << 40)
NO_BOUND = -(1 << 62)

_ICV_DEVICE_SHIFT = 16


@register_jitable
def _decode_default(raw):
    d = raw & 0xFFFF
    return d - 0x10000 if d >= 0x8000 else d


# -- the Rust entry points (registered with the JIT at import, pyomp.runtime.loader) --------
_i32, _i64 = types.int32, types.int64
_target_begin = types.ExternalFunction("pyomp_target_begin", _i64(_i32, _i32))
_target_end = types.ExternalFunction("pyomp_target_end", _i32(_i64))
_enter_data = types.ExternalFunction("pyomp_enter_data", _i64(_i32, _i64, _i64, _i64, _i64, _i32))
_exit_data = types.ExternalFunction("pyomp_exit_data", _i64(_i32, _i64, _i64, _i32))
_update_data = types.ExternalFunction("pyomp_update_data", _i64(_i32, _i64, _i64, _i32))
_target_alloc = types.ExternalFunction("pyomp_target_alloc", _i64(_i64, _i32))
_target_free = types.ExternalFunction("pyomp_target_free", types.void(_i64, _i32))
_target_memcpy = types.ExternalFunction(
    "pyomp_target_memcpy", _i32(_i64, _i64, _i64, _i64, _i64, _i32, _i32))
_target_is_present = types.ExternalFunction("pyomp_target_is_present", _i32(_i64, _i64, _i32))
_raw_get_default = types.ExternalFunction("omp_get_default_device", _i32())
_raw_set_default = types.ExternalFunction("omp_set_default_device", types.void(_i32))


def _with_out(name, kinds):
    """An @intrinsic calling Rust function `name`(args as `kinds`..., i64* out) -> i64:
    returns (result, *out) (the device address and the MemInfo of the buffer behind it)."""
    def typing(typingctx, *tys):
        if not all(isinstance(t, (types.Integer, types.Boolean)) for t in tys):
            return None

        def codegen(context, builder, sig, args):
            i64 = llir.IntType(64)
            fnty = llir.FunctionType(i64, [context.get_value_type(k) for k in kinds]
                                     + [i64.as_pointer()])
            fn = cgutils.get_or_insert_function(builder.module, fnty, name)
            out = cgutils.alloca_once(builder, i64)
            values = [context.cast(builder, v, t, k) for v, t, k in zip(args, sig.args, kinds)]
            result = builder.call(fn, [*values, out])
            return context.make_tuple(builder, sig.return_type, [result, builder.load(out)])
        return types.UniTuple(types.int64, 2)(*tys), codegen

    params = ", ".join(f"a{i}" for i in range(len(kinds)))
    namespace = {"typing": typing}
    exec(f"def f(typingctx, {params}):\n    return typing(typingctx, {params})",  # noqa: S102
         namespace)
    return intrinsic(namespace["f"])


_map_enter = _with_out("pyomp_map_enter", (_i64, _i64, _i64, _i64, _i64, _i32))
_device_address = _with_out("pyomp_device_address", (_i32, _i64, _i64))


def _register_buffers():
    """Device buffers are Numba MemInfos (pass-plugin/src/device/buffer.rs): a view of
    one keeps it alive."""
    from numba.core.runtime import _nrt_python

    from . import _pass
    helpers = _nrt_python.c_helpers
    _pass.register_nrt(helpers["MemInfo_alloc_safe_aligned"], helpers["MemInfo_data"],
                       helpers["MemInfo_release"])


_register_buffers()


@functools.cache
def _py(name, restype, *argtypes):
    """A ctypes function for one of pyomp's runtime entry points (made once)."""
    from . import _pass
    address = dict(_pass.runtime_symbols())[name]
    return ctypes.CFUNCTYPE(restype, *argtypes)(address)


# -- the device routines of the OpenMP API (pyomp.runtime.api publishes them) ---------------
def _raw_icv_py():
    from .runtime.loader import load
    return load().cdll.omp_get_default_device()


def _set_raw_icv_py(raw):
    from .runtime.loader import load
    load().cdll.omp_set_default_device(ctypes.c_int(raw))


@register_jitable
def _device_of(raw):
    """The device the thread runs on, from the ICV (INITIAL_DEVICE outside target)."""
    on = raw >> _ICV_DEVICE_SHIFT
    return on - 1 if on else INITIAL_DEVICE


_NO_SUCH_DEVICE = -1000


@register_jitable
def _rust_device(device):
    """An OpenMP device number as the Rust side numbers devices: the host is HOST_DEVICES
    whatever OpenMP calls it; an unknown number stays unknown (the Rust side refuses it)."""
    if device == INITIAL_DEVICE or device == omp_initial_device:
        return HOST_DEVICES
    if 0 <= device < NUM_DEVICES:
        return device
    return _NO_SUCH_DEVICE


@register_jitable
def _with_default(raw, device):
    return (raw & ~0xFFFF) | (device & 0xFFFF)


ROUTINES = {
    # name: (params, doc, Python implementation, compiled implementation)
    "omp_get_num_devices": (
        [], "The number of non-host devices (pyomp's host offload devices).",
        lambda: NUM_DEVICES, lambda: np.int32(NUM_DEVICES)),
    "omp_get_initial_device": (
        [], "The device number of the host (the initial device): omp_get_num_devices().",
        lambda: INITIAL_DEVICE, lambda: np.int32(INITIAL_DEVICE)),
    "omp_get_default_device": (
        [], "The device a target construct without a device clause runs on.",
        lambda: _decode_default(_raw_icv_py()), lambda: np.int32(current_default_device())),
    "omp_set_default_device": (
        ["device_num"], "Set the device target constructs without a device clause run on.",
        lambda d: _set_raw_icv_py(_with_default(_raw_icv_py(), d)),
        lambda a: _raw_set_default(_with_default(_raw_get_default(), a))),
    "omp_get_device_num": (
        [], "The device the calling thread runs on (the initial device outside target).",
        lambda: _device_of(_raw_icv_py()),
        lambda: np.int32(_device_of(_raw_get_default()))),
    "omp_is_initial_device": (
        [], "1 when running on the host (outside target regions, or in one on the initial "
        "device), 0 in a target region on an offload device.",
        lambda: int(_raw_icv_py() >> _ICV_DEVICE_SHIFT == 0),
        lambda: np.int32(1 if _raw_get_default() >> _ICV_DEVICE_SHIFT == 0 else 0)),
    "omp_target_alloc": (
        ["size", "device_num"], "Allocate `size` bytes on a device: the address (an int; "
        "0 on failure). Host offload devices allocate host memory of their own.",
        lambda size, d: _py("pyomp_target_alloc", ctypes.c_int64, ctypes.c_int64,
                            ctypes.c_int32)(size, _rust_device(d)),
        lambda a, b: _target_alloc(a, _rust_device(b))),
    "omp_target_free": (
        ["device_ptr", "device_num"], "Free memory from omp_target_alloc.",
        lambda p, d: _py("pyomp_target_free", None, ctypes.c_int64, ctypes.c_int32)(
            p, _rust_device(d)),
        lambda a, b: _target_free(a, _rust_device(b))),
}


def omp_target_memcpy(dst, src, length, dst_offset, src_offset, dst_device_num,
                      src_device_num):
    """Copy `length` bytes from src + src_offset to dst + dst_offset (addresses, as from
    omp_target_alloc or an array's .ctypes.data); 0 on success."""
    f = _py("pyomp_target_memcpy", ctypes.c_int32, *([ctypes.c_int64] * 5),
            ctypes.c_int32, ctypes.c_int32)
    return f(dst, src, length, dst_offset, src_offset, _rust_device(dst_device_num),
             _rust_device(src_device_num))


@overload(omp_target_memcpy)
def _ol_memcpy(dst, src, length, dst_offset, src_offset, dst_device_num, src_device_num):
    def impl(dst, src, length, dst_offset, src_offset, dst_device_num, src_device_num):
        return _target_memcpy(dst, src, length, dst_offset, src_offset,
                              _rust_device(dst_device_num), _rust_device(src_device_num))
    return impl


def omp_target_is_present(ptr, device_num):
    """1 if the host data at `ptr` (an address, or a NumPy array: all of it) is present on
    the device, else 0 (always 1 on the initial device)."""
    begin = ptr.ctypes.data if hasattr(ptr, "ctypes") else int(ptr)
    end = begin + (ptr.nbytes if hasattr(ptr, "nbytes") else 1)
    f = _py("pyomp_target_is_present", ctypes.c_int32, ctypes.c_int64, ctypes.c_int64,
            ctypes.c_int32)
    return f(begin, end, _rust_device(device_num))


@overload(omp_target_is_present)
def _ol_is_present(ptr, device_num):
    if isinstance(ptr, types.Array):
        def impl(ptr, device_num):
            begin = np.int64(ptr.ctypes.data)
            return _target_is_present(begin, begin + ptr.nbytes, _rust_device(device_num))
        return impl
    return lambda ptr, device_num: _target_is_present(ptr, ptr + 1, _rust_device(device_num))


# -- which device a construct runs on ---------------------------------------------------------
@njit
def current_default_device():
    return _decode_default(_raw_get_default())


@njit
def select_device(requested, cond):
    """The device a construct with `device(requested)` (NO_DEVICE: none) and `if(cond)` runs
    on, as the Rust side numbers it (HOST_DEVICES: the host, whatever OpenMP calls it)."""
    if not cond or DISABLED:
        return HOST_DEVICES
    d = _rust_device(current_default_device() if requested == NO_DEVICE else requested)
    if d != _NO_SUCH_DEVICE:
        return d
    if MANDATORY:
        raise ValueError("pyomp: the target device number is not an available device "
                         "(OMP_TARGET_OFFLOAD=MANDATORY)")
    return HOST_DEVICES


@njit
def target_begin(device):
    """Starts a target or target data construct on `device`: its record (which keeps the
    default-device ICV its end restores)."""
    saved = _raw_get_default()
    if saved >> _ICV_DEVICE_SHIFT:
        raise ValueError("pyomp: a target construct inside a target region (OpenMP forbids "
                         "it; the region already runs on a device)")
    return _target_begin(device, saved)


@njit
def enter_device(device):
    """A target region on an offload device starts: the thread's ICV says where it runs
    (once every list item is mapped)."""
    if device != HOST_DEVICES:
        saved = _raw_get_default()
        _raw_set_default(((device + 1) << _ICV_DEVICE_SHIFT) | (saved & 0xFFFF))


# -- arrays: the bytes a list item covers, and a view of the device copy ----------------------
@njit
def _span(x, lo, hi):
    """(begin, end, array begin, array end) of x[lo:hi] (first axis; NO_BOUND: the end)."""
    if not (x.flags.c_contiguous or x.flags.f_contiguous):
        raise ValueError("pyomp: only a contiguous array can be mapped to a device (copy "
                         "the view with np.ascontiguousarray first)")
    base = np.int64(x.ctypes.data)  # (uintp + int64 would be a float in Numba)
    if lo == NO_BOUND and hi == NO_BOUND:
        return base, base + x.nbytes, base, base + x.nbytes
    n = x.shape[0] if x.ndim > 0 else 1
    lo = 0 if lo == NO_BOUND else (lo + n if lo < 0 else lo)
    hi = n if hi == NO_BOUND else (hi + n if hi < 0 else hi)
    if not (0 <= lo <= hi <= n):
        raise IndexError("pyomp: an array section in a map/to/from clause lies outside the "
                         "array's first axis")
    if x.ndim > 1 and not x.flags.c_contiguous:
        raise ValueError("pyomp: a section of a Fortran-ordered array is not contiguous; "
                         "map the whole array")
    row = x.nbytes // n if n else 0
    return base + lo * row, base + hi * row, base, base + x.nbytes


@intrinsic
def _view_at(typingctx, arr, address, meminfo):
    """`arr` with its data at `address` (a device copy), owning the reference `meminfo`
    to the device buffer (a new reference the Rust side made for this view)."""
    def codegen(context, builder, sig, args):
        src = make_array(arr)(context, builder, args[0])
        out = make_array(arr)(context, builder)
        for name in ("nitems", "itemsize", "shape", "strides"):
            setattr(out, name, getattr(src, name))
        out.data = builder.inttoptr(args[1], src.data.type)
        out.meminfo = builder.inttoptr(args[2], out.meminfo.type)
        out.parent = cgutils.get_null_value(out.parent.type)
        return out._getvalue()

    return arr(arr, types.int64, types.int64), codegen


@njit
def _check(code):
    if code == -1:
        raise ValueError("pyomp: a mapped array section overlaps data already present on "
                         "the device without lying inside it (OpenMP forbids extending a "
                         "present mapping)")
    if code == -2:
        raise ValueError("pyomp: map(present: ...) of data that is not present on the "
                         "device")
    if code == -3:
        raise ValueError("pyomp: the device number is not an available device")


def map_enter(record, x, bits, lo, hi):
    """(compiled code) A list item of a target / target data construct: the value the
    construct's body sees (an array: a view of its device copy; a scalar: its value)."""


@overload(map_enter)
def _ol_map_enter(record, x, bits, lo, hi):
    if not isinstance(x, types.Array):
        return lambda record, x, bits, lo, hi: x

    def impl(record, x, bits, lo, hi):
        begin, end, abegin, aend = _span(x, lo, hi)
        address, meminfo = _map_enter(record, begin, end, abegin, aend, bits & 0xFF)
        if address < 0:
            _target_end(record)  # the construct never starts: undo what it mapped
            _check(address)
        if meminfo == 0:
            return x  # the host: the array itself
        return _view_at(x, address, meminfo)

    return impl


def device_view(device, x):
    """(compiled code) use_device_ptr / use_device_addr: `x` as the device's copy (x itself
    when it is not present there)."""


@overload(device_view)
def _ol_device_view(device, x):
    if not isinstance(x, types.Array):
        return lambda device, x: x

    def impl(device, x):
        begin, end, abegin, aend = _span(x, NO_BOUND, NO_BOUND)
        address, meminfo = _device_address(device, begin, end)
        return _view_at(x, address, meminfo) if meminfo else x

    return impl


def map_back(host, inside, bits):
    """(compiled code) The host variable's value after the construct: an array stays the
    host's (its data came back through the present table); a scalar takes the value from
    the construct for from/tofrom."""


@overload(map_back)
def _ol_map_back(host, inside, bits):
    if isinstance(host, types.Array):
        return lambda host, inside, bits: host

    def impl(host, inside, bits):
        return inside if bits & SCALAR_BACK else host

    return impl


def data_motion(device, x, bits, lo, hi, what):
    """(compiled code) target enter data (what 0), exit data (1) or update (2: bits TO or
    FROM) of one list item; scalars have no device copy to move."""


@overload(data_motion)
def _ol_data_motion(device, x, bits, lo, hi, what):
    if not isinstance(x, types.Array):
        return lambda device, x, bits, lo, hi, what: None

    def impl(device, x, bits, lo, hi, what):
        if _raw_get_default() >> _ICV_DEVICE_SHIFT:
            raise ValueError("pyomp: target enter data / exit data / update inside a target "
                             "region (OpenMP forbids it; the region already runs on a device)")
        begin, end, abegin, aend = _span(x, lo, hi)
        if what == 0:
            _check(_enter_data(device, begin, end, abegin, aend, bits & 0xFF))
        elif what == 1:
            _check(_exit_data(device, begin, end, bits & 0xFF))
        else:
            _check(_update_data(device, begin, end, 1 if bits & TO else 0))

    return impl
