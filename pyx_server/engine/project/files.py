"""Writing projects: a new minimal ``pyproject.toml`` (``pyx init``), and edits of an existing
one applied through the one atomic writer (``edits.write_atomic``), nothing written on error.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import tomlkit
from packaging.utils import InvalidName, canonicalize_name
from packaging.version import InvalidVersion, Version

from pyx_server.engine.project.model import PYPROJECT, Project, _error
from pyx_server.engine.project.reading import _read, parse_requires_python, project_from_text


def init_project(
    directory: Path | str,
    *,
    name: str | None = None,
    requires_python: str | None = None,
) -> Path:
    """Write the minimal ``pyproject.toml`` ``uv init --bare`` writes; refuses to overwrite one."""
    target, text = new_project_text(directory, name=name, requires_python=requires_python)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_new(target, text)
    return target


def new_project_text(
    directory: Path | str,
    *,
    name: str | None = None,
    requires_python: str | None = None,
    python_version: tuple[int, int] | None = None,
) -> tuple[Path, str]:
    """Where the new ``pyproject.toml`` goes and its text (pure but for checking that none exists).

    ``name`` defaults to the directory's name (spaces become ``-``), normalized as uv does;
    ``requires_python`` defaults to ``>=`` the running interpreter's ``major.minor``, and a
    bare version (``3.12``) means ``>=3.12``.
    """
    directory = Path(directory).absolute()
    target = directory / PYPROJECT
    if target.exists():
        raise _error(
            target,
            f"a project is already initialized in `{directory}` (`pyproject.toml` exists)",
            hints=["Edit the existing file, or choose another directory."],
        )
    if name is None:
        raw = directory.name.strip().replace(" ", "-")
        try:
            normal = canonicalize_name(raw, validate=True)
        except InvalidName:
            raise _error(
                target,
                f"the directory name `{directory.name}` is not a valid package name",
                hints=["Give a name explicitly (`--name`)."],
            ) from None
    else:
        try:
            normal = canonicalize_name(name, validate=True)
        except InvalidName:
            raise _error(target, f"invalid project name `{name}`") from None
    if requires_python is None:
        major, minor = python_version or sys.version_info[:2]
        spec = f">={major}.{minor}"
    else:
        spec = requires_python.strip()
        try:
            version = Version(spec)
        except InvalidVersion:
            parse_requires_python(spec, path=target)
        else:
            spec = f">={version.major}.{version.minor}"
    text = (
        "[project]\n"
        f'name = "{normal}"\n'
        'version = "0.1.0"\n'
        f"requires-python = {tomlkit.string(spec).as_string()}\n"
        "dependencies = []\n"
    )
    project_from_text(text, target)
    return target, text


def _edit(path: Path | str, change: Callable[[str, Path], str]) -> Project:
    path = Path(path)
    if path.is_dir():
        path = path / PYPROJECT
    text = _read(path)
    new = change(text, path)
    project = project_from_text(new, path)
    if new != text:
        from pyx_server.engine.edits import write_atomic

        write_atomic(path, new.encode("utf-8"))
    return project


def _chmod_default(path: str) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _write_new(path: Path, text: str) -> None:
    """Create ``path`` atomically, failing (not overwriting) if it appeared meanwhile."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
        _chmod_default(tmp)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise _error(path, "a `pyproject.toml` appeared while it was being written") from None
        except OSError:  # no hard links here: exclusive create instead
            with open(path, "xb") as f:
                f.write(text.encode("utf-8"))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
