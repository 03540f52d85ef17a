"""Which accelerator this machine has, read from injectable sources so tests can fake each one.

``detect(readers)`` consults, in this order (the first kind found wins, as uv's
``Accelerator::detect`` does):

1. overrides: ``PYX_CUDA_DRIVER_VERSION`` (an NVIDIA driver), ``PYX_AMD_GPU_ARCHITECTURE``
   (an AMD gfx architecture); ``PYX_TORCH_BACKEND`` / ``--torch-backend`` is recorded as the
   explicit variant and wins later, in the choice, but detection still runs so it can be shown;
2. NVIDIA: ``/sys/module/nvidia/version``, else ``/proc/driver/nvidia/version``, else NVML
   (only when ``nvidia-ml-py`` is importable) or ``nvidia-smi``; NVML / ``nvidia-smi`` are also
   asked for device names, memory and compute capability when ``details`` is true;
3. AMD: ``rocm_agent_enumerator``, else ``rocminfo``, for gfx architectures; the ROCm
   version from ``<ROCM_PATH or /opt/rocm>/.info/version``;
4. Intel (XPU): a PCI display-class device (``0x03xxxx``) with vendor ``0x8086`` under
   ``/sys/bus/pci/devices``;
5. Apple silicon: ``darwin`` on ``arm64``.

Nothing here may hang or raise because of the machine: commands run with a timeout (3 s by
default) in their own process group, which is killed on expiry; every source that is absent,
unreadable, failing, slow or unparsable is skipped and recorded as a ``Probe`` so ``pyx gpu -v``
can show where each fact came from and what was tried. Only an invalid *override* (a value the
user set) raises ``ConfigError``: silently ignoring an explicit choice would install the wrong
build.

What detection returns is in ``accelerator``, how it reads the machine in ``readers`` (the
only I/O), and the parsers of what drivers and tools print in ``driverinfo`` (pure).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from packaging.version import InvalidVersion, Version

from pyx_server.engine.errors import ConfigError, PyxWarning
from pyx_server.engine.gpu.accelerator import (
    ABSENT,
    FAILED,
    FOUND,
    SKIPPED,
    TIMED_OUT,
    UNPARSABLE,
    Accelerator,
    GpuDevice,
    Probe,
)
from pyx_server.engine.gpu.driverinfo import (
    GFX_ARCHITECTURE,
    NVIDIA_SMI_FIELDS,
    is_driver_version,
    parse_nvidia_smi,
    parse_proc_driver_version,
    parse_rocm_agent_enumerator,
    parse_rocm_version,
    parse_rocminfo,
    parse_sys_module_version,
)
from pyx_server.engine.gpu.readers import NvmlReading, Readers, run_command
from pyx_server.engine.gpu.tables import parse_torch_backend

#: the names other modules take from here: ``detect`` and what it reads and returns
__all__ = ["Accelerator", "GpuDevice", "NvmlReading", "Probe", "Readers", "detect", "run_command"]

_PCI_DISPLAY_CLASS = 0x03
_PCI_VENDORS = {0x8086: "intel", 0x10DE: "nvidia", 0x1002: "amd"}


# -- detection --------------------------------------------------------------------------------------


class _Trail:
    """Collects probes and warnings while detection runs."""

    def __init__(self) -> None:
        self.probes: list[Probe] = []
        self.warnings: list[PyxWarning] = []

    def add(self, source: str, outcome: str, detail: str = "") -> None:
        self.probes.append(Probe(source, outcome, detail))


def detect(
    readers: Readers | None = None,
    *,
    torch_backend: str | None = None,
    details: bool = True,
) -> Accelerator:
    """Find this machine's accelerator; never hangs and never fails because of the machine.

    ``torch_backend`` is the ``--torch-backend`` flag (it beats ``PYX_TORCH_BACKEND``);
    ``details=False`` skips device queries once the driver version is known (faster, for
    installs that only need the variant). Blocking: async callers run it in a thread.
    """
    readers = readers or Readers()
    trail = _Trail()
    backend, backend_source = _explicit_backend(readers.env, torch_backend)
    base = {"platform": readers.platform, "machine": readers.machine, "backend": backend, "backend_source": backend_source}

    found = _from_overrides(readers, trail) or _nvidia(readers, trail, details) or _amd(readers, trail, details)
    if found is None:
        found = _pci(readers, trail)
    if found is None:
        found = _apple(readers, trail)
    if found is None:
        found = {"kind": "none"}
    return Accelerator(**base, **found, sources=tuple(trail.probes), warnings=tuple(trail.warnings))


def _explicit_backend(env: Mapping[str, str], flag: str | None) -> tuple[str | None, str | None]:
    if flag is not None:
        return parse_torch_backend(flag, "--torch-backend"), "--torch-backend"
    value = env.get("PYX_TORCH_BACKEND")
    if value:
        return parse_torch_backend(value, "PYX_TORCH_BACKEND"), "PYX_TORCH_BACKEND"
    return None, None


def _from_overrides(readers: Readers, trail: _Trail) -> dict[str, Any] | None:
    driver = readers.env.get("PYX_CUDA_DRIVER_VERSION")
    if driver:
        try:
            Version(driver.strip())
        except InvalidVersion:
            raise ConfigError(
                f"`PYX_CUDA_DRIVER_VERSION` is `{driver}`, which is not a driver version",
                hints=["use the NVIDIA driver version, e.g. `550.144.03` (not the CUDA version)"],
            ) from None
        trail.add("PYX_CUDA_DRIVER_VERSION", FOUND, driver.strip())
        return {"kind": "nvidia", "driver_version": driver.strip(), "found_by": "PYX_CUDA_DRIVER_VERSION"}
    arch = readers.env.get("PYX_AMD_GPU_ARCHITECTURE")
    if arch:
        value = arch.strip().lower()
        if not GFX_ARCHITECTURE.match(value):
            raise ConfigError(
                f"`PYX_AMD_GPU_ARCHITECTURE` is `{arch}`, which is not a gfx architecture",
                hints=["use the name `rocm_agent_enumerator` prints, e.g. `gfx90a` or `gfx1100`"],
            )
        trail.add("PYX_AMD_GPU_ARCHITECTURE", FOUND, value)
        return {
            "kind": "amd",
            "devices": (GpuDevice("amd", architecture=value),),
            "found_by": "PYX_AMD_GPU_ARCHITECTURE",
            "rocm_version": _rocm_version(readers, trail),
        }
    return None


# -- NVIDIA --


def _read(readers: Readers, trail: _Trail, logical: str) -> str | None:
    """A file's text; a missing or unreadable file is recorded and gives None."""
    try:
        text = readers.read_file(readers.path(logical))
    except Exception as exc:  # unreadable: permissions, I/O errors, a fake that raises
        trail.add(logical, FAILED, _describe(exc))
        return None
    if text is None:
        trail.add(logical, ABSENT)
    return text


