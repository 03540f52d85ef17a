"""``pip_compile``: requirement files resolved into pins, and the pure formatter of those pins as a requirements file.

The resolution is data (``PipCompileResult``: each pin with who asked for it and its
files' hashes); ``format_requirements`` writes it in uv's layout (header, pins, ``# via``
notes, hashes). It is a pure function in the engine so that the CLI and a panel (a
"download requirements.txt" button) write the same text.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyx_server.engine.api.inputs import PathLike, find_environment, index_request, read_requirements, resolve_options
from pyx_server.engine.errors import PyxWarning, UsageError

if TYPE_CHECKING:
    from pyx_server.engine.api.context import Context

__all__ = ["PinnedPackage", "PipCompileResult", "format_requirements", "pip_compile"]


@dataclass(frozen=True)
class PinnedPackage:
    """One pin of a compiled resolution."""

    name: str
    version: str
    #: the requirement line: ``name[extras]==version``, or ``name @ URL`` for a direct file
    requirement: str
    #: the file's URL when the requirement named one
    url: str | None = None
    #: the packages that require it; ``None`` stands for the user's own requirements
    via: tuple[str | None, ...] = ()
    #: the requirements file the user's requirement on it came from (``-r`` note), if any
    source_file: str | None = None
    #: ``sha256:<hex>`` of every file of this version on the index, sorted
    hashes: tuple[str, ...] = ()

    @property
    def direct(self) -> bool:
        return None in self.via

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "requirement": self.requirement, "url": self.url,
                "via": [v or "-r" for v in self.via], "source_file": self.source_file, "hashes": list(self.hashes)}


@dataclass(frozen=True)
class PipCompileResult:
    #: sorted by name
    packages: tuple[PinnedPackage, ...] = ()
    warnings: tuple[PyxWarning, ...] = ()
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"packages": [p.to_dict() for p in self.packages], "warnings": [w.to_dict() for w in self.warnings],
                "seconds": self.seconds}


async def pip_compile(
    ctx: Context,
    sources: Sequence[PathLike],
    *,
    constraints: Sequence[PathLike] = (),
    overrides: Sequence[PathLike] = (),
    python_version: str | None = None,
    pre: bool = False,
    prerelease: str | None = None,
    resolution: str | None = None,
    exclude_newer: str | None = None,
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    no_build: bool = False,
    no_build_packages: Sequence[str] = (),
    no_binary: Sequence[str] = (),
) -> PipCompileResult:
    """Resolve requirement files (``-`` reads standard input) into pins for the context's
    interpreter, or for ``python_version`` (markers, Requires-Python, wheel tags). Nothing
    is installed; any Python serves when no virtual environment is found."""
    from pyx_server.engine import progress
    from pyx_server.engine.index.resolve import resolve_requirements
    from pyx_server.engine.install.operations import build_support
    from pyx_server.engine.loop import to_thread

    started = time.perf_counter()
    ctx = ctx.new_operation("pip-compile")
    reporter = progress.for_operation(ctx.reporter, ctx.operation)
    reqs = read_requirements(ctx, (), sources, constraints)
    env = await to_thread(lambda: find_environment(ctx, fall_back_to_system=True))
    settings = ctx.index_settings(extra=index_request(reqs))
    options = resolve_options(
        ctx, reqs, pre=pre, prerelease=prerelease, resolution=resolution, exclude_newer=exclude_newer,
        upgrade=upgrade, upgrade_packages=upgrade_packages, overrides=overrides, no_build=no_build,
        no_build_packages=no_build_packages, no_binary=no_binary,
    )
    target = _python_version(python_version)
    build = build_support(settings, ctx.cache, env.interpreter, reporter)
    result = await resolve_requirements(
        reqs.requirements, env.interpreter, index=settings, cache=ctx.cache, options=options,
        reporter=reporter, python_version=target, sdist_metadata=build.metadata,
    )
    sources_of: dict[str, str] = {}
    for spec in reqs.requirements:
        sources_of.setdefault(spec.name, spec.source.rsplit(":", 1)[0])
    packages = []
    for name, package in result.resolution.items():
        files = result.all_files.get(name, ())
        packages.append(PinnedPackage(
            name=package.name,
            version=str(package.version),
            requirement=str(package),
            url=package.candidate.url,
            via=tuple(v.name for v in package.via),
            source_file=sources_of.get(name) if package.direct else None,
            hashes=tuple(sorted({f"sha256:{f.hashes['sha256']}" for f in files if "sha256" in f.hashes})),
        ))
    warnings = tuple(PyxWarning("resolution-warning", str(w)) for w in result.resolution.warnings)
    return PipCompileResult(tuple(packages), warnings, time.perf_counter() - started)


def _python_version(value: str | None):
    if not value:
        return None
    from packaging.version import InvalidVersion, Version

    try:
        return Version(value)
    except InvalidVersion:
        raise UsageError(f"`{value}` is not a Python version", hints=["write `--python-version 3.12`"]) from None


def format_requirements(
    result: PipCompileResult,
    *,
    command: Sequence[str] | None = None,
    annotate: bool = True,
    generate_hashes: bool = False,
) -> str:
    """The pins as a requirements file, in uv's layout: a header naming ``command`` (the
    arguments after ``pyx``, URLs shown without credentials; no header when None), each pin,
    its ``# via`` note (``annotate``) and its ``--hash`` options (``generate_hashes``)."""
    lines = []
    if command is not None:
        from pyx_server.engine.config import redact_url

        shown = " ".join(redact_url(a) if "://" in a else a for a in command)
        lines += ["# This file was autogenerated by pyx via the following command:", f"#    pyx {shown}"]
    for package in result.packages:
        line = package.requirement
        digests = sorted({h.removeprefix("sha256:") for h in package.hashes})
        if generate_hashes and digests:
            line += " \\\n" + " \\\n".join(f"    --hash=sha256:{h}" for h in digests)
        lines.append(line)
        if annotate:
            via = {v for v in package.via if v}
            if package.source_file is not None:
                via.add(f"-r {package.source_file}")
            via = sorted(via)
            if len(via) == 1:
                lines.append(f"    # via {via[0]}")
            elif via:
                lines.append("    # via")
                lines += [f"    #   {v}" for v in via]
    return "\n".join(lines) + "\n"
