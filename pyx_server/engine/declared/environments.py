"""Environments for declarations: the environment-store environment of a script or notebook
(complete environments are reused without resolving), and a project's own ``.venv`` synced
exactly to its lock."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pyx_server.engine.cache import Cache
from pyx_server.engine.config import IndexSettings
from pyx_server.engine.declared.locking import has_lock, pins
from pyx_server.engine.declared.model import Declaration, check_python, index_for
from pyx_server.engine.progress import Reporter
from pyx_server.engine.requirements import RequirementSpec


def _script_key_parts(declaration: Declaration, settings: IndexSettings, with_requirements, locked_pins):
    requirements = list(declaration.requirements) + list(with_requirements)
    return requirements, _key_extra(settings), locked_pins


def _key_extra(settings: IndexSettings) -> dict:
    """What, beyond the requirements, decides a stored environment: which indexes serve it."""
    return {"indexes": list(settings.indexes), "pinned": [[name, list(urls)] for name, urls in settings.pinned]}


def existing_script_environment(
    declaration: Declaration, interpreter, *, index: IndexSettings, store: Path | None = None
) -> Path | None:
    """The complete stored environment of an unlocked script, if there is one: no resolution,
    no event loop, no network (what makes ``pyx run`` instant when nothing changed)."""
    from pyx_server.engine.envs.store import MARKER, environment_root

    if has_lock(declaration):
        return None
    settings = index_for(declaration, index)
    requirements, extra, _ = _script_key_parts(declaration, settings, (), None)
    root = environment_root(requirements, interpreter, requires_python=declaration.requires_python,
                            extra_key=extra, locked=False, store=store)
    marker = root / MARKER
    if not marker.is_file():
        return None
    try:
        import os

        os.utime(marker)
    except OSError:
        pass
    return root


def run_inputs(declaration: Declaration, interpreter, cwd: Path | None = None) -> list[Path]:
    """The files whose change can change which environment a script runs in (present or not):
    its lock, pip's configuration, pyenv's version files and the interpreter. The script's
    own metadata is compared separately; see ``runstamp``."""
    from pyx_server.engine.config import pip_config_candidates
    from pyx_server.engine.envs.interpreter import discovery_files

    interpreters = {Path(interpreter.sys_executable), Path(interpreter.executable)}
    return [declaration.lock_path, *pip_config_candidates(), *discovery_files(cwd), *sorted(interpreters)]


async def script_environment(
    declaration: Declaration,
    interpreter,
    *,
    index: IndexSettings,
    cache: Cache,
    with_requirements: Sequence[RequirementSpec] = (),
    locked: bool = False,
    frozen: bool = False,
    reporter: Reporter | None = None,
    store: Path | None = None,
    found_pins: tuple[list[RequirementSpec], dict] | None = None,
    relock: bool = True,
    wait: bool = True,
):
    """The stored environment for a script or notebook (``envstore.StoredEnvironment``).

    ``found_pins``: the pins of a lock already in hand (a use case's planned lock);
    ``relock=False``: raise ``NeedsRelock`` rather than write a missing or stale lock;
    ``wait=False``: an environment another operation holds is a ``Busy`` error."""
    from pyx_server.engine.envs.store import ensure_environment

    check_python(declaration, interpreter)
    settings = index_for(declaration, index)
    requirements = list(declaration.requirements) + list(with_requirements)
    locked_pins = None
    if found_pins is None and (has_lock(declaration) or locked or frozen):
        found_pins = await pins(declaration, interpreter, index=settings, cache=cache, locked=locked, frozen=frozen,
                                reporter=reporter, relock=relock)
    if found_pins is not None:
        locked_pins = found_pins[0] + list(with_requirements)
    return await ensure_environment(
        requirements,
        interpreter,
        index=settings,
        cache=cache,
        requires_python=declaration.requires_python,
        pins=locked_pins,
        extra_key=_key_extra(settings),
        reporter=reporter,
        store=store,
        wait=wait,
    )


async def project_sync(
    declaration: Declaration,
    env,
    *,
    index: IndexSettings,
    cache: Cache,
    locked: bool = False,
    frozen: bool = False,
    reporter: Reporter | None = None,
    found_pins: tuple[list[RequirementSpec], dict] | None = None,
    wait: bool = True,
):
    """Make the project's environment match its lock exactly (locking first when needed).

    ``found_pins``: the pins of a lock already in hand (a use case's planned lock);
    ``wait=False``: an environment another operation holds is a ``Busy`` error."""
    from pyx_server.engine.install.operations import InstallOptions, install

    check_python(declaration, env.interpreter)
    settings = index_for(declaration, index)
    if found_pins is None:
        found_pins = await pins(declaration, env.interpreter, index=settings, cache=cache, locked=locked,
                                frozen=frozen, reporter=reporter)
    specs, files = found_pins
    own = project_itself(declaration)
    if own is not None:
        specs = [s for s in specs if s.name != own.name] + [own]
    options = InstallOptions(exact=True)
    return await install(specs, env, index=settings, cache=cache, options=options, reporter=reporter, files=files,
                         wait=wait)


def project_itself(declaration: Declaration) -> RequirementSpec | None:
    """The project as an editable requirement, when it is a package (as ``uv sync`` installs it).

    A project is a package when its ``pyproject.toml`` has a ``[build-system]`` table and
    ``tool.uv.package`` is not false (``uv init --bare`` writes neither: a virtual project).
    """
    project = declaration.project
    if project is None or getattr(project, "is_virtual", True) or project.name is None:
        return None
    if getattr(project, "tool_uv", {}).get("package") is False:
        return None
    from pyx_server.engine.build.source import load_toml

    try:
        data = load_toml(declaration.path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - the project was read already; no build table means no package
        return None
    if not isinstance(data.get("build-system"), dict) and project.tool_uv.get("package") is not True:
        return None
    from packaging.requirements import Requirement

    root = declaration.path.parent
    return RequirementSpec(Requirement(f"{project.name} @ {root.as_uri()}"), str(declaration.path), {}, root,
                           editable=True)
