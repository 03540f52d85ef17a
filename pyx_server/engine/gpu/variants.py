"""Pure: which PyTorch variant (``cpu``, ``cuXYZ``, ``rocmX.Y``, ``xpu``) a detected accelerator can run.

The CUDA tables are the minimum-driver tables light-the-torch and uv (``crates/uv-torch``)
use, taken from NVIDIA's CUDA toolkit release notes (Linux and Windows differ). A variant not
in the table (a future ``cu131``) is judged by its CUDA major version, since within a major
version the driver requirement is shared (CUDA minor-version compatibility). The ROCm table
maps gfx architectures to the ROCm builds whose ``torch.cuda.get_arch_list()`` include them,
as uv's does.

Beyond uv: when the GPUs' compute capabilities are known, a CUDA build whose toolkit cannot
target them is not chosen (CUDA 13 dropped Maxwell, Pascal and Volta; Blackwell needs CUDA
12.8 or later, Hopper and Ada 11.8) — uv would pick ``cu130`` for a Pascal card on a 580
driver, which cannot run it.

These tables are the fallback: when the variant index publishes PEP 825 metadata for a build,
its own declaration (``wheel_variants``: the CUDA architectures it carries) is the verdict the
listing hands to ``choose_variant``, since a build that dropped an architecture says so only there.

``choose_variant`` always explains itself; an explicit choice (``PYX_TORCH_BACKEND``,
``--torch-backend``) always wins, with a warning when this machine cannot run it. A GPU that no
offered build can use is a warning too: the install works, but the GPU would sit idle.
``torch_routing`` gives the ``[tool.uv]`` entries that make ``uv run`` pick the same variant.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from pyx_server.engine.errors import ConfigError, Hint, PyxWarning, TorchIndexNotConfigured

if TYPE_CHECKING:  # detect imports this module; the type is only needed for annotations
    from pyx_server.engine.gpu.detect import Accelerator

#: the choice that routes nothing: the default index's build (Apple silicon, or no CPU build offered)
DEFAULT = "default"

#: probed when the variant index has no root page listing its variants
DEFAULT_PROBE_VARIANTS = (
    "cpu", "cu118", "cu121", "cu124", "cu126", "cu128", "cu129", "cu130",
    "rocm6.2", "rocm6.3", "rocm6.4", "xpu",
)

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


def _os(platform: str) -> str:
    if platform.startswith("linux"):
        return "linux"
    if platform in ("win32", "cygwin"):
        return "win32"
    return platform


def _driver_table(platform: str) -> tuple[tuple[str, str], ...] | None:
    return {"linux": LINUX_CUDA_DRIVERS, "win32": WINDOWS_CUDA_DRIVERS}.get(_os(platform))


def min_driver(variant: str, platform: str) -> str | None:
    """The oldest NVIDIA driver that runs ``variant`` on ``platform``; None if unknown / not CUDA."""
    table = _driver_table(platform)
    if table is None:
        return None
    for name, minimum in table:
        if name == variant:
            return minimum
    parsed = parse_variant(variant)
    if parsed is None or parsed.family != "cuda" or parsed.version is None:
        return None
    return _MAJOR_DRIVERS[_os(platform)].get(parsed.version.major)


def cuda_variants_for_driver(driver_version: str, platform: str) -> list[str]:
    """The table's CUDA variants this driver runs on ``platform``, newest first."""
    table = _driver_table(platform)
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


# -- compatibility ------------------------------------------------------------------------------------


def compatible_variants(accelerator: Accelerator) -> list[str]:
    """The table's variants this machine can run, best (newest) first, always ending in ``cpu``."""
    found: list[str] = []
    os_name = _os(accelerator.platform)
    if accelerator.kind == "nvidia" and accelerator.driver_version:
        found = [v for v in cuda_variants_for_driver(accelerator.driver_version, accelerator.platform)
                 if _capability_problem(accelerator, v) is None]
    elif accelerator.kind == "amd" and os_name == "linux":
        found = [v for v, _ in LINUX_ROCM_ARCHITECTURES if _rocm_problem(accelerator, v) is None]
    elif accelerator.kind == "intel" and os_name in ("linux", "win32"):
        found = ["xpu"]
    return [*found, "cpu"]


