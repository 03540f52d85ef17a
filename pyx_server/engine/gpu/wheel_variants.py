"""Pure: what a PEP 825 variant build declares (``variants.json``), and whether this machine can run it.

PEP 825 ("Wheel Variants: Package Format") labels a wheel (``torch-2.9.0-…-cu128.whl``) and
maps each label to *variant properties* ``namespace :: feature :: value`` in the index's
``{name}-{version}-variants.json`` (and the wheel's own ``*.dist-info/variant.json``). A build
is compatible when, for every feature it lists, at least one of its values suits the machine;
the ``null`` label (no properties) always is. Which properties suit a machine is left to
"providers" by the PEP; pyx is its own provider for the GPU namespaces it detects, following
the published NVIDIA and AMD providers' vocabulary:

* ``nvidia :: cuda_version_lower_bound :: 12.8`` — a CUDA 12.8 build: the driver must run it,
  judged by the same minimum-driver table as ``cu128`` (CUDA minor-version compatibility);
* ``nvidia :: sm_arch :: 80_real`` / ``90_virtual`` — the GPU code the wheel carries: real
  (SASS) code runs on GPUs of the same major compute capability and an equal or higher minor
  one (``90a`` arch-specific code only on exactly 9.0); virtual (PTX) code is compiled by the
  driver for any GPU of that capability or newer. Every GPU detected must be covered;
* ``amd :: gfx_arch :: gfx90a`` — every detected gfx architecture must be listed;
* ``intel :: …`` — an Intel GPU must be present.

Features of those vendors that pyx does not read (``cuda_version_upper_bound`` limits the
driver's own CUDA version, which pyx does not query; ``rocm_version``; Intel device IPs) do not
decide the verdict, as they would not for a build judged by its name; they are reported as
unchecked. A namespace pyx knows nothing of (``x86_64 :: level``) makes the build
incompatible: installing code for a CPU level this machine may lack is worse than not.

This is what lets pyx prefer a build's own declaration over its name: a ``cu128`` torch that
dropped Pascal says so in its ``sm_arch`` values, which no name-based table can know.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from pyx_server.engine.errors import InvalidMetadata
from pyx_server.engine.gpu.tables import min_driver, parse_variant

if TYPE_CHECKING:
    from pyx_server.engine.gpu.accelerator import Accelerator

#: namespace → feature → values, as ``variants.json`` writes one label's properties
Properties = Mapping[str, Mapping[str, tuple[str, ...]]]

NULL_LABEL = "null"
#: ``$schema`` major versions whose layout pyx reads (0.x are the PEP's drafts)
SUPPORTED_SCHEMA_MAJORS = (0, 1)

_NAME = re.compile(r"^[a-z0-9_]+$")
_VALUE = re.compile(r"^[a-z0-9_.]+$")
_SCHEMA_VERSION = re.compile(r"v?(\d+(?:\.\d+)*)(?:\.json)?$")
_SM = re.compile(r"^(\d+)(\d)([af]?)_(real|virtual)$")


@dataclass(frozen=True)
class VariantsJson:
    """An index's ``{name}-{version}-variants.json``: each label's properties and the namespace order."""

    variants: Mapping[str, Properties]
    #: ``default-priorities.namespace``: the package's namespaces, most important first
    namespaces: tuple[str, ...] = ()
    #: the version in the ``$schema`` URL (None when the file names none)
    schema_version: Version | None = None

    def label_for(self, variant: str) -> str | None:
        """The label describing pyx's ``variant`` (``cu128``): the same name, else the one whose
        properties read as that variant; None when no label or several do."""
        if variant in self.variants:
            return variant
        matches = [label for label, props in self.variants.items() if variant_name(label, props) == variant]
        return matches[0] if len(matches) == 1 else None


def parse_variants_json(content: bytes | str | Mapping[str, Any], source: str) -> VariantsJson:
    """Read a ``variants.json`` (or ``variant.json``); ``InvalidMetadata`` names what is wrong.

    A ``$schema`` of an unknown major version is refused: PEP 825 says its wheels must then be
    treated as unsupported, and guessing at a changed layout could install the wrong build.
    """
    try:
        data = json.loads(content) if isinstance(content, bytes | str) else content
    except ValueError as exc:
        raise InvalidMetadata(f"`{source}` is not JSON", detail=str(exc)) from None
    if not isinstance(data, Mapping):
        raise InvalidMetadata(f"`{source}` is not a JSON object")
    schema = data.get("$schema")
    version = _schema_version(schema) if isinstance(schema, str) else None
    if version is not None and version.major not in SUPPORTED_SCHEMA_MAJORS:
        raise InvalidMetadata(
            f"`{source}` uses variant metadata format `{version}`, which pyx does not read",
            hints=["PEP 825 treats variant wheels of an unknown format as unsupported; pyx judges the build by its name"],
        )
    raw = data.get("variants")
    if not isinstance(raw, Mapping):
        raise InvalidMetadata(f"`{source}` has no `variants` object")
    variants = {str(label): _properties(label, props, source) for label, props in raw.items()}
    priorities = data.get("default-priorities")
    namespaces = priorities.get("namespace") if isinstance(priorities, Mapping) else None
    order = tuple(n for n in namespaces if isinstance(n, str)) if isinstance(namespaces, list) else ()
    return VariantsJson(variants=variants, namespaces=order, schema_version=version)


def _schema_version(url: str) -> Version | None:
    match = _SCHEMA_VERSION.search(url.rstrip("/").rsplit("/", 1)[-1])
    try:
        return Version(match.group(1)) if match else None
    except InvalidVersion:  # pragma: no cover - the pattern only admits dotted numbers
        return None


def _properties(label: Any, value: Any, source: str) -> Properties:
    if not isinstance(value, Mapping):
        raise InvalidMetadata(f"`{source}` gives variant `{label}` properties that are not an object")
    result: dict[str, dict[str, tuple[str, ...]]] = {}
    for namespace, features in value.items():
        if not isinstance(features, Mapping) or not _NAME.match(str(namespace)):
            raise InvalidMetadata(f"`{source}` gives variant `{label}` an invalid namespace `{namespace}`")
        for feature, values in features.items():
            if not _NAME.match(str(feature)) or not isinstance(values, list) or not values:
                raise InvalidMetadata(f"`{source}` gives `{label}` an invalid feature `{namespace} :: {feature}`")
            bad = [v for v in values if not isinstance(v, str) or not _VALUE.match(v)]
            if bad:
                raise InvalidMetadata(f"`{source}` gives `{namespace} :: {feature}` the invalid value `{bad[0]}`")
            result.setdefault(str(namespace), {})[str(feature)] = tuple(values)
    return result


def property_strings(properties: Properties) -> tuple[str, ...]:
    """``nvidia :: sm_arch :: 80_real`` lines, in the file's order (what the picker shows)."""
    return tuple(f"{ns} :: {feature} :: {v}" for ns, features in properties.items() for feature, values in features.items() for v in values)


