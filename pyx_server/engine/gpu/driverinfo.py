"""Pure parsers of what GPU drivers and their tools print (driver files, nvidia-smi, rocminfo).

NVIDIA: ``/sys/module/nvidia/version``, ``/proc/driver/nvidia/version``, ``nvidia-smi``'s
CSV; AMD: ``rocm_agent_enumerator``, ``rocminfo``, the ROCm version file.

Each takes text and returns the facts it holds, or None / nothing for text it does not
recognise: detection records that as an ``unparsable`` probe and moves on.
"""

from __future__ import annotations

import csv
import re

from packaging.version import InvalidVersion, Version

from pyx_server.engine.gpu.accelerator import GpuDevice

#: an AMD GPU architecture name (``gfx90a``, ``gfx1100``)
GFX_ARCHITECTURE = re.compile(r"^gfx[0-9a-f]{3,5}$")
_NUMERIC_VERSION = re.compile(r"^\d+(?:\.\d+)+$")
#: the fields detection asks ``nvidia-smi`` for, in the order ``parse_nvidia_smi`` reads them
NVIDIA_SMI_FIELDS = "driver_version,name,memory.total,compute_cap"


# -- NVIDIA --


def parse_sys_module_version(text: str) -> str | None:
    """``/sys/module/nvidia/version`` holds just the driver version (``550.144.03``)."""
    value = text.strip()
    return value if is_driver_version(value) else None


def parse_proc_driver_version(text: str) -> str | None:
    """The driver version on the ``NVRM version:`` line of ``/proc/driver/nvidia/version``.

    The line reads ``NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.144.03
    Release Build …``; the first whole token shaped like a dotted number is the version.
    """
    for line in text.splitlines():
        if line.startswith("NVRM version:"):
            for token in line.split():
                if _NUMERIC_VERSION.match(token) and is_driver_version(token):
                    return token
    return None


def parse_nvidia_smi(text: str) -> tuple[str | None, tuple[GpuDevice, ...]]:
    """The driver and devices from ``nvidia-smi --query-gpu=driver_version,name,memory.total[,compute_cap]
    --format=csv,noheader`` (one CSV line per GPU; ``[N/A]`` fields become None)."""
    driver: str | None = None
    devices: list[GpuDevice] = []
    for row in csv.reader(text.splitlines(), skipinitialspace=True):
        cells = [c.strip() for c in row]
        if not cells or not cells[0]:
            continue
        if not is_driver_version(cells[0]):
            continue
        driver = driver or cells[0]
        name = _cell(cells, 1)
        memory = _memory_mib(_cell(cells, 2))
        capability = _cell(cells, 3)
        if capability is not None and not re.match(r"^\d+\.\d+$", capability):
            capability = None
        devices.append(GpuDevice("nvidia", name=name, memory_mib=memory, compute_capability=capability))
    return driver, tuple(devices)


def _cell(cells: list[str], index: int) -> str | None:
    if index >= len(cells):
        return None
    value = cells[index]
    return None if not value or value.startswith("[") else value


def _memory_mib(value: str | None) -> int | None:
    if value is None:
        return None
    match = re.match(r"^(\d+)\s*(MiB)?$", value)
    return int(match.group(1)) if match else None


def is_driver_version(value: str) -> bool:
    if not _NUMERIC_VERSION.match(value):
        return False
    try:
        Version(value)
    except InvalidVersion:  # pragma: no cover - the pattern already excludes these
        return False
    return True


# -- AMD --


def parse_rocm_agent_enumerator(text: str) -> tuple[str, ...]:
    """The GPU architectures ``rocm_agent_enumerator`` lists (``gfx000`` is the CPU agent)."""
    found: list[str] = []
    for line in text.splitlines():
        value = line.strip().lower()
        if GFX_ARCHITECTURE.match(value) and value != "gfx000":
            found.append(value)
    return tuple(found)


def parse_rocminfo(text: str) -> tuple[GpuDevice, ...]:
    """The GPU agents of ``rocminfo``: each ``Agent N`` block's ``Name`` (gfx…) and marketing name."""
    devices: list[GpuDevice] = []
    blocks = re.split(r"^\*+\s*\n\s*Agent \d+\s*\n\*+\s*$", text, flags=re.MULTILINE)
    for block in blocks[1:] if len(blocks) > 1 else blocks:
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.strip().partition(":")
            if sep and key.strip() not in fields:
                fields[key.strip()] = value.strip()
        arch = fields.get("Name", "").lower()
        if not GFX_ARCHITECTURE.match(arch) or arch == "gfx000":
            continue
        if fields.get("Device Type", "GPU").upper() != "GPU":
            continue
        devices.append(GpuDevice("amd", name=fields.get("Marketing Name") or None, architecture=arch))
    return tuple(devices)


def parse_rocm_version(text: str) -> str | None:
    """``/opt/rocm/.info/version`` holds e.g. ``6.3.1-48``: the release before the build suffix."""
    value = text.strip().split("-", 1)[0]
    if not _NUMERIC_VERSION.match(value):
        return None
    return value
