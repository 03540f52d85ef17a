"""Finding the environment to act on, and reading what is installed in it from dist-info.

Discovery follows uv and pip: ``--python`` (an interpreter path, a venv directory, or a
version/name found on PATH), then ``VIRTUAL_ENV``, then ``CONDA_PREFIX`` (not conda's base
environment), then ``.venv`` in the working directory or a parent; otherwise pyx refuses to
touch a non-virtual Python unless ``system=True`` (``--system``), which, as in uv, skips the
virtual-environment sources and takes the first ``python3`` on PATH.

Speed matters here: the CLI's no-op install reads the installed set on every run. For a
virtual environment (``pyvenv.cfg`` present) site-packages is found from the layout
(``lib/pythonX.Y/site-packages``, X.Y from ``pyvenv.cfg``), and the interpreter is asked
(through the cache) only when a caller needs tags, markers or the scheme. ``installed()``
parses only the ``Name`` and ``Version`` headers of each ``METADATA``.

Malformed entries (no ``METADATA``, no ``Name``, a version ``packaging`` cannot parse) are
skipped by ``installed()`` rather than failing the whole listing, and reported with their
reason by ``scan()`` so a front can warn about them; so are second copies of an already
listed distribution (the first on the path wins, as for the import system).
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from pyx_server.engine.cache import Cache
from pyx_server.engine.errors import EnvironmentNotFound, InterpreterError, InvalidEnvironment
from pyx_server.engine.envs.interpreter import (
    Interpreter,
    find_python_on_path,
    parse_version_request,
    query_interpreter,
)
from pyx_server.engine.install.scheme import Scheme

_WINDOWS = sys.platform == "win32"
_BIN = "Scripts" if _WINDOWS else "bin"
_PYTHON_NAMES = ("python.exe",) if _WINDOWS else ("python", "python3")
_SITE_DIR = re.compile(r"^(python|pypy)(\d+)\.(\d+)(t?)$")

NO_ENVIRONMENT = (
    "No virtual environment found; run `pyx venv` to create an environment, "
    "or pass `--system` to install into a non-virtual environment"
)


@dataclass(frozen=True)
class InstalledDist:
    """One installed distribution, as its ``.dist-info`` (or legacy ``.egg-info``) describes it."""

    name: NormalizedName
    version: Version
    #: the ``.dist-info`` directory (or the ``.egg-info`` directory or file)
    dist_info: Path
    #: first line of ``INSTALLER`` (``pip``, ``uv``, ``pyx``), None when absent
    installer: str | None = None
    #: whether ``REQUESTED`` exists (installed on its own account, not as a dependency)
    requested: bool = False
    #: the parsed PEP 610 ``direct_url.json``, None when absent or unreadable
    direct_url: dict[str, Any] | None = None
    #: the ``Name:`` header as written in the metadata
    metadata_name: str = ""

    @property
    def display_name(self) -> str:
        """The name as the project writes it (``Django``, not ``django``): for listings."""
        return self.metadata_name or str(self.name)

    @property
    def is_egg_info(self) -> bool:
        return self.dist_info.suffix == ".egg-info"

    @property
    def editable(self) -> bool:
        """Installed in editable mode (PEP 660 via PEP 610's ``dir_info.editable``)."""
        info = (self.direct_url or {}).get("dir_info")
        return isinstance(info, dict) and bool(info.get("editable"))


@dataclass(frozen=True)
class SkippedDist:
    """A metadata directory ``installed()`` left out, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class InstalledScan:
    """Everything one pass over site-packages found: the distributions and what was skipped."""

    dists: dict[NormalizedName, InstalledDist]
    skipped: tuple[SkippedDist, ...]


def read_pyvenv_cfg(root: Path) -> dict[str, str]:
    """The ``key = value`` lines of ``root/pyvenv.cfg`` (keys lower-cased); empty if missing."""
    values: dict[str, str] = {}
    try:
        text = (root / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return values
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip().lower()] = value.strip()
    return values


def _venv_python(root: Path) -> Path | None:
    for name in _PYTHON_NAMES:
        candidate = root / _BIN / name
        if os.path.lexists(candidate):
            return candidate
    return None


class PythonEnvironment:
    """An environment pyx acts on: a root, its python, its site-packages, what is installed.

    ``interpreter`` is asked lazily (and through the cache), so reading the installed set of
    a virtual environment spawns nothing.
    """

    def __init__(
        self,
        root: Path,
        executable: Path,
        *,
        cache: Cache | None = None,
        interpreter: Interpreter | None = None,
        site_packages: Sequence[Path] | None = None,
    ) -> None:
        self.root = Path(root)
        self.executable = Path(executable)
        self._cache = cache
        if interpreter is not None:
            self.__dict__["interpreter"] = interpreter
        if site_packages is not None:
            self.__dict__["site_packages"] = _dedupe(site_packages)

    def __repr__(self) -> str:
        return f"PythonEnvironment(root={str(self.root)!r}, executable={str(self.executable)!r})"

    @property
    def cache(self) -> Cache:
        if self._cache is None:
            self._cache = Cache()
        return self._cache

    @functools.cached_property
    def interpreter(self) -> Interpreter:
        """Facts about this environment's python (cached on disk; a process spawn at most once)."""
        return query_interpreter(self.executable, self.cache)

    @property
    def has_interpreter(self) -> bool:
        """Whether the interpreter facts are already known (asking costs nothing more)."""
        return "interpreter" in self.__dict__

    @functools.cached_property
    def pyvenv_cfg(self) -> dict[str, str]:
        return read_pyvenv_cfg(self.root)

    @property
    def is_venv(self) -> bool:
        return (self.root / "pyvenv.cfg").is_file()

    @property
    def relocatable(self) -> bool:
        """``relocatable = true`` in ``pyvenv.cfg``: scripts must not embed absolute paths."""
        return self.pyvenv_cfg.get("relocatable", "").lower() == "true"

    @property
    def scheme(self) -> Scheme:
        return self.interpreter.scheme

    @functools.cached_property
    def site_packages(self) -> tuple[Path, ...]:
        """purelib and platlib (deduplicated); from the layout for a venv, else from sysconfig."""
        if self.is_venv:
            found = _venv_site_packages(self.root, self.pyvenv_cfg)
            if found is not None:
                return (found,)
        scheme = self.interpreter.scheme
        return _dedupe((scheme.purelib, scheme.platlib))

    def installed(self) -> dict[NormalizedName, InstalledDist]:
        """The distributions installed here, by normalized name (malformed ones skipped)."""
        return self.scan().dists

    def scan(self) -> InstalledScan:
        """One pass over site-packages: the distributions, and what was skipped with why."""
        dists: dict[NormalizedName, InstalledDist] = {}
        skipped: list[SkippedDist] = []
        for directory in self.site_packages:
            try:
                entries = sorted(os.listdir(directory))
            except OSError:
                continue
            for entry in entries:
                if entry.endswith(".dist-info"):
                    result = _read_dist_info(directory / entry)
                elif entry.endswith(".egg-info"):
                    result = _read_egg_info(directory / entry)
                else:
                    continue
                if isinstance(result, SkippedDist):
                    skipped.append(result)
                elif result.name in dists:
                    first = dists[result.name].dist_info.name
                    skipped.append(SkippedDist(result.dist_info, f"a second copy of `{result.name}` (`{first}` comes first)"))
                else:
                    dists[result.name] = result
        return InstalledScan(dists, tuple(skipped))


def _dedupe(paths: Sequence[Path]) -> tuple[Path, ...]:
    seen: list[Path] = []
    for path in paths:
        if Path(path) not in seen:
            seen.append(Path(path))
    return tuple(seen)


def _venv_site_packages(root: Path, cfg: Mapping[str, str]) -> Path | None:
    """``lib/pythonX.Y[t]/site-packages`` of a venv, without running anything; None if unsure."""
    if _WINDOWS:
        path = root / "Lib" / "site-packages"
        return path if path.is_dir() else None
    lib = root / "lib"
    version = cfg.get("version_info") or cfg.get("version") or ""
    parts = version.split(".")
    if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
        for name in (f"python{parts[0]}.{parts[1]}", f"python{parts[0]}.{parts[1]}t"):
            path = lib / name / "site-packages"
            if path.is_dir():
                return path
    try:
        candidates = [
            lib / entry / "site-packages"
            for entry in os.listdir(lib)
            if _SITE_DIR.match(entry) and (lib / entry / "site-packages").is_dir()
        ]
    except OSError:
        return None
    return candidates[0] if len(candidates) == 1 else None


def _header_fields(path: Path) -> tuple[str | None, str | None]:
    """``Name`` and ``Version`` from an email-style metadata file, reading only its headers."""
    name = version = None
    with open(path, "rb") as f:
        for raw in f:
            line = raw.rstrip(b"\r\n")
            if not line:
                break
            key, sep, value = line.partition(b":")
            if not sep:
                continue
            key = key.strip().lower()
            if key == b"name" and name is None:
                name = value.strip().decode("utf-8", "replace")
            elif key == b"version" and version is None:
                version = value.strip().decode("utf-8", "replace")
            if name is not None and version is not None:
                break
    return name, version


def _make_dist(path: Path, metadata: Path) -> InstalledDist | SkippedDist:
    try:
        name, version = _header_fields(metadata)
    except OSError as exc:
        return SkippedDist(path, f"unreadable `{metadata.name}`: {exc.strerror or exc}")
    if not name:
        return SkippedDist(path, f"`{metadata.name}` has no `Name`")
    if not version:
        return SkippedDist(path, f"`{metadata.name}` has no `Version`")
    try:
        parsed = Version(version)
    except InvalidVersion:
        return SkippedDist(path, f"invalid version `{version}`")
    return InstalledDist(name=canonicalize_name(name), version=parsed, dist_info=path, metadata_name=name)


def _read_dist_info(path: Path) -> InstalledDist | SkippedDist:
    metadata = path / "METADATA"
    if not metadata.is_file():
        return SkippedDist(path, "no `METADATA` file")
    dist = _make_dist(path, metadata)
    if isinstance(dist, SkippedDist):
        return dist
    installer: str | None = None
    try:
        with open(path / "INSTALLER", "rb") as f:
            installer = f.readline().decode("utf-8", "replace").strip() or None
    except OSError:
        pass
    direct_url: dict[str, Any] | None = None
    try:
        with open(path / "direct_url.json", "rb") as f:
            data = json.loads(f.read())
        direct_url = data if isinstance(data, dict) else None
    except (OSError, ValueError):
        pass
    return InstalledDist(
        name=dist.name,
        version=dist.version,
        dist_info=path,
        installer=installer,
        requested=os.path.exists(path / "REQUESTED"),
        direct_url=direct_url,
        metadata_name=dist.metadata_name,
    )


def _read_egg_info(path: Path) -> InstalledDist | SkippedDist:
    """A legacy ``.egg-info``: a directory holding ``PKG-INFO``, or the ``PKG-INFO`` itself."""
    metadata = path / "PKG-INFO" if path.is_dir() else path
    if not metadata.is_file():
        return SkippedDist(path, "no `PKG-INFO` file")
    return _make_dist(path, metadata)


# -- discovery -------------------------------------------------------------------------------


def open_venv(root: Path, *, cache: Cache | None = None, source: str | None = None) -> PythonEnvironment:
    """The virtual environment at ``root``, checked without running it.

    ``source`` says where the path came from (``VIRTUAL_ENV``, ``.venv``) for the error.
    """
    where = f" (from {source})" if source else ""
    hint = f"Remove `{root}` or recreate it with `pyx venv {root}`."
    if not root.exists():
        raise InvalidEnvironment(
            f"The virtual environment `{root}`{where} does not exist",
            context={"path": root},
            hints=[f"Create it with `pyx venv {root}`."],
        )
    if not root.is_dir():
        raise InvalidEnvironment(f"`{root}`{where} is not a directory", context={"path": root}, hints=[hint])
    if not (root / "pyvenv.cfg").is_file():
        raise InvalidEnvironment(
            f"`{root}`{where} is not a valid virtual environment: it has no `pyvenv.cfg`",
            context={"path": root},
            hints=[hint],
        )
    python = _venv_python(root)
    if python is None:
        raise InvalidEnvironment(
            f"`{root}`{where} is not a valid virtual environment: it has no `{_BIN}/python`",
            context={"path": root},
            hints=[hint],
        )
    if not python.exists():
        target = os.readlink(python) if python.is_symlink() else python
        raise InvalidEnvironment(
            f"The virtual environment `{root}`{where} points at a Python that no longer exists (`{target}`)",
            context={"path": root},
            hints=[hint],
        )
    return PythonEnvironment(root, python, cache=cache)


def _from_interpreter(executable: Path, cache: Cache) -> PythonEnvironment:
    """The environment an interpreter belongs to (asked through the cache)."""
    interpreter = query_interpreter(executable, cache)
    if os.path.realpath(interpreter.sys_executable) != os.path.realpath(executable):
        # a wrapper such as a pyenv shim: act on the interpreter it led to
        interpreter = query_interpreter(interpreter.sys_executable, cache)
    return PythonEnvironment(interpreter.sys_prefix, interpreter.executable, cache=cache, interpreter=interpreter)


def _looks_like_path(request: str) -> bool:
    return os.sep in request or (os.altsep is not None and os.altsep in request) or request.startswith(("~", "."))


def _from_python_request(request: str, cwd: Path, env: Mapping[str, str], cache: Cache) -> PythonEnvironment:
    # as uv: a version first, then an existing file or directory, then a name on PATH
    as_path = _looks_like_path(request) or (
        parse_version_request(request) is None and os.path.lexists(cwd / request)
    )
    if as_path:
        path = Path(os.path.expanduser(request))
        path = path if path.is_absolute() else cwd / path
        path = Path(os.path.abspath(path))
        if path.is_dir():
            if (path / "pyvenv.cfg").is_file():
                return open_venv(path, cache=cache, source="--python")
            python = _venv_python(path)
            if python is None:
                raise EnvironmentNotFound(
                    f"`{path}` is neither a Python interpreter nor an environment with one",
                    context={"path": path},
                )
            return _from_interpreter(python, cache)
        if not path.exists():
            raise InterpreterError(f"No Python interpreter at `{path}`", context={"path": path})
        # an interpreter inside a venv: known from the layout, nothing to run
        if path.parent.name == _BIN and (path.parent.parent / "pyvenv.cfg").is_file():
            return PythonEnvironment(path.parent.parent, path, cache=cache)
        return _from_interpreter(path, cache)
    executable = find_python_on_path(request, cache=cache, path_env=env.get("PATH"))
    if parse_version_request(request) is None and not executable.is_absolute():
        executable = Path(os.path.abspath(executable))
    return _from_interpreter(executable, cache)


def _is_conda_base(env: Mapping[str, str]) -> bool:
    return env.get("CONDA_DEFAULT_ENV", "") in ("base", "root")


def find_environment(
    *,
    python: str | None = None,
    system: bool = False,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    cache: Cache,
) -> PythonEnvironment:
    """The environment a command acts on, found as uv and pip find it (see the module docs).

    Raises ``EnvironmentNotFound`` when there is no virtual environment and ``system`` is
    False, and ``InvalidEnvironment`` naming a ``.venv``/``VIRTUAL_ENV`` that is broken.
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else Path(cwd)
    if python:
        return _from_python_request(python, cwd, env, cache)
    if system:
        return _from_interpreter(find_python_on_path(None, path_env=env.get("PATH")), cache)
    if env.get("VIRTUAL_ENV"):
        root = Path(os.path.abspath(cwd / os.path.expanduser(env["VIRTUAL_ENV"])))
        return open_venv(root, cache=cache, source="VIRTUAL_ENV")
    if env.get("CONDA_PREFIX") and not _is_conda_base(env):
        root = Path(os.path.abspath(cwd / os.path.expanduser(env["CONDA_PREFIX"])))
        if (root / "pyvenv.cfg").is_file():
            return open_venv(root, cache=cache, source="CONDA_PREFIX")
        python = root / ("python.exe" if _WINDOWS else "bin/python")
        if not python.exists():
            raise InvalidEnvironment(
                f"The conda environment `{root}` (from CONDA_PREFIX) has no Python",
                context={"path": root},
                hints=["Install Python into it, or deactivate it."],
            )
        return PythonEnvironment(root, python, cache=cache)
    for directory in (cwd, *cwd.parents):
        candidate = directory / ".venv"
        if os.path.lexists(candidate):
            return open_venv(candidate, cache=cache)
    raise EnvironmentNotFound(
        NO_ENVIRONMENT,
        context={"cwd": cwd},
        hints=["Create one with `pyx venv`, or pass `--python` or `--system`."],
    )