# -- CUDA architectures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmArch:
    """One ``sm_arch`` value: the compute capability it targets and the kind of code."""

    capability: Version
    #: ``a`` (arch-specific: exactly this GPU) or ``f`` (family: same major), else empty
    suffix: str
    #: PTX the driver compiles (True) or SASS for the GPU itself (False)
    virtual: bool

    @classmethod
    def parse(cls, value: str) -> SmArch | None:
        """``80_real`` → 8.0 real; ``120_virtual`` → 12.0 PTX; ``90a_real`` → 9.0 arch-specific; None otherwise."""
        match = _SM.match(value)
        if match is None:
            return None
        major, minor, suffix, kind = match.groups()
        return cls(Version(f"{int(major)}.{minor}"), suffix, kind == "virtual")

    def runs_on(self, capability: Version) -> bool:
        """Whether code built for this target runs on a GPU of ``capability`` (CUDA's compatibility rules)."""
        mine = self.capability
        if self.suffix == "a":
            return capability == mine
        same_family = capability.major == mine.major and capability >= mine
        if self.virtual and not self.suffix:
            return capability >= mine  # PTX is compiled for newer GPUs by the driver
        return same_family

    def __str__(self) -> str:
        number = f"{self.capability.major}{self.capability.minor}{self.suffix}"
        return f"compute_{number}" if self.virtual else f"sm_{number}"


def declared_architectures(properties: Properties) -> tuple[str, ...]:
    """The CUDA architectures a build declares (``sm_80``, ``compute_90`` …); empty when it says none."""
    values = properties.get("nvidia", {}).get("sm_arch", ())
    parsed = [SmArch.parse(v) for v in values]
    return tuple(str(a) for a in parsed if a is not None)


def uncovered_capabilities(values: tuple[str, ...], capabilities: tuple[str, ...]) -> tuple[str, ...]:
    """The compute capabilities (``"6.1"``) none of the ``sm_arch`` ``values`` can run on."""
    archs = [a for a in (SmArch.parse(v) for v in values) if a is not None]
    missing = []
    for text in capabilities:
        try:
            capability = Version(text)
        except InvalidVersion:
            continue
        if not any(a.runs_on(capability) for a in archs):
            missing.append(text)
    return tuple(missing)


# -- the verdict ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    """Whether this machine can run a build, judged from its declared properties."""

    compatible: bool
    #: why not (None when ``compatible``)
    reason: str | None = None
    #: the CUDA architectures the build declares, for the picker and the warnings
    architectures: tuple[str, ...] = ()
    #: properties pyx read but did not judge (see the module docstring)
    unchecked: tuple[str, ...] = field(default=())