def check_variant(accelerator: Accelerator, variant: str) -> tuple[bool, str | None]:
    """Whether this machine can run ``variant`` (any name, also ones missing from the tables), and why not."""
    parsed = parse_variant(variant)
    if parsed is None:
        return False, f"`{variant}` is not a variant pyx knows"
    os_name = _os(accelerator.platform)
    if parsed.family == "cpu":
        return True, None
    if parsed.family == "cuda":
        if accelerator.kind != "nvidia" or not accelerator.driver_version:
            return False, "needs an NVIDIA GPU with its driver (none found)"
        if os_name not in ("linux", "win32"):
            return False, f"PyTorch publishes no CUDA builds for {accelerator.platform}"
        minimum = min_driver(variant, accelerator.platform)
        if minimum is None:
            return False, f"pyx does not know which driver {variant} needs"
        if Version(accelerator.driver_version) < Version(minimum):
            return False, f"needs NVIDIA driver ≥ {minimum} (this machine has {accelerator.driver_version})"
        problem = _capability_problem(accelerator, variant)
        return (False, problem) if problem else (True, None)
    if parsed.family == "rocm":
        if accelerator.kind != "amd":
            return False, "needs an AMD GPU (none found)"
        if os_name != "linux":
            return False, "PyTorch publishes ROCm builds for Linux only"
        problem = _rocm_problem(accelerator, variant)
        return (False, problem) if problem else (True, None)
    # xpu
    if accelerator.kind != "intel":
        return False, "needs an Intel GPU (none found)"
    if os_name not in ("linux", "win32"):
        return False, "PyTorch publishes XPU builds for Linux and Windows only"
    return True, None


def _min_driver_met(accelerator: Accelerator, variant: str) -> bool:
    minimum = min_driver(variant, accelerator.platform)
    return bool(minimum and accelerator.driver_version and Version(accelerator.driver_version) >= Version(minimum))


def _capability_problem(accelerator: Accelerator, variant: str) -> str | None:
    for capability in accelerator.compute_capabilities:
        problem = unsupported_capability(variant, capability)
        if problem:
            return problem
    return None


def _rocm_problem(accelerator: Accelerator, variant: str) -> str | None:
    archs = accelerator.architectures
    if not archs:
        return "the AMD GPU's architecture is unknown"
    targets = dict(LINUX_ROCM_ARCHITECTURES).get(variant)
    if targets is None:
        parsed = parse_variant(variant)
        # a ROCm build newer than the table: assume it keeps what the newest known build targets
        newest = LINUX_ROCM_ARCHITECTURES[0]
        if parsed is not None and parsed.version is not None and parsed.version > Version(newest[0][4:]):
            targets = newest[1]
        else:
            return f"pyx does not know which GPUs {variant} supports"
    missing = [a for a in archs if a not in targets]
    if missing:
        return f"{variant} builds do not target {', '.join(missing)}"
    return None


# -- the choice ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """The variant pyx would install and why; ``variant`` is ``default`` when nothing is routed."""

    variant: str
    reason: str
    #: the user named it (``PYX_TORCH_BACKEND`` / ``--torch-backend``)
    explicit: bool = False
    #: whether ``offered`` (what the variant index has) narrowed the choice
    index_consulted: bool = False
    #: what this machine can run, best first (with ``cpu`` last)
    compatible: tuple[str, ...] = ()
    #: things a person should know about this choice: the build cannot run on the GPU (an explicit
    #: choice, or a compute capability no build supports), so it would fail or leave the GPU idle
    warnings: tuple[PyxWarning, ...] = ()

    @property
    def routed(self) -> bool:
        """Whether PyTorch packages go to a variant index (not for ``default``)."""
        return self.variant != DEFAULT

    def to_dict(self) -> dict[str, Any]:
        """JSON form; ``variant`` is the choice string (``"cu128"``)."""
        return {**asdict(self), "compatible": list(self.compatible), "routed": self.routed,
                "warnings": [w.to_dict() for w in self.warnings]}


#: a verdict on one variant: whether this machine can run it, and why not
Verdict = tuple[bool, "str | None"]


