"""Pure: decide what an install will do before anything is touched (uv's ``Plan``).

Two steps. ``partition`` compares the requirements with what is installed and needs no
network: it finds what is already satisfied, what must be installed and (for an exact
sync) what is extraneous. After the index has been asked which file to use for each
remaining requirement, ``make_plan`` sorts those wheels into ``cached`` (already unpacked
in the global cache: linking only) and ``remote`` (to download first), and lists the
installed distributions they replace. ``--dry-run``, the Jupyter panel's preview and the
tests all read the same ``Plan``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import NormalizedName
from packaging.version import Version

from pyx_server.engine.requirements import RequirementSpec


@dataclass(frozen=True)
class WheelSource:
    """One wheel to install: where it comes from and what it must hash to."""

    name: NormalizedName
    version: Version
    filename: str
    #: the index file record (``simple.DistFile``) for index installs, else None
    file: object | None
    #: a local wheel, for path requirements
    path: Path | None
    #: the URL the wheel is fetched from (may hold credentials: never display it)
    url: str
    #: digests the user allowed (``--hash``), by algorithm
    allowed_hashes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: the index's own sha256 of the file, when it stated one
    sha256: str | None = None
    #: installed from a URL or path (PEP 610 ``direct_url.json``) rather than an index
    direct: bool = False
    requested: bool = True
    #: PEP 610 ``direct_url.json`` for what was built from a source tree or an sdist URL
    origin: Mapping | None = None


@dataclass(frozen=True)
class PlannedWheel:
    source: WheelSource
    #: the unpacked wheel in the cache, for cached items
    archive: Path | None = None


@dataclass(frozen=True)
class Partition:
    """What ``partition`` found: satisfied, to install, and extraneous (exact sync only)."""

    unchanged: tuple = ()  # InstalledDist
    to_install: tuple[RequirementSpec, ...] = ()
    extraneous: tuple = ()  # InstalledDist
    #: requirements whose marker excludes this interpreter
    skipped: tuple[RequirementSpec, ...] = ()


@dataclass(frozen=True)
class Plan:
    """Everything an install will do, computed before anything is touched."""

    cached: tuple[PlannedWheel, ...] = ()
    remote: tuple[PlannedWheel, ...] = ()
    reinstall: tuple = ()  # InstalledDist replaced by a planned wheel
    extraneous: tuple = ()  # InstalledDist removed because nothing asks for it
    unchanged: tuple = ()  # InstalledDist left as they are

    @property
    def installs(self) -> tuple[PlannedWheel, ...]:
        return self.cached + self.remote

    @property
    def is_noop(self) -> bool:
        return not (self.cached or self.remote or self.reinstall or self.extraneous)

    def to_dict(self) -> dict:
        """JSON form for ``--dry-run --format json`` and the REST API."""

        def wheel(p: PlannedWheel) -> dict:
            return {"name": p.source.name, "version": str(p.source.version), "filename": p.source.filename}

        def dist(d) -> dict:
            return {"name": d.name, "version": str(d.version)}

        return {
            "cached": [wheel(p) for p in self.cached],
            "remote": [wheel(p) for p in self.remote],
            "reinstall": [dist(d) for d in self.reinstall],
            "extraneous": [dist(d) for d in self.extraneous],
            "unchanged": [dist(d) for d in self.unchanged],
        }


def partition(
    requirements: Sequence[RequirementSpec],
    installed: Mapping[NormalizedName, object],
    *,
    markers: Mapping[str, str] | None,
    exact: bool,
    reinstall: bool | frozenset[str] = False,
) -> Partition:
    """Split requirements into satisfied and to-install, without touching the network.

    ``markers`` is the target's marker environment (None: no requirement has a marker).
    ``reinstall`` is True for all, or a set of names. Requirements on the same name are
    merged (their specifiers intersected).
    """
    merged: dict[NormalizedName, RequirementSpec] = {}
    skipped: list[RequirementSpec] = []
    for spec in requirements:
        marker = spec.requirement.marker
        if marker is not None and markers is not None and not marker.evaluate({**markers, "extra": ""}):
            skipped.append(spec)
            continue
        previous = merged.get(spec.name)
        merged[spec.name] = spec if previous is None else _merge(previous, spec)
    unchanged, to_install = [], []
    for name, spec in merged.items():
        dist = installed.get(name)
        forced = reinstall is True or (isinstance(reinstall, frozenset) and name in reinstall)
        if dist is not None and not forced and satisfies(dist, spec):
            unchanged.append(dist)
        else:
            to_install.append(spec)
    extraneous = []
    if exact:
        extraneous = [d for n, d in sorted(installed.items()) if n not in merged]
    return Partition(tuple(unchanged), tuple(to_install), tuple(extraneous), tuple(skipped))


def satisfies(dist, spec: RequirementSpec) -> bool:
    """Whether the installed ``dist`` already is what ``spec`` asks for.

    A registry requirement is satisfied by a version its specifier admits that was itself
    installed from a registry; a URL or path requirement by a dist installed from that URL.
    """
    direct = getattr(dist, "direct_url", None)
    if spec.url:
        return bool(direct) and _same_url(direct.get("url", ""), spec.url)
    if direct and "dir_info" not in direct:
        return False
    return spec.requirement.specifier.contains(dist.version, prereleases=True)


def _same_url(installed: str, wanted: str) -> bool:
    strip = lambda u: u.split("#", 1)[0].rstrip("/")  # noqa: E731
    return strip(installed) == strip(_drop_credentials(wanted))


def _drop_credentials(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def _merge(a: RequirementSpec, b: RequirementSpec) -> RequirementSpec:
    from packaging.requirements import Requirement

    if a.url or b.url:
        if a.url and b.url and _same_url(a.url, b.url):
            return a
        from pyx_server.engine.errors import InvalidRequirement

        raise InvalidRequirement(
            f"`{a.name}` is requested twice in ways that cannot both hold: `{a}` ({a.source}) and `{b}` ({b.source})"
        )
    req = Requirement(str(a.requirement))
    req.specifier &= b.requirement.specifier
    req.extras |= b.requirement.extras
    hashes = {**a.hashes, **b.hashes}
    return RequirementSpec(req, a.source, hashes, a.path)


def make_plan(
    part: Partition,
    sources: Sequence[WheelSource],
    installed: Mapping[NormalizedName, object],
    *,
    archive_for: Callable[[WheelSource], Path | None],
) -> Plan:
    """Sort chosen wheels into cached and remote, and list what they replace."""
    cached, remote, replaced = [], [], []
    for source in sources:
        archive = archive_for(source)
        (cached if archive else remote).append(PlannedWheel(source, archive))
        if source.name in installed:
            replaced.append(installed[source.name])
    return Plan(
        cached=tuple(cached),
        remote=tuple(remote),
        reinstall=tuple(replaced),
        extraneous=part.extraneous,
        unchanged=part.unchanged,
    )