def judge(properties: Properties, accelerator: Accelerator) -> Judgement:
    """Whether ``accelerator`` can run a build with these properties; the ``null`` variant always can."""
    problems: list[str] = []
    unchecked: list[str] = []
    for namespace, features in properties.items():
        check = _NAMESPACES.get(namespace)
        if check is None:
            problems.append(f"pyx cannot check `{namespace}` properties ({', '.join(f'`{f}`' for f in features)})")
            continue
        check(features, accelerator, problems, unchecked)
    architectures = declared_architectures(properties)
    if problems:
        return Judgement(False, "; ".join(problems), architectures, tuple(unchecked))
    return Judgement(True, None, architectures, tuple(unchecked))


def _nvidia(features: Mapping[str, tuple[str, ...]], accelerator: Accelerator, problems: list[str], unchecked: list[str]) -> None:
    if accelerator.kind != "nvidia" or not accelerator.driver_version:
        problems.append("needs an NVIDIA GPU with its driver (none found)")
        return
    for feature, values in features.items():
        if feature == "cuda_version_lower_bound":
            problem = _driver_problem(values, accelerator)
            if problem:
                problems.append(problem)
        elif feature == "sm_arch":
            missing = uncovered_capabilities(values, accelerator.compute_capabilities)
            if missing:
                archs = ", ".join(str(a) for a in (SmArch.parse(v) for v in values) if a is not None) or "none pyx reads"
                which = " and ".join(missing)
                problems.append(f"the build declares CUDA architectures {archs}; this GPU's compute capability {which} is not among them")
        else:
            unchecked += [f"nvidia :: {feature} :: {v}" for v in values]


def _driver_problem(values: tuple[str, ...], accelerator: Accelerator) -> str | None:
    """None when the driver runs a CUDA build of at least one of the lower bounds (``12.8``, ``13``)."""
    needs: list[tuple[Version, str]] = []
    for value in values:
        try:
            cuda = Version(value)
        except InvalidVersion:
            continue
        name = f"cu{cuda.major}{cuda.minor if len(cuda.release) > 1 else 0}"
        minimum = min_driver(name, accelerator.platform)
        if minimum is None:
            continue
        if Version(accelerator.driver_version or "0") >= Version(minimum):
            return None
        needs.append((Version(minimum), value))
    if not needs:
        return f"pyx does not know which driver CUDA {' or '.join(values)} needs on {accelerator.platform}"
    minimum, value = min(needs)
    return f"declares CUDA {value}, which needs NVIDIA driver ≥ {minimum} (this machine has {accelerator.driver_version})"


def _amd(features: Mapping[str, tuple[str, ...]], accelerator: Accelerator, problems: list[str], unchecked: list[str]) -> None:
    if accelerator.kind != "amd":
        problems.append("needs an AMD GPU (none found)")
        return
    for feature, values in features.items():
        if feature == "gfx_arch":
            missing = [a for a in accelerator.architectures if a not in values]
            if not accelerator.architectures:
                problems.append("the AMD GPU's architecture is unknown")
            elif missing:
                problems.append(f"the build targets {', '.join(values)}, not {', '.join(missing)}")
        else:
            unchecked += [f"amd :: {feature} :: {v}" for v in values]


def _intel(features: Mapping[str, tuple[str, ...]], accelerator: Accelerator, problems: list[str], unchecked: list[str]) -> None:
    if accelerator.kind != "intel":
        problems.append("needs an Intel GPU (none found)")
        return
    unchecked += [f"intel :: {feature} :: {v}" for feature, values in features.items() for v in values]


_NAMESPACES = {"nvidia": _nvidia, "amd": _amd, "intel": _intel}


def variant_name(label: str, properties: Properties) -> str | None:
    """pyx's name for a labelled build: the label when it is one (``cu128``), else read from the
    properties (a CUDA lower bound ``12.8`` → ``cu128``, ROCm ``6.3`` → ``rocm6.3``, Intel → ``xpu``,
    none → ``cpu``); None when they say nothing pyx can name."""
    if parse_variant(label) is not None:
        return label
    if not properties:
        return "cpu"
    nvidia = properties.get("nvidia", {})
    bounds = []
    for value in nvidia.get("cuda_version_lower_bound", ()):
        try:
            bounds.append(Version(value))
        except InvalidVersion:
            continue
    if bounds:
        cuda = max(bounds)
        return f"cu{cuda.major}{cuda.minor if len(cuda.release) > 1 else 0}"
    rocm = properties.get("amd", {}).get("rocm_version", ())
    if rocm:
        return f"rocm{rocm[0]}"
    if "intel" in properties:
        return "xpu"
    return None