def choose_variant(
    accelerator: Accelerator,
    offered: Sequence[str] | None = None,
    *,
    verdicts: Mapping[str, Verdict] | None = None,
) -> Choice:
    """The variant to install: the newest this machine runs among ``offered`` (None: not consulted).

    Falls back to older compatible variants, then ``cpu``; an explicit choice always wins.
    ``verdicts`` are what the index's variant metadata says of some variants (the listing's
    ``VariantInfo``); they replace the name-based ``check_variant`` for those, because a build's
    own declaration (the CUDA architectures it carries) knows more than its name.
    """
    verdicts = verdicts or {}
    if accelerator.backend:
        return _explicit(accelerator, offered, verdicts)
    consulted = offered is not None
    offered_list = list(dict.fromkeys(offered)) if offered is not None else None
    if accelerator.kind == "apple":
        table = compatible_variants(accelerator)
        return Choice(
            DEFAULT,
            "Apple silicon: the default index's macOS build already includes the MPS (Metal) backend, "
            "so no variant index is needed",
            index_consulted=consulted,
            compatible=tuple(table),
        )
    if offered_list is None:
        table = compatible_variants(accelerator)
        warnings = _idle_gpu_warning(accelerator, _why_cpu(accelerator)) if table[0] == "cpu" else ()
        return Choice(table[0], _offline_reason(accelerator, table), compatible=tuple(table), warnings=warnings)
    runnable = sorted((v for v in offered_list if _verdict(accelerator, v, verdicts)[0]), key=variant_sort_key)
    gpu = [v for v in runnable if v != "cpu"]
    if gpu:
        reason = _offered_reason(accelerator, gpu[0]) + _passed_over(accelerator, gpu[0], offered_list, verdicts)
        return Choice(gpu[0], reason, index_consulted=True, compatible=tuple(runnable))
    why = _why_cpu(accelerator, offered_list, verdicts)
    warnings = _idle_gpu_warning(accelerator, why)
    if "cpu" in offered_list:
        return Choice("cpu", why + "; using cpu", index_consulted=True, compatible=tuple(runnable), warnings=warnings)
    return Choice(
        DEFAULT,
        why + "; the index offers no cpu build either, so the default index's build is used",
        index_consulted=True,
        compatible=tuple(runnable),
        warnings=warnings,
    )


def _verdict(accelerator: Accelerator, variant: str, verdicts: Mapping[str, Verdict]) -> Verdict:
    return verdicts[variant] if variant in verdicts else check_variant(accelerator, variant)


def _passed_over(accelerator: Accelerator, chosen: str, offered: Sequence[str], verdicts: Mapping[str, Verdict]) -> str:
    """Why builds ranked above the chosen one were skipped although the tables allow them: their metadata said no."""
    newer = sorted(
        (v for v in offered if v in verdicts and not verdicts[v][0] and check_variant(accelerator, v)[0]
         and variant_sort_key(v) < variant_sort_key(chosen)),
        key=variant_sort_key,
    )
    return "".join(f"; {v} was passed over: {verdicts[v][1]}" for v in newer)


def _idle_gpu_warning(accelerator: Accelerator, why: str) -> tuple[PyxWarning, ...]:
    """A GPU was found but no build that uses it can be installed: say so (the install still works)."""
    names = {"nvidia": "NVIDIA GPU", "amd": "AMD GPU", "intel": "Intel GPU"}
    if accelerator.kind in names:
        return (PyxWarning("gpu-unused", f"the {names[accelerator.kind]} will not be used: {why}"),)
    return ()


def _explicit(accelerator: Accelerator, offered: Sequence[str] | None, verdicts: Mapping[str, Verdict]) -> Choice:
    variant = accelerator.backend or "cpu"
    source = accelerator.backend_source or "an explicit choice"
    reason = f"`{variant}` was asked for by {source}"
    ok, why_not = _verdict(accelerator, variant, verdicts)
    warnings: tuple[PyxWarning, ...] = ()
    if not ok:
        reason += f" (note: {why_not})"
        warnings = (PyxWarning(
            "variant-cannot-run",
            f"`{variant}` (asked for by {source}) cannot run on this machine: {why_not}",
            hints=(Hint("let pyx choose the build for this machine: drop the explicit variant"),),
        ),)
    if offered is not None and variant not in offered:
        reason += "; the index does not offer it for this version"
    return Choice(variant, reason, explicit=True, index_consulted=offered is not None,
                  compatible=tuple(compatible_variants(accelerator)), warnings=warnings)


def _newest_by_table(accelerator: Accelerator) -> str | None:
    table = compatible_variants(accelerator)
    return table[0] if table[0] != "cpu" else None


