"""Pure: which PyTorch variant (``cpu``, ``cuXYZ``, ``rocmX.Y``, ``xpu``) a detected accelerator can run.

The facts it judges by (variant names, the minimum-driver tables, the ROCm architectures,
what each CUDA toolkit can target) are in ``tables``.

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from pyx_server.engine.errors import Hint, PyxWarning, TorchIndexNotConfigured
from pyx_server.engine.gpu.tables import (
    LINUX_ROCM_ARCHITECTURES,
    TORCH_FAMILY,
    Variant,
    cuda_variants_for_driver,
    driver_table,
    has_system_dependency,
    is_torch_family,
    is_variant_name,
    min_driver,
    os_family,
    parse_torch_backend,
    parse_variant,
    unsupported_capability,
    variant_sort_key,
)

if TYPE_CHECKING:
    from pyx_server.engine.gpu.accelerator import Accelerator

#: the choice and the routing are defined here; the names and tables they read live in
#: ``tables`` and are named here too, since stages and fronts import them from this module
__all__ = [
    "DEFAULT",
    "DEFAULT_PROBE_VARIANTS",
    "TORCH_FAMILY",
    "Choice",
    "check_variant",
    "choose_variant",
    "compatible_variants",
    "has_system_dependency",
    "is_torch_family",
    "is_variant_name",
    "min_driver",
    "parse_torch_backend",
    "parse_variant",
    "recorded_torch_index_base",
    "recorded_variant",
    "torch_index_base",
    "torch_routing",
    "unsupported_capability",
    "variant_index_url",
    "variant_sort_key",
]

#: the choice that routes nothing: the default index's build (Apple silicon, or no CPU build offered)
DEFAULT = "default"

#: probed when the variant index has no root page listing its variants
DEFAULT_PROBE_VARIANTS = (
    "cpu", "cu118", "cu121", "cu124", "cu126", "cu128", "cu129", "cu130",
    "rocm6.2", "rocm6.3", "rocm6.4", "xpu",
)


# -- compatibility ------------------------------------------------------------------------------------


def compatible_variants(accelerator: Accelerator) -> list[str]:
    """The table's variants this machine can run, best (newest) first, always ending in ``cpu``."""
    found: list[str] = []
    os_name = os_family(accelerator.platform)
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
    os_name = os_family(accelerator.platform)
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
    os_name = os_family(accelerator.platform)
    if accelerator.kind == "nvidia":
        if os_name not in ("linux", "win32"):
            return f"PyTorch publishes no CUDA builds for {accelerator.platform}"
        table = cuda_variants_for_driver(accelerator.driver_version or "0", accelerator.platform)
        if not table:
            oldest, minimum = (driver_table(accelerator.platform) or (("cu80", "?"),))[-1]
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
