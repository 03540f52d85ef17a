"""Housekeeping use cases: ``venv`` (a virtual environment, optionally seeded with pip) and the global cache's ``cache_dir``, ``cache_clean`` and ``cache_prune``.

Small, but fronts call them too (a panel's "create environment", "free disk space"), and
no front reaches past ``engine.api``. Cleaning and pruning go through ``engine.cache``,
which keeps them safe against installs running at the same time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyx_server.engine.api.pip import PackageChange

if TYPE_CHECKING:
    from pyx_server.engine.api.context import Context

__all__ = [
    "CacheCleanResult",
    "CacheDirResult",
    "CachePruneResult",
    "VenvResult",
    "cache_clean",
    "cache_dir",
    "cache_prune",
    "venv",
]


@dataclass(frozen=True)
class VenvResult:
    """A new virtual environment: where, on which Python, and what was seeded into it."""

    path: str
    #: ``3.12.4``
    python_version: str
    #: the base interpreter it was made from
    base_python: str
    #: the script that activates it in a POSIX shell
    activate: str
    seeded: tuple[PackageChange, ...] = ()
    #: seconds the creation took (seeding not included)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "python_version": self.python_version, "base_python": self.base_python,
                "activate": self.activate, "seeded": [c.to_dict() for c in self.seeded], "seconds": self.seconds}


@dataclass(frozen=True)
class CacheDirResult:
    path: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path}


@dataclass(frozen=True)
class CacheCleanResult:
    """What ``cache_clean`` removed: the whole cache (``files``), or per package."""

    path: str
    #: files removed when the whole cache was cleaned (None when packages were named)
    files: int | None = None
    #: ``(package as asked, entries removed)`` for each package named
    packages: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "files": self.files,
                "packages": [{"name": name, "entries": count} for name, count in self.packages]}


@dataclass(frozen=True)
class CachePruneResult:
    path: str
    #: cache entries removed (unreferenced wheels, leftovers of interrupted work)
    entries: tuple[str, ...] = ()
    #: managed environments removed (unused for long, or left half-built)
    environments: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "entries": list(self.entries), "environments": list(self.environments)}


async def venv(
    ctx: Context,
    path: str | os.PathLike[str] = ".venv",
    *,
    seed: bool = False,
    prompt: str | None = None,
    system_site_packages: bool = False,
    allow_existing: bool = False,
    relocatable: bool = False,
) -> VenvResult:
    """Create a virtual environment at ``path`` (relative to the context's directory) from
    the context's Python request (``ctx.python``; the first Python on its ``PATH`` when
    None); ``seed`` installs pip into it from the context's indexes."""
    from pyx_server.engine import progress
    from pyx_server.engine.envs.interpreter import find_python_on_path, query_interpreter
    from pyx_server.engine.envs.venv import create_venv
    from pyx_server.engine.loop import to_thread

    ctx = ctx.new_operation("venv")
    started = time.perf_counter()
    target = ctx.path(path)

    def create():
        base = query_interpreter(find_python_on_path(ctx.python, path_env=ctx.env.get("PATH")), ctx.cache)
        made = create_venv(target, base, prompt=prompt, system_site_packages=system_site_packages,
                           allow_existing=allow_existing, relocatable=relocatable, cache=ctx.cache)
        return base, made

    base, env = await to_thread(create)
    seconds = time.perf_counter() - started
    seeded: tuple[PackageChange, ...] = ()
    if seed:
        from pyx_server.engine.install.operations import seed as seed_pip

        result = await seed_pip(env, index=ctx.index_settings(), cache=ctx.cache,
                                reporter=progress.for_operation(ctx.reporter, ctx.operation))
        seeded = tuple(PackageChange(c.name, str(c.version)) for c in result.installed)
    return VenvResult(str(target), ".".join(map(str, base.version)), str(base.sys_executable),
                      str(target / "bin" / "activate"), seeded, seconds)


async def cache_dir(ctx: Context) -> CacheDirResult:
    """Where the global cache is (``PYX_CACHE_DIR``, else the user cache directory)."""
    return CacheDirResult(str(ctx.cache.root))


async def cache_clean(ctx: Context, packages: Sequence[str] = ()) -> CacheCleanResult:
    """Empty the whole cache, or remove every entry of the named packages. Waits for the
    operations using the cache (with a notice), or with ``ctx.wait`` False fails ``Busy``."""
    from pyx_server.engine.loop import to_thread

    cache = ctx.cache
    async with _cache_to_itself(ctx):
        if not packages:
            return CacheCleanResult(str(cache.root), files=await to_thread(cache.clean))
        removed = []
        for name in packages:
            removed.append((name, await to_thread(cache.clean, name)))
        return CacheCleanResult(str(cache.root), packages=tuple(removed))


async def cache_prune(ctx: Context) -> CachePruneResult:
    """Remove what nothing uses: unreferenced cache entries and long-unused managed
    environments (each left alone while an operation holds it)."""
    from pyx_server.engine.envs.store import gc
    from pyx_server.engine.loop import to_thread

    async with _cache_to_itself(ctx):
        entries = await to_thread(ctx.cache.prune)
    environments = await to_thread(gc, ctx.data_dir())
    return CachePruneResult(str(ctx.cache.root), tuple(map(str, entries)), tuple(map(str, environments)))


def _cache_to_itself(ctx: Context):
    """The cache's lock held exclusively, waited for here on the operation's thread (its notice
    reported from there); ``clean`` and ``prune`` on their worker thread then hold it already."""
    from pyx_server.engine import locks, progress

    reporter = progress.for_operation(ctx.reporter, ctx.new_operation("cache").operation)
    return locks.hold(ctx.cache.lock_file, what=f"the cache `{ctx.cache.root}`", reporter=reporter, wait=ctx.wait)