def _parsed_file(readers: Readers, trail: _Trail, logical: str, parse: Callable[[str], str | None]) -> str | None:
    """What ``parse`` finds in the file at ``logical``; None when the file is missing,
    unreadable or unparsable (each outcome recorded in ``trail``)."""
    text = _read(readers, trail, logical)
    if text is None:
        return None
    value = parse(text)
    if value is None:
        trail.add(logical, UNPARSABLE, _excerpt(text))
        return None
    trail.add(logical, FOUND, value)
    return value


def _run(readers: Readers, trail: _Trail, argv: Sequence[str], label: str | None = None) -> str | None:
    """A tool's stdout when it exits 0; every other outcome is recorded and gives None."""
    label = label or argv[0]
    try:
        result = readers.execute(argv)
    except TimeoutError:
        trail.add(label, TIMED_OUT, f"no answer within {readers.timeout:g} s")
        return None
    except Exception as exc:
        trail.add(label, FAILED, _describe(exc))
        return None
    if result is None:
        trail.add(label, ABSENT, "not on PATH")
        return None
    code, out = result
    if code != 0:
        first = out.strip().splitlines()[0] if out.strip() else ""
        trail.add(label, FAILED, f"exit code {code}" + (f": {first}" if first else ""))
        return None
    return out


def _nvidia(readers: Readers, trail: _Trail, details: bool) -> dict[str, Any] | None:
    driver: str | None = None
    found_by: str | None = None
    for logical, parse in (
        ("/sys/module/nvidia/version", parse_sys_module_version),
        ("/proc/driver/nvidia/version", parse_proc_driver_version),
    ):
        value = _parsed_file(readers, trail, logical, parse)
        if value is not None:
            driver, found_by = value, logical
            break

    devices: tuple[GpuDevice, ...] = ()
    if driver is None or details:
        reading = _nvml(readers, trail)
        if reading is not None:
            devices = reading.devices
            if driver is None:
                driver, found_by = reading.driver_version, "NVML"
        if driver is None or not devices:
            smi_driver, smi_devices = _nvidia_smi(readers, trail)
            devices = devices or smi_devices
            if driver is None and smi_driver is not None:
                driver, found_by = smi_driver, "nvidia-smi"
    if driver is None:
        return None
    return {"kind": "nvidia", "driver_version": driver, "devices": devices, "found_by": found_by}


