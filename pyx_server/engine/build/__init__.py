"""PEP 517 / 660 builds of sdists and source trees, in isolated environments pyx creates.

Public API (async; ``source`` is an sdist file — ``.tar.gz``, or a legacy ``.zip`` — or a
source-tree directory)::

    @dataclass(frozen=True)
    class BuiltWheel:
        path: Path                  # the wheel, inside the cache (see ``store``)
        sdist_sha256: str | None    # None for a source tree
        metadata: Metadata

    class BuildEnvInstaller(Protocol):
        async def __call__(self, env: PythonEnvironment, requirements: Sequence[str]) -> None: ...

    await sdist_metadata(source, *, interpreter, cache, installer, reporter=None) -> Metadata
    await build_wheel(source, *, interpreter, cache, installer, reporter=None, editable=False) -> BuiltWheel

``sdist_metadata`` is what resolution asks: the core metadata of the package, found the
cheapest way that is reliable, in this order (for an sdist; a tree starts at step 4):

1. a wheel built earlier from the same sdist (by sha256) that suits ``interpreter``;
2. metadata prepared earlier from the same sdist for the same interpreter;
3. the sdist's ``PKG-INFO`` when PEP 643 makes it reliable (Metadata-Version ≥ 2.2, none of
   Version / Requires-Dist / Requires-Python / Provides-Extra dynamic) — no process at all;
4. the backend's ``prepare_metadata_for_build_wheel`` in a build environment;
5. a full ``build_wheel`` when the backend has no such hook (the wheel is kept, so a later
   ``build_wheel`` of the same sdist costs nothing).

``build_wheel`` builds (or, for an sdist built before for a compatible interpreter, finds)
the wheel; ``editable=True`` asks a source tree's backend for a PEP 660 editable wheel.
Each build: the archive is checked and unpacked into a scratch directory (``archive``);
``[build-system]`` is read with the PEP 517/518 defaults (``source``); the environment for
its ``requires`` is made once and reused (``isolation``), filled by ``installer``; the
backend's ``get_requires_for_build_*`` answer is honoured (a larger environment when it asks
for more); the hooks run in that environment's python with a clean process environment
(``hooks``); the wheel is checked (a valid name, tags this interpreter accepts, readable
metadata) and stored (``store``). Builds of one sdist are serialized across processes by a
file lock, so two resolvers asking at once build it once.

Progress: ``PhaseStarted("build")`` / ``PhaseFinished("build", …)`` around backend work, and
``Notice`` events saying what is being built or prepared. Failures: ``BuildError`` (code
``build-failed``) naming the package in backticks with the backend's output tail as
``detail``; ``InvalidSdist`` (``invalid-sdist``) for an archive or ``pyproject.toml`` pyx
refuses; ``UsageError`` for an editable build of an sdist.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.metadata import Metadata
from packaging.requirements import InvalidRequirement, Requirement

from pyx_server.engine.build.archive import extract_sdist, inspect_sdist, is_sdist_name, read_member
from pyx_server.engine.build.hooks import HookCaller, HookMissing
from pyx_server.engine.build.isolation import (
    BuildEnvInstaller,
    build_environment,
    normalized_requirements,
    satisfied_by,
)
from pyx_server.engine.build.source import (
    BuildSystem,
    SourceLabel,
    label_for_sdist,
    label_for_tree,
    parse_core_metadata,
    read_source_tree,
    static_metadata,
)
from pyx_server.engine.build.store import (
    best_compatible,
    cached_metadata,
    read_wheel_metadata,
    store_metadata,
    store_wheel,
    trees_dir,
    wheels_dir,
)
from pyx_server.engine import locks
from pyx_server.engine.cache import Cache
from pyx_server.engine.errors import BuildError, InvalidSdist, InvalidWheel, PyxError, UsageError
from pyx_server.engine.hashing import sha256_file
from pyx_server.engine.envs.interpreter import Interpreter
from pyx_server.engine.loop import running_loop
from pyx_server.engine.progress import Notice, PhaseFinished, PhaseStarted, Reporter
from pyx_server.engine.install.wheel import parse_wheel_name

__all__ = ["BuildEnvInstaller", "BuiltWheel", "build_wheel", "sdist_metadata"]


@dataclass(frozen=True)
class BuiltWheel:
    """A wheel built from an sdist or a source tree, and its core metadata."""

    path: Path
    #: the sha256 of the sdist it was built from (its cache key); None for a source tree
    sdist_sha256: str | None
    metadata: Metadata


async def sdist_metadata(
    source: Path,
    *,
    interpreter: Interpreter,
    cache: Cache,
    installer: BuildEnvInstaller,
    reporter: Reporter | None = None,
) -> Metadata:
    """The core metadata of an sdist or source tree, by the cheapest reliable way (module docstring)."""
    await running_loop()  # hashing, unpacking and hooks run off the loop, in threads and processes
    reporter = reporter or Reporter()
    source = Path(source)
    if _is_tree(source):
        tree = source.absolute()
        builder = _Builder(tree, label_for_tree(tree), interpreter, cache, installer, reporter)
        return await builder.metadata(sdist_sha256=None)
    _check_sdist_file(source)
    sha256 = await asyncio.to_thread(sha256_file, source)
    hit = _cached(cache, sha256, interpreter)
    if hit is not None:
        return hit.metadata
    data = cached_metadata(cache, sha256, interpreter)
    if data is not None:
        return parse_core_metadata(data, source.name)
    contents = await asyncio.to_thread(inspect_sdist, source)
    pkg_info = await asyncio.to_thread(read_member, source, contents, "PKG-INFO")
    if pkg_info is not None:
        static = static_metadata(pkg_info, f"{source.name}/PKG-INFO")
        if static is not None:
            return static
    with cache.temp_dir("sdist-") as work:
        tree = await asyncio.to_thread(extract_sdist, source, work / "src")
        builder = _Builder(tree, label_for_sdist(source), interpreter, cache, installer, reporter)
        return await builder.metadata(sdist_sha256=sha256)


async def build_wheel(
    source: Path,
    *,
    interpreter: Interpreter,
    cache: Cache,
    installer: BuildEnvInstaller,
    reporter: Reporter | None = None,
    editable: bool = False,
) -> BuiltWheel:
    """A wheel of an sdist (cached by its sha256) or of a source tree (``editable``: PEP 660)."""
    await running_loop()  # hashing, unpacking and hooks run off the loop, in threads and processes
    reporter = reporter or Reporter()
    source = Path(source)
    if _is_tree(source):
        tree = source.absolute()
        builder = _Builder(tree, label_for_tree(tree), interpreter, cache, installer, reporter)
        return await builder.build_tree(editable)
    if editable:
        raise UsageError(
            f"an editable build needs a source directory, not the sdist `{source.name}`",
            context={"source": source},
            hints=["unpack the sdist and pass its directory, or install it without `-e`"],
        )
    _check_sdist_file(source)
    sha256 = await asyncio.to_thread(sha256_file, source)
    hit = _cached(cache, sha256, interpreter)
    if hit is not None:
        return hit
    directory = wheels_dir(cache, sha256)
    async with locks.hold(f"{directory}.lock", what=f"the build of `{source.name}`", reporter=reporter):
        hit = _cached(cache, sha256, interpreter)  # built by another process meanwhile
        if hit is not None:
            return hit
        with cache.temp_dir("sdist-") as work:
            tree = await asyncio.to_thread(extract_sdist, source, work / "src")
            builder = _Builder(tree, label_for_sdist(source), interpreter, cache, installer, reporter)
            return await builder.build_sdist_wheel(sha256, work / "out")


# -- helpers ---------------------------------------------------------------------------------------


def _is_tree(source: Path) -> bool:
    return source.is_dir()


def _check_sdist_file(source: Path) -> None:
    if not source.is_file():
        raise InvalidSdist(
            f"no source distribution or source directory at `{source}`",
            context={"path": source},
        )
    if not is_sdist_name(source.name):
        raise InvalidSdist(
            f"`{source.name}` is not a source distribution (expected a `.tar.gz` or `.zip` archive)",
            context={"path": source},
        )


def _cached(cache: Cache, sha256: str, interpreter: Interpreter) -> BuiltWheel | None:
    """The wheel built earlier from this sdist that suits ``interpreter``, if any."""
    path = best_compatible(wheels_dir(cache, sha256), interpreter)
    if path is None:
        return None
    try:
        metadata = parse_core_metadata(read_wheel_metadata(path), path.name)
    except PyxError:  # a damaged entry is a miss: build again
        return None
    return BuiltWheel(path, sha256, metadata)


class _Builder:
    """One unpacked tree on its way to metadata or a wheel: its environment and its backend."""

    def __init__(
        self,
        tree: Path,
        label: SourceLabel,
        interpreter: Interpreter,
        cache: Cache,
        installer: BuildEnvInstaller,
        reporter: Reporter,
    ) -> None:
        self.tree = tree
        self.label = label
        self.interpreter = interpreter
        self.cache = cache
        self.installer = installer
        self.reporter = reporter
        self.hooks: HookCaller | None = None
        self.build_system: BuildSystem | None = None

    # -- the steps ---------------------------------------------------------------------------------

    async def _prepare_backend(self, editable: bool) -> HookCaller:
        """Read ``[build-system]``, get its environment, and honour ``get_requires_for_build_*``."""
        if self.hooks is not None:
            return self.hooks
        build_system = self.build_system
        assert build_system is not None, "read in _phase"
        env = await self._environment(build_system.requires)
        hooks = HookCaller(self.tree, build_system, env, self.label)
        hook = "get_requires_for_build_editable" if editable else "get_requires_for_build_wheel"
        extra = await hooks.call(hook, None)
        extra = self._check_requirements(extra, hook)
        if extra and not satisfied_by(env, extra):
            hooks.use_env(await self._environment([*build_system.requires, *extra]))
        self.hooks = hooks
        return hooks

    async def _environment(self, requirements: Sequence[str]):
        return await build_environment(
            requirements,
            interpreter=self.interpreter,
            cache=self.cache,
            installer=self.installer,
            label=self.label,
            reporter=self.reporter,
        )

    def _check_requirements(self, answer: object, hook: str) -> list[str]:
        if not isinstance(answer, list) or not all(isinstance(r, str) for r in answer):
            raise BuildError(
                f"Failed to build `{self.label}`: `{hook}` answered `{answer!r}`, not a list of requirements",
                context={"package": str(self.label), "hook": hook},
            )
        try:
            normalized_requirements(answer)
        except InvalidRequirement as exc:
            raise BuildError(
                f"Failed to build `{self.label}`: `{hook}` asked for an invalid requirement ({exc})",
                context={"package": str(self.label), "hook": hook},
            ) from exc
        return [str(Requirement(r)) for r in answer]

    async def metadata(self, sdist_sha256: str | None) -> Metadata:
        """Metadata from ``prepare_metadata_for_build_wheel``, else from a full build (kept)."""
        async with self._phase("Preparing metadata of `{label}`"):
            hooks = await self._prepare_backend(editable=False)
            data = await self._prepare_metadata(hooks)
            if data is not None:
                metadata = parse_core_metadata(data, f"{self.label} (prepared metadata)")
                if sdist_sha256 is not None:
                    store_metadata(self.cache, sdist_sha256, self.interpreter, data)
                return metadata
            # no metadata hook (hatchling, flit): build the wheel, keep it, read it
            self.reporter.report(Notice(
                f"`{hooks.build_system.backend}` cannot prepare metadata alone; building `{self.label}` to read it"
            ))
            if sdist_sha256 is not None:
                with self.cache.temp_dir("build-") as out:
                    path = store_wheel(wheels_dir(self.cache, sdist_sha256), await self._build(out, editable=False))
            else:
                path = await self._build_into_tree_dir(editable=False)
            return self._built(path, sdist_sha256).metadata

    async def _prepare_metadata(self, hooks: HookCaller) -> bytes | None:
        """``prepare_metadata_for_build_wheel``'s METADATA, or None when the backend lacks the hook."""
        with self.cache.temp_dir("metadata-") as out:
            try:
                name = await hooks.call("prepare_metadata_for_build_wheel", str(out), None, _allow_fallback=False)
            except HookMissing:
                return None
            try:
                return (out / str(name) / "METADATA").read_bytes()
            except OSError as exc:
                raise self._bad_wheel(
                    f"`prepare_metadata_for_build_wheel` answered `{name}` but wrote no `{name}/METADATA`"
                ) from exc

    async def build_sdist_wheel(self, sdist_sha256: str, out: Path) -> BuiltWheel:
        """Build the unpacked sdist and file the wheel under the sdist's hash."""
        async with self._phase("Building `{label}`"):
            path = store_wheel(wheels_dir(self.cache, sdist_sha256), await self._build(out, editable=False))
            return self._built(path, sdist_sha256)

    async def build_tree(self, editable: bool) -> BuiltWheel:
        """Build a source tree into ``trees/<key>/``, replacing its previous build there."""
        async with self._phase("Building `{label}`" + (" (editable)" if editable else "")):
            return self._built(await self._build_into_tree_dir(editable), None)

    async def _build_into_tree_dir(self, editable: bool) -> Path:
        directory = trees_dir(self.cache, self.tree) / ("editable" if editable else "wheel")
        async with locks.hold(f"{directory}.lock", what=f"the build of `{self.label}`", reporter=self.reporter):
            with self.cache.temp_dir("build-") as out:
                built = await self._build(out, editable)
                shutil.rmtree(directory, ignore_errors=True)
                return store_wheel(directory, built)

    async def _build(self, out: Path, editable: bool) -> Path:
        """Run ``build_wheel`` (or ``build_editable``) into ``out``; check and return the wheel."""
        hooks = await self._prepare_backend(editable)
        hook = "build_editable" if editable else "build_wheel"
        out.mkdir(parents=True, exist_ok=True)
        try:
            filename = await hooks.call(hook, str(out), None)
        except HookMissing:
            raise BuildError(
                f"Failed to build `{self.label}` in editable mode: its build backend "
                f"`{hooks.build_system.backend}` does not support editable installs (PEP 660)",
                context={"package": str(self.label), "backend": hooks.build_system.backend},
                hints=["upgrade the backend in `[build-system] requires` (setuptools supports "
                       "PEP 660 from version 64), or install without `-e`"],
            ) from None
        path = out / str(filename)
        try:
            wheel = parse_wheel_name(str(filename))
        except InvalidWheel as exc:
            raise self._bad_wheel(f"`{hook}` returned `{filename}`, which is not a wheel file name") from exc
        if not path.is_file():
            raise self._bad_wheel(f"`{hook}` returned `{filename}`, which it did not write")
        if self.interpreter.supports(wheel.tags) is None:
            raise self._bad_wheel(
                f"the backend built `{filename}`, which Python "
                f"{'.'.join(map(str, self.interpreter.version))} here cannot install"
            )
        return path

    def _bad_wheel(self, why: str) -> BuildError:
        hooks = self.hooks
        return BuildError(
            f"Failed to build `{self.label}`: {why}",
            context={"package": str(self.label), "backend": hooks.build_system.backend if hooks else ""},
            detail=(hooks.tail() if hooks else None) or None,
        )

    def _built(self, path: Path, sdist_sha256: str | None) -> BuiltWheel:
        try:
            metadata = parse_core_metadata(read_wheel_metadata(path), path.name)
        except InvalidWheel as exc:
            raise self._bad_wheel(exc.message) from exc
        return BuiltWheel(path, sdist_sha256, metadata)

    # -- progress ----------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _phase(self, what: str) -> AsyncIterator[None]:
        """``PhaseStarted``/``PhaseFinished`` around backend work (count 0 when it failed)."""
        build_system, self.label = await asyncio.to_thread(read_source_tree, self.tree, self.label)
        self.build_system = build_system
        self.reporter.report(PhaseStarted("build", 1))
        self.reporter.report(Notice(what.format(label=self.label)))
        started = time.perf_counter()
        done = 0
        try:
            yield
            done = 1
        finally:
            self.reporter.report(PhaseFinished("build", done, time.perf_counter() - started))
