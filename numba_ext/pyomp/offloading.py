"""The devices pyomp offers, described as PyOMP's `numba.openmp.offloading` describes them:
device numbers by type, vendor and architecture, and printed summaries.

pyomp's devices 0..3 are host offload devices (pyomp.devices: CPUs with a data environment
of their own); the initial device (the host itself) is omp_get_num_devices() and is not
listed, as in PyOMP. OMP_TARGET_OFFLOAD=DISABLED leaves no offload device.
"""

from __future__ import annotations

import platform

from . import devices


def _host_info(device_id):
    return {"type": "host", "vendor": "host", "arch": platform.machine(),
            "uid": f"pyomp-host-{device_id}"}


def _device_info():
    return {d: _host_info(d) for d in range(devices.NUM_DEVICES)}


def find_device_ids(type=None, vendor=None, arch=None):  # noqa: A002 (PyOMP's names)
    """The device numbers matching every criterion given (None matches anything):
    `type` "host" or "gpu", `vendor` (e.g. "host", "nvidia"), `arch` (e.g. "x86_64",
    "sm_80")."""
    return [d for d, info in _device_info().items()
            if all(want is None or info[key] == want
                   for key, want in (("type", type), ("vendor", vendor), ("arch", arch)))]


def _field(device_id, key):
    info = _device_info().get(device_id)
    return info[key] if info else None


def get_device_type(device_id):
    """"host" or "gpu" for an offload device, None for any other number (the initial
    device included)."""
    return _field(device_id, "type")


def get_device_vendor(device_id):
    """The device's vendor ("host" for pyomp's host offload devices), or None."""
    return _field(device_id, "vendor")


def get_device_arch(device_id):
    """The device's architecture (the host's machine, e.g. "x86_64"), or None."""
    return _field(device_id, "arch")


def print_device_info(device_id):
    """Prints what pyomp knows about one device."""
    info = _device_info().get(device_id)
    if info is None:
        text = "No info available"
    else:
        text = "\n".join([
            "    Device Type    host offload device (a CPU with its own data environment)",
            f"    Vendor         {info['vendor']}", f"    Arch           {info['arch']}",
            f"    UID            {info['uid']}"])
    print(f"Device {device_id} info:\n{text}")
    print("=" * 40)


def print_offloading_info():
    """Prints every device, then the number of devices, the default and the initial
    device."""
    from .runtime.api import omp_get_default_device
    for d in _device_info():
        print_device_info(d)
    print("omp_get_num_devices =", devices.NUM_DEVICES)
    print("omp_get_default_device =", omp_get_default_device())
    print("omp_get_initial_device =", devices.INITIAL_DEVICE)
