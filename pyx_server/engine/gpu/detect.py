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
"""

from __future__ import annotations

import csv
import os
import platform as _platform
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from pyx_server.engine.errors import ConfigError, PyxWarning
from pyx_server.engine.gpu.variants import parse_torch_backend

DEFAULT_TIMEOUT = 3.0

#: what kind of accelerator was found: the vendor a person recognises
KINDS = ("nvidia", "amd", "intel", "apple", "none")

#: outcomes a ``Probe`` can record
FOUND, ABSENT, FAILED, TIMED_OUT, UNPARSABLE, SKIPPED = (
    "found", "absent", "failed", "timed-out", "unparsable", "skipped",
)

_PCI_DISPLAY_CLASS = 0x03
_PCI_VENDORS = {0x8086: "intel", 0x10DE: "nvidia", 0x1002: "amd"}
_GFX = re.compile(r"^gfx[0-9a-f]{3,5}$")
_NUMERIC_VERSION = re.compile(r"^\d+(?:\.\d+)+$")
NVIDIA_SMI_FIELDS = "driver_version,name,memory.total,compute_cap"


# -- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuDevice:
    """One GPU as a source described it (fields a source did not give are None)."""

    vendor: str
    name: str | None = None
    memory_mib: int | None = None
    #: NVIDIA compute capability, e.g. ``"8.6"``
    compute_capability: str | None = None
    #: AMD gfx architecture, e.g. ``"gfx90a"``
    architecture: str | None = None
    #: PCI address under ``/sys/bus/pci/devices`` when found there
    pci_address: str | None = None


@dataclass(frozen=True)
class Probe:
    """One source consulted and what came of it, for ``pyx gpu -v``."""

    source: str
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class Accelerator:
    """What detection found: the kind, its driver, the devices, and every source consulted."""

    kind: str
    platform: str
    machine: str
    driver_version: str | None = None
    rocm_version: str | None = None
    devices: tuple[GpuDevice, ...] = ()
    sources: tuple[Probe, ...] = ()
    #: the source that decided ``kind`` (e.g. ``/sys/module/nvidia/version``)
    found_by: str | None = None
    #: an explicit variant (``cpu``, ``cu126``, ``rocm6.3``, ``xpu``), which beats detection
    backend: str | None = None
    #: where the explicit variant came from (``PYX_TORCH_BACKEND``, ``--torch-backend``)
    backend_source: str | None = None
    #: things a person should know (a GPU on the PCI bus without its driver…)
    warnings: tuple[PyxWarning, ...] = ()

    @property
    def architectures(self) -> tuple[str, ...]:
        """The distinct AMD gfx architectures of the devices, in device order."""
        return tuple(dict.fromkeys(d.architecture for d in self.devices if d.architecture))

    @property
    def compute_capabilities(self) -> tuple[str, ...]:
        """The distinct NVIDIA compute capabilities of the devices, in device order."""
        return tuple(dict.fromkeys(d.compute_capability for d in self.devices if d.compute_capability))

    @property
    def summary(self) -> str:
        """One line for people: ``NVIDIA driver 550.144.03 (NVIDIA A100, 81920 MiB, sm 8.0)``."""
        if self.kind == "nvidia":
            text = f"NVIDIA driver {self.driver_version}" if self.driver_version else "NVIDIA GPU"
        elif self.kind == "amd":
            archs = ", ".join(self.architectures) or "unknown architecture"
            text = f"AMD GPU ({archs})" + (f", ROCm {self.rocm_version}" if self.rocm_version else "")
        elif self.kind == "intel":
            text = "Intel GPU (XPU)"
        elif self.kind == "apple":
            text = "Apple silicon (Metal / MPS)"
        else:
            text = "no GPU"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for ``pyx gpu --format json`` and the REST API."""
        data = asdict(self)
        data["warnings"] = [w.to_dict() for w in self.warnings]
        data["architectures"] = list(self.architectures)
        data["compute_capabilities"] = list(self.compute_capabilities)
        data["summary"] = self.summary
        return data


# -- the sources ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NvmlReading:
    """What NVML (``nvidia-ml-py``) reports: the driver and the devices."""

    driver_version: str
    devices: tuple[GpuDevice, ...]