def _nvml(readers: Readers, trail: _Trail) -> NvmlReading | None:
    if readers.nvml is None:
        trail.add("NVML", SKIPPED, "not consulted")
        return None
    try:
        reading = readers.nvml()
    except Exception as exc:
        trail.add("NVML", FAILED, _describe(exc))
        return None
    if reading is None:
        trail.add("NVML", SKIPPED, "nvidia-ml-py is not installed")
        return None
    if not is_driver_version(reading.driver_version):
        trail.add("NVML", UNPARSABLE, reading.driver_version)
        return None
    trail.add("NVML", FOUND, f"driver {reading.driver_version}, {len(reading.devices)} device(s)")
    return reading


def _nvidia_smi(readers: Readers, trail: _Trail) -> tuple[str | None, tuple[GpuDevice, ...]]:
    # older drivers do not know `compute_cap`: ask again without it when the first query fails
    for fields in (NVIDIA_SMI_FIELDS, NVIDIA_SMI_FIELDS.rsplit(",", 1)[0]):
        argv = ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"]
        before = len(trail.probes)
        out = _run(readers, trail, argv, "nvidia-smi")
        if out is None:
            last = trail.probes[-1] if len(trail.probes) > before else None
            if last is not None and last.outcome == FAILED and fields == NVIDIA_SMI_FIELDS:
                continue  # retry with fewer fields
            return None, ()
        driver, devices = parse_nvidia_smi(out)
        if driver is None:
            trail.add("nvidia-smi", UNPARSABLE, _excerpt(out))
            return None, ()
        trail.add("nvidia-smi", FOUND, f"driver {driver}, {len(devices)} device(s)")
        return driver, devices
    return None, ()


# -- AMD --


def _amd(readers: Readers, trail: _Trail, details: bool) -> dict[str, Any] | None:
    devices: tuple[GpuDevice, ...] = ()
    found_by: str | None = None
    out = _run(readers, trail, ["rocm_agent_enumerator"])
    if out is not None:
        archs = parse_rocm_agent_enumerator(out)
        if archs:
            trail.add("rocm_agent_enumerator", FOUND, ", ".join(archs))
            devices = tuple(GpuDevice("amd", architecture=a) for a in archs)
            found_by = "rocm_agent_enumerator"
        else:
            trail.add("rocm_agent_enumerator", UNPARSABLE if out.strip() else ABSENT, _excerpt(out) or "no GPU agents")
    if not devices or details:
        out = _run(readers, trail, ["rocminfo"])
        if out is not None:
            info = parse_rocminfo(out)
            if info:
                trail.add("rocminfo", FOUND, ", ".join(d.architecture or "?" for d in info))
                if not devices or [d.architecture for d in info] == [d.architecture for d in devices]:
                    devices = info
                    found_by = found_by or "rocminfo"
            else:
                trail.add("rocminfo", ABSENT, "no GPU agents")
    if not devices:
        return None
    return {"kind": "amd", "devices": devices, "found_by": found_by, "rocm_version": _rocm_version(readers, trail)}