def _gpu_phrase(accelerator: Accelerator) -> str:
    if accelerator.kind == "nvidia":
        return f"NVIDIA driver {accelerator.driver_version}"
    if accelerator.kind == "amd":
        return f"AMD {', '.join(accelerator.architectures) or 'GPU'}"
    if accelerator.kind == "intel":
        return "the Intel GPU"
    return "this machine"


def _offline_reason(accelerator: Accelerator, table: list[str]) -> str:
    if table[0] == "cpu":
        return _why_cpu(accelerator) + "; using cpu (the variant index was not consulted)"
    return f"{_gpu_phrase(accelerator)} supports up to {table[0]}; the variant index was not consulted"


def _offered_reason(accelerator: Accelerator, chosen: str) -> str:
    newest = _newest_by_table(accelerator)
    if newest is None or chosen == newest or variant_sort_key(chosen) < variant_sort_key(newest):
        return f"{_gpu_phrase(accelerator)} supports {chosen}, the newest build the index offers"
    return f"{_gpu_phrase(accelerator)} supports up to {newest}; the index offers {chosen} as the newest of those"


def _why_cpu(accelerator: Accelerator, offered: Sequence[str] | None = None,
             verdicts: Mapping[str, Verdict] | None = None) -> str:
    os_name = _os(accelerator.platform)
    if accelerator.kind == "nvidia":
        if os_name not in ("linux", "win32"):
            return f"PyTorch publishes no CUDA builds for {accelerator.platform}"
        table = cuda_variants_for_driver(accelerator.driver_version or "0", accelerator.platform)
        if not table:
            oldest, minimum = (_driver_table(accelerator.platform) or (("cu80", "?"),))[-1]
            return (f"NVIDIA driver {accelerator.driver_version} is older than any CUDA build needs "
                    f"({oldest} needs ≥ {minimum})")
        supported = [v for v in table if _capability_problem(accelerator, v) is None]
        if not supported:
            return f"no CUDA build this driver runs supports the GPU ({_capability_problem(accelerator, table[0])})"
        head = f"NVIDIA driver {accelerator.driver_version} supports up to {supported[0]}"
        declared = [v for v in offered or () if _min_driver_met(accelerator, v) and v in (verdicts or {})
                    and not verdicts[v][0]]
        if declared:
            declared.sort(key=variant_sort_key)
            return f"{head}, but the index's {', '.join(declared)} cannot run on this GPU ({verdicts[declared[0]][1]})"
        blocked = [v for v in offered or () if _min_driver_met(accelerator, v) and _capability_problem(accelerator, v)]
        if blocked:
            blocked.sort(key=variant_sort_key)
            return f"{head}, but the index's {', '.join(blocked)} cannot run on this GPU ({_capability_problem(accelerator, blocked[0])})"
        return f"{head}, but the index offers none of the CUDA builds it can run"
    if accelerator.kind == "amd":
        if os_name != "linux":
            return "PyTorch publishes ROCm builds for Linux only"
        archs = ", ".join(accelerator.architectures) or "the AMD GPU"
        if not any(_rocm_problem(accelerator, v) is None for v, _ in LINUX_ROCM_ARCHITECTURES):
            return f"{archs} is not supported by any PyTorch ROCm build"
        return f"{archs} is supported by ROCm builds, but the index offers none of them"
    if accelerator.kind == "intel":
        if os_name not in ("linux", "win32"):
            return "PyTorch publishes XPU builds for Linux and Windows only"
        return "the index offers no xpu build"
    if os_name == "linux":
        return "no GPU found (the default index's Linux build would bring CUDA libraries this machine cannot use)"
    return "no GPU found"


# -- the variant index and uv interop --------------------------------------------------------------


def torch_index_base(env: Mapping[str, str] | None = None, recorded: Iterable[str] = ()) -> str:
    """The base URL of the per-variant indexes (``<base>/<variant>/``): ``PYX_TORCH_INDEX_URL``, else
    the base of a variant index a file already routes to (``recorded`` index URLs, see
    ``recorded_torch_index_base``).

    Raises ``TorchIndexNotConfigured`` when neither names one: pyx writes no index host into its code.
    """
    env = os.environ if env is None else env
    value = (env.get("PYX_TORCH_INDEX_URL") or "").strip() or recorded_torch_index_base(recorded)
    if not value:
        raise TorchIndexNotConfigured(
            "`PYX_TORCH_INDEX_URL` is not set, so pyx does not know where the PyTorch variant indexes are",
            hints=[
                Hint("set `PYX_TORCH_INDEX_URL` to the base URL whose `<variant>/` sub-paths "
                     "(`cpu/`, `cu128/`, `rocm6.3/` …) are simple indexes (the PyTorch index or a mirror of it)",
                     "set-torch-index"),
            ],
        )
    return value.rstrip("/")


