"""What detection reports, as data: the accelerator found, its devices, every source consulted.

Pure. ``detect`` fills an ``Accelerator``; the variant choice, ``pyx gpu`` and the panel's GPU
card read it (``to_dict`` is its JSON form).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pyx_server.engine.errors import PyxWarning

#: what kind of accelerator was found: the vendor a person recognises
KINDS = ("nvidia", "amd", "intel", "apple", "none")

#: outcomes a ``Probe`` can record
FOUND, ABSENT, FAILED, TIMED_OUT, UNPARSABLE, SKIPPED = (
    "found", "absent", "failed", "timed-out", "unparsable", "skipped",
)


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
