"""Finding an interpreter: a path, a name or a version request, searched on PATH, through pyenv shims.

Split from ``interpreter`` (which queries and caches what an interpreter is): this module only
decides *which* executable a request names. It spawns nothing itself except through
``query_interpreter`` when a version request must ask candidates what they are, and reads
pyenv's version files instead of running its shims where it can.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from pyx_server.engine.cache import Cache
from pyx_server.engine.errors import InterpreterError

if TYPE_CHECKING:
    from pyx_server.engine.envs.interpreter import Interpreter

_VERSION_REQUEST = re.compile(r"^(\d+(?:\.\d+){0,2})(t?)$")
_OPERATOR = re.compile(r"^\s*(==|!=|<=|>=|<|>|~=)")
_VERSIONED_NAME = re.compile(r"^python3\.(\d+)(t?)$")


@dataclass(frozen=True)
class VersionRequest:
    """A request such as ``3.12``, ``3.13t`` or ``>=3.11``: which interpreter versions fit."""

    text: str
    specifier: SpecifierSet
    #: ``X.Y`` when the request names one minor version (to look for ``pythonX.Y`` first)
    minor: str | None = None
    free_threaded: bool = False

    def matches(self, interpreter: Interpreter) -> bool:
        if self.free_threaded and not interpreter.gil_disabled:
            return False
        return self.specifier.contains(interpreter.python_version, prereleases=True)


def parse_version_request(request: str) -> VersionRequest | None:
    """``3.12`` → ``==3.12.*``; ``3.12.1`` → ``==3.12.1``; ``>=3.11`` as given; None if not a version."""
    text = request.strip()
    match = _VERSION_REQUEST.match(text)
    if match:
        number, free = match.groups()
        try:
            version = Version(number)
        except InvalidVersion:
            return None
        parts = version.release
        spec = SpecifierSet(f"=={number}" if len(parts) == 3 else f"=={number}.*")
        minor = f"{parts[0]}.{parts[1]}" if len(parts) >= 2 else None
        return VersionRequest(text, spec, minor, bool(free))
    if _OPERATOR.match(text):
        try:
            return VersionRequest(text, SpecifierSet(text))
        except InvalidSpecifier:
            return None
    return None


def _path_dirs(path_env: str | None) -> list[Path]:
    value = os.environ.get("PATH", os.defpath) if path_env is None else path_env
    return [Path(p) for p in value.split(os.pathsep) if p]


def _is_executable_file(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _candidates(request: VersionRequest, dirs: list[Path]) -> Iterator[Path]:
    seen: set[tuple[str, str]] = set()  # (real directory, name): /bin and /usr/bin are one
    suffix = "t" if request.free_threaded else ""
    for directory in dirs:
        names: list[str] = []
        if request.minor:
            names.append(f"python{request.minor}{suffix}")
        else:
            try:
                found = []
                for entry in os.listdir(directory):
                    m = _VERSIONED_NAME.match(entry)
                    if m and (m.group(2) == "t") == request.free_threaded:
                        found.append((int(m.group(1)), entry))
                names += [name for _, name in sorted(found, reverse=True)]
            except OSError:
                continue
        names += ["python3", "python"]
        real_dir = os.path.realpath(directory)
        for name in names:
            candidate = directory / name
            if (real_dir, name) not in seen and _is_executable_file(candidate):
                seen.add((real_dir, name))
                yield candidate


def _through_pyenv_shim(found: Path, name: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The interpreter a pyenv shim would run, read from pyenv's own version files.

    A shim is a shell script whose answer depends on ``PYENV_VERSION``, the nearest
    ``.python-version`` and the global ``version`` file; running it costs a process and its
    answer cannot be cached by path. Reading those files gives the same answer without a
    process (None when anything is unusual: then the shim itself is run).
    """
    env = os.environ if env is None else env
    root = Path(env.get("PYENV_ROOT") or Path.home() / ".pyenv")
    if found.parent != root / "shims":
        return None
    version = (env.get("PYENV_VERSION") or "").split(":")[0].strip()
    if not version:
        directory = (cwd or Path.cwd()).absolute()
        for folder in (directory, *directory.parents):
            candidate = folder / ".python-version"
            if candidate.is_file():
                version = _first_word(candidate)
                break
    if not version:
        version = _first_word(root / "version") if (root / "version").is_file() else "system"
    if not version or version == "system":
        return None
    target = root / "versions" / version / "bin" / name
    return target if _is_executable_file(target) else None


