"""Pure: the facts about PyTorch variants: their names, and what each build needs of the machine.

The CUDA tables are the minimum-driver tables light-the-torch and uv (``crates/uv-torch``)
use, taken from NVIDIA's CUDA toolkit release notes (Linux and Windows differ). A variant not
in the table (a future ``cu131``) is judged by its CUDA major version, since within a major
version the driver requirement is shared (CUDA minor-version compatibility). The ROCm table
maps gfx architectures to the ROCm builds whose ``torch.cuda.get_arch_list()`` include them,
as uv's does. The compute-capability table says which CUDA toolkits can target a GPU
(CUDA 13 dropped Maxwell, Pascal and Volta; Blackwell needs CUDA 12.8 or later). ``variants``
judges an accelerator against these facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from packaging.version import Version

from pyx_server.engine.errors import ConfigError

# Minimum NVIDIA driver per CUDA variant, newest first. Table 2 of the CUDA toolkit release notes
# (12.x, 11.8), table 1 of the 10.2 notes; the same values as light-the-torch and uv.
LINUX_CUDA_DRIVERS: tuple[tuple[str, str], ...] = (
    ("cu132", "580"), ("cu130", "580"),
    ("cu129", "525.60.13"), ("cu128", "525.60.13"), ("cu126", "525.60.13"), ("cu125", "525.60.13"),
    ("cu124", "525.60.13"), ("cu123", "525.60.13"), ("cu122", "525.60.13"), ("cu121", "525.60.13"),
    ("cu120", "525.60.13"),
    ("cu118", "450.80.02"), ("cu117", "450.80.02"), ("cu116", "450.80.02"), ("cu115", "450.80.02"),
    ("cu114", "450.80.02"), ("cu113", "450.80.02"), ("cu112", "450.80.02"), ("cu111", "450.80.02"),
    ("cu110", "450.36.06"),
    ("cu102", "440.33"), ("cu101", "418.39"), ("cu100", "410.48"),
    ("cu92", "396.26"), ("cu91", "390.46"), ("cu90", "384.81"), ("cu80", "375.26"),
)
WINDOWS_CUDA_DRIVERS: tuple[tuple[str, str], ...] = (
    ("cu132", "580"), ("cu130", "580"),
    ("cu129", "528.33"), ("cu128", "528.33"), ("cu126", "528.33"), ("cu125", "528.33"),
    ("cu124", "528.33"), ("cu123", "528.33"), ("cu122", "528.33"), ("cu121", "528.33"),
    ("cu120", "528.33"),
    ("cu118", "452.39"), ("cu117", "452.39"), ("cu116", "452.39"), ("cu115", "452.39"),
    ("cu114", "452.39"), ("cu113", "452.39"), ("cu112", "452.39"), ("cu111", "452.39"),
    ("cu110", "451.22"),
    ("cu102", "441.22"), ("cu101", "418.96"), ("cu100", "411.31"),
    ("cu92", "398.26"), ("cu91", "391.29"), ("cu90", "385.54"), ("cu80", "376.51"),
)
# For a cu variant missing from the table: the driver its CUDA major version needs.
_MAJOR_DRIVERS = {
    "linux": {13: "580", 12: "525.60.13", 11: "450.80.02"},
    "win32": {13: "580", 12: "528.33", 11: "452.39"},
}

_ROCM_COMMON = ("gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100", "gfx1101", "gfx1102")
# gfx architectures each ROCm build of PyTorch targets (Linux only), newest ROCm first (uv's table).
LINUX_ROCM_ARCHITECTURES: tuple[tuple[str, frozenset[str]], ...] = (
    ("rocm7.2", frozenset(_ROCM_COMMON + ("gfx950", "gfx1150", "gfx1151", "gfx1200", "gfx1201"))),
    ("rocm7.1", frozenset(_ROCM_COMMON + ("gfx950", "gfx1200", "gfx1201"))),
    ("rocm7.0", frozenset(_ROCM_COMMON + ("gfx950", "gfx1200", "gfx1201"))),
    ("rocm6.4", frozenset(_ROCM_COMMON + ("gfx1200", "gfx1201"))),
    ("rocm6.3", frozenset(_ROCM_COMMON + ("gfx1200", "gfx1201"))),
    ("rocm6.2.4", frozenset(_ROCM_COMMON + ("gfx1200", "gfx1201"))),
    ("rocm6.2", frozenset(("gfx900", "gfx906", "gfx908", "gfx90a", "gfx1030", "gfx1100", "gfx942"))),
    ("rocm6.1", frozenset(("gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100", "gfx1101"))),
    ("rocm6.0", frozenset(("gfx900", "gfx906", "gfx908", "gfx90a", "gfx1030", "gfx1100", "gfx942"))),
)

# Compute capabilities a CUDA toolkit can target: the first CUDA release supporting each
# architecture, and the oldest architecture each major release still supports.
_CC_NEEDS_CUDA: tuple[tuple[Version, Version, str], ...] = (
    (Version("10.0"), Version("12.8"), "Blackwell"),
    (Version("9.0"), Version("11.8"), "Hopper"),
    (Version("8.9"), Version("11.8"), "Ada"),
    (Version("8.7"), Version("11.4"), "Orin"),
    (Version("8.6"), Version("11.1"), "Ampere"),
    (Version("8.0"), Version("11.0"), "Ampere"),
    (Version("7.5"), Version("10.0"), "Turing"),
)
_CUDA_MIN_CC = {13: Version("7.5"), 12: Version("5.0"), 11: Version("3.5"), 10: Version("3.0")}

# Packages the PyTorch index publishes per variant (uv's list for that index, plus torchdata).
TORCH_FAMILY = frozenset(
    canonicalize_name(n)
    for n in (
        "torch", "torchvision", "torchaudio", "torchao", "torchcodec", "torchrec", "torchtune",
        "torchtext", "torchdata", "torcharrow", "torchcsprng", "torchdistx", "torchserve",
        "torch-tensorrt", "fbgemm-gpu", "fbgemm-gpu-genai", "xformers",
        "triton", "triton-rocm", "triton-xpu", "pytorch-triton", "pytorch-triton-rocm", "pytorch-triton-xpu",
    )
)
# Family members whose builds do not depend on the variant's CUDA / ROCm (uv's distinction).
_NO_SYSTEM_DEPENDENCY = frozenset(
    canonicalize_name(n)
    for n in ("triton", "triton-rocm", "triton-xpu", "pytorch-triton", "pytorch-triton-rocm", "pytorch-triton-xpu", "torchserve", "xformers")
)

_ROCM = re.compile(r"^rocm(\d+(?:\.\d+)+)$")
_VARIANT_FORMS = "`auto`, `cpu`, `cuXYZ` (e.g. `cu128`), `rocmX.Y` (e.g. `rocm6.3`) or `xpu`"


# -- names ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """A variant name taken apart: its family and the CUDA / ROCm version it is built against."""

    family: str  # cpu | cuda | rocm | xpu
    version: Version | None
    name: str


def parse_variant(name: str) -> Variant | None:
    """``cu128`` → CUDA 12.8, ``cu92`` → 9.2, ``rocm6.2.4`` → ROCm 6.2.4; None for other names.

    A cu name is the CUDA version without its dot, the last digit being the minor version.
    """
    text = name.strip().lower()
    if text in ("cpu", "xpu"):
        return Variant(text, None, text)
    match = re.match(r"^cu(\d+)$", text)
    if match and len(match.group(1)) >= 2:
        digits = match.group(1)
        return Variant("cuda", Version(f"{int(digits[:-1])}.{digits[-1]}"), text)
    match = _ROCM.match(text)
    if match:
        return Variant("rocm", Version(match.group(1)), text)
    return None


def is_variant_name(name: str) -> bool:
    """Whether ``name`` reads as a PyTorch variant (used to spot variants on an index's root page)."""
    return parse_variant(name) is not None


def parse_torch_backend(value: str, source: str = "--torch-backend") -> str | None:
    """The explicit variant in a ``--torch-backend`` / ``PYX_TORCH_BACKEND`` value (None for ``auto``)."""
    text = value.strip().lower()
    if text == "auto":
        return None
    if parse_variant(text) is None:
        raise ConfigError(
            f"`{source}` is `{value}`, which is not a PyTorch variant",
            context={"source": source},
            hints=[f"use {_VARIANT_FORMS}"],
        )
    return text


def variant_sort_key(name: str) -> tuple:
    """Best first when sorted: newer CUDA / ROCm first within a family, unknown names last."""
    variant = parse_variant(name)
    if variant is None:
        return (9, name)
    family_rank = {"cuda": 0, "rocm": 1, "xpu": 2, "cpu": 3}[variant.family]
    version = variant.version or Version("0")
    # negate each release part so newer sorts first
    return (family_rank, tuple(-part for part in version.release), name)


# -- the PyTorch family ----------------------------------------------------------------------------


def is_torch_family(name: str) -> bool:
    """Whether ``name`` is published per variant on the PyTorch index (and so is routed there)."""
    return canonicalize_name(name) in TORCH_FAMILY


def has_system_dependency(name: str) -> bool:
    """Whether the package's build depends on the variant's CUDA / ROCm (``triton`` does not)."""
    return is_torch_family(name) and canonicalize_name(name) not in _NO_SYSTEM_DEPENDENCY


# -- CUDA drivers -----------------------------------------------------------------------------------


def os_family(platform: str) -> str:
    """``linux`` or ``win32`` for a ``sys.platform`` value (the keys of the driver tables)."""
    if platform.startswith("linux"):
        return "linux"
    if platform in ("win32", "cygwin"):
        return "win32"
    return platform


def driver_table(platform: str) -> tuple[tuple[str, str], ...] | None:
    """The minimum-driver table of ``platform``; None where CUDA builds are not published."""
    return {"linux": LINUX_CUDA_DRIVERS, "win32": WINDOWS_CUDA_DRIVERS}.get(os_family(platform))


def min_driver(variant: str, platform: str) -> str | None:
    """The oldest NVIDIA driver that runs ``variant`` on ``platform``; None if unknown / not CUDA."""
    table = driver_table(platform)
    if table is None:
        return None
    for name, minimum in table:
        if name == variant:
            return minimum
    parsed = parse_variant(variant)
    if parsed is None or parsed.family != "cuda" or parsed.version is None:
        return None
    return _MAJOR_DRIVERS[os_family(platform)].get(parsed.version.major)


def cuda_variants_for_driver(driver_version: str, platform: str) -> list[str]:
    """The table's CUDA variants this driver runs on ``platform``, newest first."""
    table = driver_table(platform)
    if table is None:
        return []
    driver = Version(driver_version)
    return [name for name, minimum in table if driver >= Version(minimum)]


def unsupported_capability(variant: str, capability: str) -> str | None:
    """Why a CUDA ``variant`` cannot run on a GPU of compute ``capability``; None when it can.

    Uses what the CUDA toolkits support (a wheel may target fewer architectures still).
    """
    parsed = parse_variant(variant)
    if parsed is None or parsed.family != "cuda" or parsed.version is None:
        return None
    try:
        cc = Version(capability)
    except Exception:
        return None
    cuda = parsed.version
    for first_cc, needs, family in _CC_NEEDS_CUDA:
        if cc >= first_cc:
            if cuda < needs:
                return f"compute capability {capability} ({family}) needs a CUDA {needs} or newer build"
            break
    floor = _CUDA_MIN_CC.get(cuda.major)
    if floor is not None and cc < floor:
        return f"CUDA {cuda.major} builds do not support compute capability {capability} (they need ≥ {floor})"
    return None
