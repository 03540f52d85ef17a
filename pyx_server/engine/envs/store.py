"""The environment store: one environment per distinct declaration, shared, built by linking.

Scripts and notebooks that declare their dependencies (PEP 723) get an environment under
the pyx data directory (``PYX_DATA_DIR``, else the platform's user data directory),
``envs/<key>/``, where the key hashes what decides the environment's content: the declared
requirements (normalized, sorted), ``requires-python``, the interpreter, and any index or
variant choices. Identical declarations therefore share one environment, and a changed
declaration gets a new one (the old one is left for ``gc``).

An environment is complete once its ``pyx-env.json`` marker is written, last; a process that
dies half-way leaves no marker, and the next use clears and rebuilds it. Creation is guarded
by a lock (``engine.locks``: processes, threads, coroutines), so two notebooks opening at once
build it once, and ``gc`` leaves an environment being built alone. Using an environment touches
the marker, which is what ``gc`` reads to drop environments unused for a while.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from pyx_server.engine.cache import Cache, atomic_write_json, read_json
from pyx_server.engine.config import IndexSettings
from pyx_server.engine.progress import Reporter
from pyx_server.engine.requirements import RequirementSpec

MARKER = "pyx-env.json"
#: environments unused for longer than this are removed by ``gc``
DEFAULT_MAX_AGE = 30 * 24 * 3600


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """``PYX_DATA_DIR`` if set, else the platform's user data directory for pyx."""
    env = os.environ if env is None else env
    if env.get("PYX_DATA_DIR"):
        return Path(env["PYX_DATA_DIR"]).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_data_dir("pyx", appauthor=False))


def environment_key(
    requirements: Sequence[RequirementSpec | str],
    interpreter,
    *,
    requires_python: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """A stable name for the environment these inputs describe (order and spelling do not matter)."""
    reqs = sorted(_normal(r) for r in requirements)
    payload = {
        "requirements": reqs,
        "requires-python": requires_python or "",
        "python": [str(Path(interpreter.base_executable or interpreter.sys_executable)), list(interpreter.version)],
        "extra": extra or {},
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return digest[:20]


def _normal(requirement: RequirementSpec | str) -> str:
    from packaging.requirements import Requirement

    req = requirement.requirement if isinstance(requirement, RequirementSpec) else Requirement(str(requirement))
    req = Requirement(str(req))
    req.name = canonicalize_name(req.name)
    return str(req)


def environment_root(
    requirements: Sequence[RequirementSpec | str],
    interpreter,
    *,
    requires_python: str | None = None,
    extra_key: Mapping[str, Any] | None = None,
    locked: bool = False,
    store: Path | None = None,
) -> Path:
    """Where the environment for these inputs lives (whether or not it exists yet)."""
    key = environment_key(requirements, interpreter, requires_python=requires_python,
                          extra={**(extra_key or {}), "locked": locked})
    return (store or data_dir()) / "envs" / key


@dataclass
class StoredEnvironment:
    path: Path
    environment: Any  # PythonEnvironment
    #: True when this call built (or rebuilt) it
    created: bool
    #: what the install did (None when the environment was already complete)
    result: Any = None


async def ensure_environment(
    requirements: Sequence[RequirementSpec],
    base_interpreter,
    *,
    index: IndexSettings,
    cache: Cache,
    requires_python: str | None = None,
    pins: Sequence[RequirementSpec] | None = None,
    extra_key: Mapping[str, Any] | None = None,
    store: Path | None = None,
    reporter: Reporter | None = None,
    wait: bool = True,
) -> StoredEnvironment:
    """The environment for ``requirements`` on ``base_interpreter``: found, or made and filled.

    ``pins`` (from a lock) are installed exactly instead of resolving ``requirements``. A
    complete environment is returned without resolving or touching the network: its key
    already says what it holds.
    """
    from pyx_server.engine.envs.environment import open_venv
    from pyx_server.engine.envs.venv import create_venv

    root = environment_root(
        list(pins) if pins is not None else requirements,
        base_interpreter,
        requires_python=requires_python,
        extra_key=extra_key,
        locked=pins is not None,
        store=store,
    )
    key = root.name
    marker = root / MARKER
    if marker.is_file():
        _touch(marker)
        return StoredEnvironment(root, open_venv(root, cache=cache), created=False)
    from pyx_server.engine import locks
    from pyx_server.engine.loop import to_thread

    lock_path = _lock_file(store, key)
    async with cache.in_use(reporter=reporter, wait=wait), \
            locks.hold(lock_path, what=f"the environment `{root}`", reporter=reporter, wait=wait):
        if marker.is_file():
            _touch(marker)
            return StoredEnvironment(root, open_venv(root, cache=cache), created=False)
        if root.exists():
            await to_thread(shutil.rmtree, root)  # a build that died half-way: start again
        environment = await to_thread(create_venv, root, base_interpreter, cache=cache)
        result = await _fill(environment, requirements, pins, index=index, cache=cache, reporter=reporter, wait=wait)
        atomic_write_json(
            marker,
            {
                "requirements": [str(r) for r in requirements],
                "requires-python": requires_python,
                "locked": pins is not None,
                "created": time.time(),
                "python": str(base_interpreter.sys_executable),
            },
        )
    return StoredEnvironment(root, environment, created=True, result=result)


def _lock_file(store: Path | None, key: str) -> Path:
    """The lock guarding the creation of environment ``key`` (beside it: ``gc`` reads it too)."""
    return (store or data_dir()) / "envs" / f".{key}.lock"


async def _fill(environment, requirements, pins, *, index, cache, reporter, wait):
    from pyx_server.engine.install.operations import InstallOptions, install

    if pins is not None:
        options = InstallOptions(exact=True)
        return await install(pins, environment, index=index, cache=cache, options=options, reporter=reporter, wait=wait)
    options = InstallOptions(resolve=True)
    return await install(requirements, environment, index=index, cache=cache, options=options, reporter=reporter,
                         wait=wait)


def _touch(marker: Path) -> None:
    try:
        os.utime(marker)
    except OSError:
        pass


def gc(store: Path | None = None, *, max_age: float = DEFAULT_MAX_AGE, now: float | None = None) -> list[Path]:
    """Remove environments unused for ``max_age`` seconds, and any left half-built."""
    from pyx_server.engine import locks
    from pyx_server.engine.errors import Busy

    envs = (store or data_dir()) / "envs"
    now = time.time() if now is None else now
    removed: list[Path] = []
    if not envs.is_dir():
        return removed
    for entry in envs.iterdir():
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        marker = entry / MARKER
        try:
            stale = not marker.is_file() or now - marker.stat().st_mtime > max_age
        except OSError:
            stale = True
        if not stale:
            continue
        try:
            # held while removing: an environment being built (or rebuilt) now is left alone
            with locks.hold_sync(_lock_file(store, entry.name), what=f"the environment `{entry}`", wait=False):
                shutil.rmtree(entry, ignore_errors=True)
        except Busy:
            continue
        removed.append(entry)
    if removed:
        from pyx_server.engine.envs import runstamp

        runstamp.prune(str(store or data_dir()))  # stamps of `pyx run` naming those environments
    return removed


def describe(root: Path) -> dict | None:
    """What a stored environment was made for (its marker), or None."""
    data = read_json(root / MARKER)
    return data if isinstance(data, dict) else None