def discovery_files(cwd: Path | None = None, env: Mapping[str, str] | None = None) -> list[Path]:
    """The files (present or not) whose content can change which interpreter a name such as
    ``python3`` finds: pyenv's ``.python-version`` in ``cwd`` and its parents, and its
    global ``version`` file. What ``pyx run``'s stamps watch besides ``PATH``."""
    env = os.environ if env is None else env
    root = Path(env.get("PYENV_ROOT") or Path.home() / ".pyenv")
    directory = (cwd or Path.cwd()).absolute()
    return [*(folder / ".python-version" for folder in (directory, *directory.parents)), root / "version"]


def _first_word(path: Path) -> str:
    try:
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                return line.split()[0]
    except OSError:
        pass
    return ""


def find_python_on_path(
    request: str | None = None, *, cache: Cache | None = None, path_env: str | None = None
) -> Path:
    """The interpreter a request names: a path, a name (``python3.11``), a version, or None.

    None gives the first ``python3`` (else ``python``) on PATH without running it. A version
    request (``3.12``, ``3.13t``, ``>=3.11``) runs each candidate on PATH (``pythonX.Y``, then
    ``python3``, ``python``) until one fits, skipping ones that fail (such as pyenv shims for
    versions not selected), and returns the real executable that answered. ``path_env``
    replaces ``$PATH`` (tests, or a front that knows the user's PATH).
    """
    dirs = _path_dirs(path_env)
    if request is None:
        for name in ("python3", "python"):
            found = shutil.which(name, path=os.pathsep.join(map(str, dirs)))
            if found:
                return _through_pyenv_shim(Path(found), name) or Path(found)
        raise InterpreterError(
            "No `python3` or `python` found on PATH",
            hints=["Pass `--python` with the path of an interpreter."],
        )
    from pyx_server.engine.envs.interpreter import _absolute, query_interpreter  # it imports this module

    text = request.strip()
    if os.sep in text or text.startswith(("~", ".")):
        path = _absolute(text)
        if path.is_dir():
            for name in ("bin/python", "bin/python3", "python.exe", "Scripts/python.exe"):
                if _is_executable_file(path / name):
                    return path / name
            raise InterpreterError(f"No Python interpreter in the directory `{path}`", context={"path": path})
        if not path.exists():
            raise InterpreterError(f"No Python interpreter at `{path}`", context={"path": path})
        return path
    version = parse_version_request(text)
    if version is None:
        found = shutil.which(text, path=os.pathsep.join(map(str, dirs)))
        if found:
            return Path(found)
        raise InterpreterError(
            f"No interpreter named `{text}` found on PATH",
            context={"request": text},
            hints=["Pass a path, an executable name such as `python3.12`, or a version such as `3.12`."],
        )
    cache = cache if cache is not None else Cache()
    seen_versions: list[str] = []
    for candidate in _candidates(version, dirs):
        try:
            interpreter = query_interpreter(candidate, cache)
        except InterpreterError:
            continue
        if version.matches(interpreter):
            return Path(interpreter.sys_executable)
        seen_versions.append(f"{candidate} ({'.'.join(map(str, interpreter.version))})")
    hints = [f"Interpreters found on PATH: {', '.join(seen_versions)}."] if seen_versions else []
    raise InterpreterError(
        f"No Python matching `{text}` found on PATH",
        context={"request": text},
        hints=hints + ["Install that Python version, or pass `--python` with its path."],
    )
