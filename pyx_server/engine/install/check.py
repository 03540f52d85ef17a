"""Pure: do the installed distributions satisfy some requirements, and each other's?

``unsatisfied`` walks the requirements and, transitively, the ``Requires-Dist`` of what is
installed (markers evaluated for the target, extras followed), and lists what is missing or
at a version the requirement excludes. ``pyx pip install`` uses it to answer "already
satisfied" without the network; ``pyx pip check`` runs it over every installed distribution.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.parser import BytesHeaderParser

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name


@dataclass(frozen=True)
class Problem:
    """One unmet requirement: ``required_by`` (None: the user) needs ``requirement``; ``found``
    is the installed version, or None when nothing of that name is installed."""

    required_by: str | None
    requirement: Requirement
    found: str | None

    def __str__(self) -> str:
        who = f"{self.required_by} requires" if self.required_by else "you require"
        if self.found is None:
            return f"{who} `{self.requirement}`, which is not installed"
        return f"{who} `{self.requirement}`, but `{self.requirement.name}` {self.found} is installed"


def requires_dist(dist) -> list[Requirement]:
    """The ``Requires-Dist`` of an installed distribution (unparsable entries are skipped)."""
    name = "METADATA" if dist.dist_info.suffix == ".dist-info" else "PKG-INFO"
    path = dist.dist_info / name if dist.dist_info.is_dir() else dist.dist_info
    try:
        with open(path, "rb") as f:
            headers = BytesHeaderParser().parse(f)
    except OSError:
        return []
    found = []
    for raw in headers.get_all("Requires-Dist") or []:
        try:
            found.append(Requirement(str(raw)))
        except InvalidRequirement:
            continue
    return found


def unsatisfied(
    requirements: Iterable[tuple[str | None, Requirement]],
    installed: Mapping[str, object],
    markers: Mapping[str, str],
    *,
    transitive: bool = True,
) -> list[Problem]:
    """Problems with ``(required_by, requirement)`` pairs given the ``installed`` distributions."""
    problems: list[Problem] = []
    seen: set[tuple[str, str | None]] = set()
    stack: list[tuple[str | None, Requirement, str]] = [(who, req, "") for who, req in requirements]
    cache: dict[str, list[Requirement]] = {}
    while stack:
        who, req, extra = stack.pop()
        if req.marker is not None and not req.marker.evaluate({**markers, "extra": extra}):
            continue
        name = canonicalize_name(req.name)
        dist = installed.get(name)
        if dist is None:
            problems.append(Problem(who, req, None))
            continue
        if not _satisfies(dist, req):
            problems.append(Problem(who, req, str(dist.version)))
            continue
        if not transitive:
            continue
        for wanted in (None, *sorted(canonicalize_name(e) for e in req.extras)):
            if (name, wanted) in seen:
                continue
            seen.add((name, wanted))
            deps = cache.get(name)
            if deps is None:
                deps = cache[name] = requires_dist(dist)
            label = f"{dist.display_name if hasattr(dist, 'display_name') else name} {dist.version}"
            stack.extend((label, dep, wanted or "") for dep in deps)
    return problems


def _satisfies(dist, req: Requirement) -> bool:
    if req.url:
        direct = getattr(dist, "direct_url", None) or {}
        return direct.get("url", "").split("#")[0] == req.url.split("#")[0]
    return req.specifier.contains(dist.version, prereleases=True)


def check_environment(installed: Mapping[str, object], markers: Mapping[str, str]) -> list[Problem]:
    """Every installed distribution's direct requirements, checked (``pip check``)."""
    problems: list[Problem] = []
    for name in sorted(installed):
        dist = installed[name]
        label = f"{getattr(dist, 'display_name', name)} {dist.version}"
        problems += unsatisfied(((label, r) for r in requires_dist(dist)), installed, markers, transitive=False)
    return problems