def read_text_file(path: str) -> str | None:
    """The text of ``path``; None when it does not exist (other errors propagate, to be recorded)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def list_directory(path: str) -> list[str] | None:
    """The entry names of ``path``, sorted; None when it does not exist."""
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return None


def run_command(argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None) -> tuple[int, str] | None:
    """Run ``argv`` with a hard deadline: ``(exit code, stdout)``, or None when it is not installed.

    The command runs in its own process group (POSIX) so that on timeout the whole group is
    killed, grandchildren included, and ``TimeoutError`` is raised: a wedged driver tool
    cannot keep pyx waiting on a pipe.
    """
    env = os.environ if env is None else env
    executable = shutil.which(argv[0], path=env.get("PATH", os.defpath))
    if executable is None:
        return None
    options: dict[str, Any] = {}
    if os.name == "posix":
        options["start_new_session"] = True
    elif sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        options["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    process = subprocess.Popen(
        [executable, *argv[1:]],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        **options,
    )
    try:
        out, _err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        try:
            process.communicate(timeout=1)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that escaped its group
            pass
        raise TimeoutError(f"`{argv[0]}` did not answer within {timeout:g} s") from None
    return process.returncode, out.decode("utf-8", errors="replace")


def _kill_group(process: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            process.kill()
    except (ProcessLookupError, PermissionError, OSError):
        process.kill()


def read_nvml() -> NvmlReading | None:
    """The driver and devices through NVML, or None when ``nvidia-ml-py`` is not installed."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return None
    pynvml.nvmlInit()
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else str(driver)
        devices = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else str(name)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total // (1024 * 1024)
            try:
                major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
                capability: str | None = f"{major}.{minor}"
            except Exception:  # older drivers lack the call
                capability = None
            devices.append(GpuDevice("nvidia", name=name, memory_mib=int(memory), compute_capability=capability))
        return NvmlReading(driver_version=driver, devices=tuple(devices))
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


@dataclass(frozen=True)
class Readers:
    """Every way detection touches the machine, injectable for tests.

    Paths handed to ``read_file`` / ``list_dir`` are already placed under ``sys_root``;
    ``run(argv, timeout)`` returns ``(exit code, stdout)``, None when the tool is missing, and
    raises ``TimeoutError`` when it overruns; ``nvml()`` returns None when NVML is unavailable.
    """

    read_file: Callable[[str], str | None] = read_text_file
    run: Callable[[Sequence[str], float], tuple[int, str] | None] | None = None
    list_dir: Callable[[str], list[str] | None] = list_directory
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    platform: str = sys.platform
    machine: str = field(default_factory=_platform.machine)
    sys_root: str = "/"
    nvml: Callable[[], NvmlReading | None] | None = read_nvml
    timeout: float = DEFAULT_TIMEOUT

    def path(self, logical: str) -> str:
        """Where ``logical`` (an absolute path such as ``/sys/...``) is under ``sys_root``."""
        if self.sys_root in ("", "/"):
            return logical
        return str(Path(self.sys_root) / logical.lstrip("/"))

    def execute(self, argv: Sequence[str]) -> tuple[int, str] | None:
        """Run a tool with this reader's timeout (and ``env``'s ``PATH``)."""
        if self.run is not None:
            return self.run(argv, self.timeout)
        return run_command(argv, self.timeout, self.env)


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
        if not _GFX.match(value):
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


def parse_sys_module_version(text: str) -> str | None:
    """``/sys/module/nvidia/version`` holds just the driver version (``550.144.03``)."""
    value = text.strip()
    return value if _is_driver_version(value) else None


def parse_proc_driver_version(text: str) -> str | None:
    """The driver version on the ``NVRM version:`` line of ``/proc/driver/nvidia/version``.

    The line reads ``NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.144.03
    Release Build …``; the first whole token shaped like a dotted number is the version.
    """
    for line in text.splitlines():
        if line.startswith("NVRM version:"):
            for token in line.split():
                if _NUMERIC_VERSION.match(token) and _is_driver_version(token):
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
        if not _is_driver_version(cells[0]):
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


def _is_driver_version(value: str) -> bool:
    if not _NUMERIC_VERSION.match(value):
        return False
    try:
        Version(value)
    except InvalidVersion:  # pragma: no cover - the pattern already excludes these
        return False
    return True


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
        text = _read(readers, trail, logical)
        if text is None:
            continue
        value = parse(text)
        if value is None:
            trail.add(logical, UNPARSABLE, _excerpt(text))
            continue
        trail.add(logical, FOUND, value)
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
    if not _is_driver_version(reading.driver_version):
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


def parse_rocm_agent_enumerator(text: str) -> tuple[str, ...]:
    """The GPU architectures ``rocm_agent_enumerator`` lists (``gfx000`` is the CPU agent)."""
    found: list[str] = []
    for line in text.splitlines():
        value = line.strip().lower()
        if _GFX.match(value) and value != "gfx000":
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
        if not _GFX.match(arch) or arch == "gfx000":
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
        text = _read(readers, trail, logical)
        if text is None:
            continue
        value = parse_rocm_version(text)
        if value is None:
            trail.add(logical, UNPARSABLE, _excerpt(text))
            continue
        trail.add(logical, FOUND, value)
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