def _rocm_version(readers: Readers, trail: _Trail) -> str | None:
    roots = [readers.env.get("ROCM_PATH"), "/opt/rocm"]
    for root in dict.fromkeys(r.rstrip("/") for r in roots if r):
        logical = f"{root}/.info/version"
        value = _parsed_file(readers, trail, logical, parse_rocm_version)
        if value is not None:
            return value
    return None


# -- Intel (and GPUs without drivers) --


def _pci(readers: Readers, trail: _Trail) -> dict[str, Any] | None:
    logical = "/sys/bus/pci/devices"
    try:
        entries = readers.list_dir(readers.path(logical))
    except Exception as exc:
        trail.add(logical, FAILED, _describe(exc))
        return None
    if entries is None:
        trail.add(logical, ABSENT)
        return None
    intel: list[GpuDevice] = []
    driverless: set[str] = set()
    unreadable = 0
    for entry in entries:
        try:
            klass = readers.read_file(readers.path(f"{logical}/{entry}/class"))
            vendor = readers.read_file(readers.path(f"{logical}/{entry}/vendor"))
            if klass is None or vendor is None:
                unreadable += 1
                continue
            class_id, vendor_id = int(klass.strip(), 16), int(vendor.strip(), 16)
        except (ValueError, OSError):
            unreadable += 1
            continue
        if (class_id >> 16) != _PCI_DISPLAY_CLASS:
            continue
        kind = _PCI_VENDORS.get(vendor_id)
        if kind == "intel":
            intel.append(GpuDevice("intel", name=_pci_name(readers, logical, entry), pci_address=entry))
        elif kind is not None:
            driverless.add(kind)
    for kind in sorted(driverless):
        label = "An NVIDIA" if kind == "nvidia" else "An AMD"
        tool = "driver" if kind == "nvidia" else "driver and ROCm"
        trail.warnings.append(PyxWarning(
            "gpu-driver-missing",
            f"{label} display device is on the PCI bus but its {tool} was not found: "
            f"install it to use GPU builds (pyx falls back to CPU builds)",
        ))
    detail = f"{len(entries)} device(s)" + (f", {unreadable} unreadable" if unreadable else "")
    if not intel:
        trail.add(logical, ABSENT, detail + ", no Intel display device")
        return None
    trail.add(logical, FOUND, detail + f", Intel display device {intel[0].pci_address}")
    return {"kind": "intel", "devices": tuple(intel), "found_by": logical}


def _pci_name(readers: Readers, logical: str, entry: str) -> str | None:
    try:
        device = readers.read_file(readers.path(f"{logical}/{entry}/device"))
    except Exception:
        return None
    return f"Intel GPU (device {device.strip()})" if device else None


# -- Apple --


def _apple(readers: Readers, trail: _Trail) -> dict[str, Any] | None:
    if readers.platform == "darwin" and readers.machine.lower() in ("arm64", "aarch64"):
        trail.add("platform", FOUND, f"{readers.platform} {readers.machine}")
        return {"kind": "apple", "devices": (GpuDevice("apple", name="Apple silicon GPU"),), "found_by": "platform"}
    trail.add("platform", ABSENT, f"{readers.platform} {readers.machine}: not Apple silicon")
    return None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _excerpt(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