def recorded_torch_index_base(urls: Iterable[str]) -> str | None:
    """The base of the first URL shaped like a variant index (``<base>/cu128``), None when none is.

    A script, notebook or project that pyx (or a person following uv's PyTorch guide) already
    routed to ``<base>/<variant>`` tells where the variant indexes are, so choosing again there
    needs no ``PYX_TORCH_INDEX_URL``.
    """
    for url in urls:
        base, _, last = url.rstrip("/").rpartition("/")
        if base and is_variant_name(last) and "://" in base:
            return base
    return None


def recorded_variant(pinned: Iterable[tuple[str, Sequence[str]]]) -> tuple[str, tuple[str, ...]] | None:
    """The PyTorch build a file records, from its ``[tool.uv.sources]`` routing: (variant,
    the PyTorch-family packages routed to it), or None when none is routed to a variant index.

    ``pyx sync`` keeps this build on any machine (a lock made on a GPU machine reproduces
    there); the front says so, and how to choose again.
    """
    found: dict[str, list[str]] = {}
    for name, urls in pinned:
        if not is_torch_family(name):
            continue
        for url in urls:
            last = url.rstrip("/").rpartition("/")[2]
            if is_variant_name(last):
                found.setdefault(last, []).append(name)
                break
    if not found:
        return None
    variant = sorted(found, key=lambda v: -len(found[v]))[0]
    return variant, tuple(sorted(found[variant]))


def variant_index_url(base: str, variant: str) -> str:
    """The simple index of one variant: ``<base>/<variant>`` (no trailing slash, as uv writes it)."""
    return f"{base.rstrip('/')}/{variant}"


#: markers that keep a recorded route off platforms the variant has no builds for, so a
#: notebook recorded on a Linux GPU machine still resolves under ``uv run`` on macOS
_ROUTE_MARKERS = {
    "cuda": "sys_platform == 'linux' or sys_platform == 'win32'",
    "rocm": "sys_platform == 'linux'",
    "xpu": "sys_platform == 'linux' or sys_platform == 'win32'",
}


def torch_routing(
    accelerator: Accelerator,
    choice: Choice,
    requirements: Iterable[str | Requirement] = (),
    *,
    base_url: str | None = None,
    env: Mapping[str, str] | None = None,
    markers: bool = True,
) -> dict[str, Any]:
    """The ``[tool.uv]`` entries that make ``uv run`` install the chosen variant, as TOML-ready data.

    ``{"index": [{"name": "pytorch-cu128", "url": "<base>/cu128", "explicit": True}],
    "sources": {"torch": {"index": "pytorch-cu128", "marker": "…"}}}`` — one source per
    PyTorch-family package among ``requirements``; empty for the ``default`` choice. GPU variants
    carry a platform marker (``markers=False`` drops it) so other platforms fall back to the
    default index. ``accelerator`` is accepted so callers pass detection and choice together.
    """
    del accelerator  # the choice already carries what the routing depends on
    if not choice.routed:
        return {}
    base = base_url.rstrip("/") if base_url else torch_index_base(env)
    name = f"pytorch-{choice.variant}"
    family = (parse_variant(choice.variant) or Variant("cpu", None, "cpu")).family
    marker = _ROUTE_MARKERS.get(family) if markers else None
    sources: dict[str, dict[str, str]] = {}
    for item in requirements:
        requirement = item if isinstance(item, Requirement) else _requirement(item)
        if requirement is None or requirement.url or not is_torch_family(requirement.name):
            continue
        entry = {"index": name}
        if marker:
            entry["marker"] = marker
        sources[str(canonicalize_name(requirement.name))] = entry
    return {
        "index": [{"name": name, "url": variant_index_url(base, choice.variant), "explicit": True}],
        "sources": sources,
    }


def _requirement(text: str) -> Requirement | None:
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None
