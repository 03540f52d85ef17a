"""What an environment holds, as pip reports it: ``pip_list``, ``pip_freeze``, ``pip_show``, ``pip_check``.

Read-only use cases over the environment the context names. They read installed
distributions' metadata (``*.dist-info``), which blocks, so they run it off a running loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyx_server.engine.api.inputs import find_environment
from pyx_server.engine.errors import PyxWarning

if TYPE_CHECKING:
    from pyx_server.engine.api.context import Context

__all__ = [
    "BrokenRequirement",
    "InstalledPackage",
    "PackageDetails",
    "PipCheckResult",
    "PipFreezeResult",
    "PipListResult",
    "PipShowResult",
    "pip_check",
    "pip_freeze",
    "pip_list",
    "pip_show",
]


@dataclass(frozen=True)
class InstalledPackage:
    """One installed distribution, as ``pip list`` shows it."""

    name: str
    version: str
    #: the URL it was installed from (``direct_url.json``), None for an index install
    url: str | None = None
    editable: bool = False

    @property
    def requirement(self) -> str:
        """The ``pip freeze`` line: ``name==version``, or ``name @ URL`` for a direct
        (non-directory) install."""
        return f"{self.name} @ {self.url}" if self.url else f"{self.name}=={self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "url": self.url, "editable": self.editable,
                "requirement": self.requirement}


@dataclass(frozen=True)
class PipListResult:
    environment: str
    #: sorted by name
    packages: tuple[InstalledPackage, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "packages": [p.to_dict() for p in self.packages]}


@dataclass(frozen=True)
class PipFreezeResult:
    environment: str
    #: one requirement per installed distribution, sorted by name
    requirements: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "".join(f"{line}\n" for line in self.requirements)

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "requirements": list(self.requirements)}


@dataclass(frozen=True)
class PackageDetails:
    """``pip show`` for one distribution: its core metadata, where it is, and the
    distributions it requires and that require it (extras left out, as pip does)."""

    name: str
    version: str
    summary: str = ""
    home_page: str = ""
    author: str = ""
    license: str = ""
    #: the site-packages directory holding it
    location: str = ""
    installer: str = ""
    requires: tuple[str, ...] = ()
    required_by: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "summary": self.summary, "home_page": self.home_page,
                "author": self.author, "license": self.license, "location": self.location,
                "installer": self.installer, "requires": list(self.requires), "required_by": list(self.required_by)}


@dataclass(frozen=True)
class PipShowResult:
    environment: str
    #: in the order asked for
    packages: tuple[PackageDetails, ...] = ()
    #: names asked for that are not installed (each also in ``warnings``)
    missing: tuple[str, ...] = ()
    warnings: tuple[PyxWarning, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "packages": [p.to_dict() for p in self.packages],
                "missing": list(self.missing), "warnings": [w.to_dict() for w in self.warnings]}


@dataclass(frozen=True)
class BrokenRequirement:
    """An installed distribution's requirement that what is installed does not meet."""

    #: the distribution that requires it, with its version (``app 1.0``); None for a requirement
    #: checked on its own
    required_by: str | None
    requirement: str
    #: the installed version, None when it is missing
    found: str | None
    #: one line for people (``pip check``'s wording)
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"required_by": self.required_by, "requirement": self.requirement, "found": self.found,
                "message": self.message}


@dataclass(frozen=True)
class PipCheckResult:
    environment: str
    #: how many distributions were checked
    checked: int = 0
    problems: tuple[BrokenRequirement, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "checked": self.checked, "ok": self.ok,
                "problems": [p.to_dict() for p in self.problems]}


async def pip_list(ctx: Context) -> PipListResult:
    """The distributions installed in the context's environment, sorted by name."""
    from pyx_server.engine.loop import to_thread

    return await to_thread(_list, ctx)


def _list(ctx) -> PipListResult:
    env = find_environment(ctx)
    packages = []
    for dist in sorted(env.installed().values(), key=lambda d: d.name):
        direct = dist.direct_url or {}
        url = direct.get("url") if "dir_info" not in direct else None
        packages.append(InstalledPackage(dist.display_name, str(dist.version), url or None, dist.editable))
    return PipListResult(str(env.root), tuple(packages))


async def pip_freeze(ctx: Context) -> PipFreezeResult:
    """The environment as requirements (``name==version``, or ``name @ URL``)."""
    listed = await pip_list(ctx)
    return PipFreezeResult(listed.environment, tuple(p.requirement for p in listed.packages))


async def pip_show(ctx: Context, packages: Sequence[str]) -> PipShowResult:
    """Core metadata, location, requirements and reverse requirements of installed
    distributions; a name that is not installed is a warning."""
    from pyx_server.engine.loop import to_thread

    return await to_thread(_show, ctx, list(packages))


def _show(ctx, asked: list[str]) -> PipShowResult:
    from email.parser import BytesHeaderParser

    from packaging.utils import canonicalize_name

    env = find_environment(ctx)
    installed = env.installed()
    required_by: dict[str, list[str]] = {}
    metas = {}
    for name, dist in installed.items():
        meta_path = dist.dist_info / ("METADATA" if dist.dist_info.suffix == ".dist-info" else "PKG-INFO")
        try:
            meta = BytesHeaderParser().parsebytes(meta_path.read_bytes())
        except OSError:
            continue
        metas[name] = meta
        for required in _unconditional_requirements(meta):
            required_by.setdefault(canonicalize_name(required), []).append(dist.display_name)
    found, missing = [], []
    for raw in asked:
        name = canonicalize_name(raw)
        dist = installed.get(name)
        if dist is None or name not in metas:
            missing.append(raw)
            continue
        meta = metas[name]
        found.append(PackageDetails(
            name=dist.display_name,
            version=str(dist.version),
            summary=meta.get("Summary", ""),
            home_page=meta.get("Home-page", ""),
            author=meta.get("Author", "") or meta.get("Author-email", ""),
            license=meta.get("License-Expression", "") or meta.get("License", ""),
            location=str(dist.dist_info.parent),
            installer=dist.installer or "",
            requires=tuple(sorted(set(_unconditional_requirements(meta)))),
            required_by=tuple(sorted(required_by.get(name, []))),
        ))
    return PipShowResult(
        str(env.root), tuple(found), tuple(missing),
        tuple(PyxWarning("not-installed", f"package `{raw}` is not installed") for raw in missing),
    )


def _unconditional_requirements(meta) -> list[str]:
    """The names in ``Requires-Dist`` that no extra conditions (unparseable lines are skipped)."""
    from packaging.requirements import InvalidRequirement, Requirement

    names = []
    for raw in meta.get_all("Requires-Dist") or []:
        try:
            req = Requirement(raw)
        except InvalidRequirement:
            continue
        if req.marker is None or "extra" not in str(req.marker):
            names.append(req.name)
    return names


async def pip_check(ctx: Context) -> PipCheckResult:
    """Whether every installed distribution's requirements are met by what is installed."""
    from pyx_server.engine.loop import to_thread

    return await to_thread(_check, ctx)


def _check(ctx) -> PipCheckResult:
    from pyx_server.engine.install.check import check_environment

    env = find_environment(ctx)
    installed = env.installed()
    problems = check_environment(installed, env.interpreter.markers)
    return PipCheckResult(
        str(env.root),
        len(installed),
        tuple(BrokenRequirement(p.required_by, str(p.requirement), p.found, str(p)) for p in problems),
    )
