"""Isolated build environments: one venv per (build requirements, interpreter), made once, then reused.

A build environment is a plain virtual environment (``venv.create_venv``, no system
site-packages) under ``builds-v1/envs/<key>``, where the key hashes the normalized, sorted
build requirements and the identity of the base interpreter. It is filled by an injected
``BuildEnvInstaller`` (so build dependencies go through pyx's own resolver and cache, and
tests can fill it from a local index) and never changed afterwards: when a backend's
``get_requires_for_build_*`` asks for more than the environment holds, a second environment
keyed by the larger set is made, so an environment that other builds share never grows.

Creation is guarded by a file lock next to the directory, and an environment is complete
only once its marker file (``pyx-build-env.json``) exists; the marker is written last,
atomically. A reader that finds no marker waits for the lock, and a directory left without a
marker by a killed process is cleared and made again. The environment is made in place
rather than in a temporary directory renamed afterwards, because a venv is not relocatable:
the console scripts its packages install (``cmake``, ``ninja``, ``cython``, which backends
run from ``PATH``) carry the absolute path of its python in their shebang.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pyx_server import __version__
from pyx_server.engine.cache import Bucket, Cache, atomic_write_json, digest, read_json
from pyx_server.engine.envs.environment import PythonEnvironment
from pyx_server.engine.errors import BuildError, PyxError
from pyx_server.engine.envs.interpreter import Interpreter
from pyx_server.engine.progress import Notice, Reporter
from pyx_server.engine.build.source import SourceLabel

MARKER = "pyx-build-env.json"


class BuildEnvInstaller(Protocol):
    """Installs ``requirements`` (PEP 508 strings, dependencies included) into ``env``.

    pyx passes one that resolves with its own resolver and links from the global cache;
    it raises a ``PyxError`` when the requirements cannot be installed.
    """

    async def __call__(self, env: PythonEnvironment, requirements: Sequence[str]) -> None: ...


def normalized_requirements(requirements: Sequence[str]) -> tuple[str, ...]:
    """The requirements in one canonical spelling, sorted and without duplicates (the key's input)."""
    return tuple(sorted({str(Requirement(text)) for text in requirements}))


def interpreter_identity(interpreter: Interpreter) -> dict[str, object]:
    """What makes two interpreters interchangeable for a build: the base binary and its version."""
    base = interpreter.base_executable if interpreter.is_venv else Path(interpreter.sys_executable)
    return {
        "base": os.path.realpath(base) if base is not None else str(interpreter.executable),
        "version": list(interpreter.version),
        "implementation": interpreter.implementation,
        "free_threaded": interpreter.gil_disabled,
        "platform": interpreter.platform,
    }


def env_key(requirements: Sequence[str], interpreter: Interpreter) -> str:
    """The directory name of the build environment for these requirements and this interpreter."""
    payload = json.dumps([interpreter_identity(interpreter), list(normalized_requirements(requirements))],
                         sort_keys=True)
    return digest(payload, 24)


def envs_dir(cache: Cache) -> Path:
    return cache.bucket(Bucket.BUILDS) / "envs"


def _open(root: Path, interpreter: Interpreter, cache: Cache) -> PythonEnvironment:
    layout = interpreter.venv_layout
    scripts = root / layout.scripts if str(layout.scripts) not in ("", ".") else root / "bin"
    executable = scripts / "python"
    return PythonEnvironment(
        root,
        executable,
        cache=cache,
        interpreter=interpreter.for_venv(root, executable),
        site_packages=(root / layout.purelib, root / layout.platlib),
    )


def _complete(root: Path) -> bool:
    return isinstance(read_json(root / MARKER), dict)


async def build_environment(
    requirements: Sequence[str],
    *,
    interpreter: Interpreter,
    cache: Cache,
    installer: BuildEnvInstaller,
    label: SourceLabel,
    reporter: Reporter,
) -> PythonEnvironment:
    """The complete build environment holding ``requirements``: reused if made before, else made now."""
    from pyx_server.engine import locks
    from pyx_server.engine.envs.venv import create_venv

    wanted = normalized_requirements(requirements)
    root = envs_dir(cache) / env_key(wanted, interpreter)
    if _complete(root):
        return _open(root, interpreter, cache)
    async with locks.hold(f"{root}.lock", what=f"the build environment `{root.name}`", reporter=reporter):
        if _complete(root):  # made by another process while this one waited
            return _open(root, interpreter, cache)
        if os.path.lexists(root):  # debris of an interrupted creation
            shutil.rmtree(root, ignore_errors=True)
        shown = ", ".join(wanted) or "no requirements"
        reporter.report(Notice(f"Creating a build environment for `{label}` ({shown})"))
        try:
            env = await asyncio.to_thread(create_venv, root, interpreter, cache=cache, prompt="pyx-build")
            if wanted:
                await installer(env, list(wanted))
            atomic_write_json(
                root / MARKER,
                {"requirements": list(wanted), "interpreter": interpreter_identity(interpreter), "pyx": __version__},
            )
        except PyxError as exc:
            shutil.rmtree(root, ignore_errors=True)
            if isinstance(exc, BuildError):
                raise
            raise BuildError(
                f"Failed to build `{label}`: its build requirements could not be installed: {exc.message}",
                context={"package": str(label), "requirements": ", ".join(wanted), **exc.context},
                hints=[*exc.hints, "the build requirements come from the package's `[build-system] requires` "
                       "and its backend's `get_requires_for_build_wheel`"],
                detail=exc.detail,
            ) from exc
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return env


def satisfied_by(env: PythonEnvironment, requirements: Sequence[str]) -> bool:
    """Whether ``env`` already holds every requirement that applies to its interpreter."""
    installed = env.installed()
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is not None and not env.interpreter.evaluate_marker(requirement.marker):
            continue
        if requirement.extras or requirement.url:
            return False  # what an extra pulls in is not visible from here
        dist = installed.get(canonicalize_name(requirement.name))
        if dist is None or not requirement.specifier.contains(dist.version, prereleases=True):
            return False
    return True
