"""What a pip-style caller names (packages, requirement files, resolution flags), turned into engine inputs.

``pip install``, ``pip sync``, ``pip uninstall`` and ``pip compile`` take the same kinds of
input the way pip does: requirements on the command line, ``-r`` files that may bring
constraints and index options of their own, ``-c`` constraint files, ``--override`` files, and
resolution flags given as plain strings. Reading them is one job shared by those use cases,
so it lives here once; the fronts hand over what the user typed.

Paths are taken relative to ``Context.cwd``, never to the process's own directory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pyx_server.engine.errors import UsageError

if TYPE_CHECKING:
    from pyx_server.engine.api.context import Context, IndexRequest
    from pyx_server.engine.requirements import RequirementsFile

PathLike = str | os.PathLike[str]


def user_path(ctx: Context, value: PathLike) -> Path:
    """``value`` as the caller's directory means it, spelled as the caller wrote it when that
    means the same here: messages and ``# via -r FILE`` notes then name the file as typed."""
    path = Path(value)
    if str(value) == "-" or path.is_absolute():
        return path
    try:
        same = Path(os.getcwd()) == ctx.cwd
    except OSError:  # the process's directory is gone: spell it from the caller's
        same = False
    return path if same else ctx.path(path)


def read_requirements(
    ctx: Context,
    names: Sequence[str] = (),
    files: Sequence[PathLike] = (),
    constraints: Sequence[PathLike] = (),
    editables: Sequence[PathLike] = (),
) -> RequirementsFile:
    """Requirements named on the command line and read from ``-r`` files, with ``-c`` files'
    requirements (and their own constraints) as constraints; index options and
    ``--pre`` that the files give are merged as pip merges them."""
    from pyx_server.engine.requirements import (
        RequirementsFile,
        parse_editable,
        parse_requirement,
        parse_requirements_file,
    )

    collected = RequirementsFile()
    for name in names:
        collected.requirements.append(parse_requirement(name, base_dir=ctx.cwd))
    for file in files:
        collected.merge(parse_requirements_file(user_path(ctx, file), env=ctx.env))
    for file in constraints:
        nested = parse_requirements_file(user_path(ctx, file), env=ctx.env)
        collected.constraints += nested.requirements + nested.constraints
    collected.requirements += [parse_editable(str(path), source="-e", base_dir=ctx.cwd) for path in editables]
    return collected


def index_request(reqs: RequirementsFile) -> IndexRequest:
    """The index options a requirements file gave (``--index-url``, ``--find-links`` …), as
    ``Context.index_settings(extra=...)`` takes them (the caller's own options win)."""
    from pyx_server.engine.api.context import IndexRequest

    return IndexRequest(index_url=reqs.index_url, extra_index_urls=tuple(reqs.extra_index_urls),
                        find_links=tuple(reqs.find_links), no_index=reqs.no_index)


def find_environment(ctx: Context, *, fall_back_to_system: bool = False):
    """The environment the context names (``python`` / ``system`` / ``VIRTUAL_ENV`` in its
    ``env`` / a ``.venv`` above its ``cwd``). ``fall_back_to_system``: for a use case that
    changes nothing (compile), any Python will do when no virtual environment is found."""
    from pyx_server.engine.envs.environment import find_environment as find
    from pyx_server.engine.errors import EnvironmentNotFound

    try:
        return find(python=ctx.python, system=ctx.system, cwd=ctx.cwd, env=ctx.env, cache=ctx.cache)
    except EnvironmentNotFound:
        if not fall_back_to_system:
            raise
        return find(python=ctx.python, system=True, cwd=ctx.cwd, env=ctx.env, cache=ctx.cache)


def resolve_options(
    ctx: Context,
    reqs: RequirementsFile,
    *,
    pre: bool = False,
    prerelease: str | None = None,
    resolution: str | None = None,
    exclude_newer: str | None = None,
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    overrides: Sequence[PathLike] = (),
    no_build: bool = False,
    no_build_packages: Sequence[str] = (),
    no_binary: Sequence[str] = (),
):
    """``ResolveOptions`` from resolution flags as a person writes them (strings, names,
    ``:all:``) and the requirement files' constraints; a bad value is a ``UsageError``."""
    from packaging.utils import canonicalize_name

    from pyx_server.engine.index.resolve import ResolveOptions
    from pyx_server.engine.requirements import parse_requirements_file
    from pyx_server.engine.resolver import PrereleaseMode, ResolutionMode

    chosen_prerelease = _mode(PrereleaseMode, prerelease, "pre-release mode") if prerelease else (
        PrereleaseMode.ALLOW if (pre or reqs.prerelease) else PrereleaseMode.IF_NECESSARY_OR_EXPLICIT
    )
    chosen_resolution = _mode(ResolutionMode, resolution, "resolution mode") if resolution else ResolutionMode.HIGHEST
    override_specs = []
    for path in overrides:
        override_specs += parse_requirements_file(user_path(ctx, path), env=ctx.env).requirements

    def names(values: Sequence[str], *, all_flag: bool = False) -> bool | frozenset[str]:
        if all_flag or ":all:" in values:
            return True
        return frozenset(canonicalize_name(v) for value in values for v in value.split(",") if v and v != ":none:")

    return ResolveOptions(
        no_build=names(no_build_packages, all_flag=no_build),
        no_binary=names(no_binary),
        prerelease=chosen_prerelease,
        resolution=chosen_resolution,
        exclude_newer=parse_exclude_newer(exclude_newer),
        upgrade=upgrade,
        upgrade_packages=frozenset(canonicalize_name(n) for n in upgrade_packages),
        constraints=tuple(reqs.constraints),
        overrides=tuple(override_specs),
    )


def _mode(kind, value: str, what: str):
    try:
        return kind(value)
    except ValueError:
        accepted = ", ".join(f"`{m.value}`" for m in kind)
        raise UsageError(f"`{value}` is not a {what}", hints=[f"one of {accepted}"]) from None


def parse_exclude_newer(value: str | None):
    """``--exclude-newer``: an RFC 3339 time or a date (UTC when no zone is given), or None."""
    if not value:
        return None
    from datetime import datetime, timezone

    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"`{value}` is not a date", hints=["write `--exclude-newer 2024-03-01` or an RFC 3339 time"]
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
