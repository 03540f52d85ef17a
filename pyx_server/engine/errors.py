"""The one error hierarchy of the engine: data for the fronts to render, never text to parse.

Each error has a stable kebab-case ``code`` (the REST API and the language server key on it),
a ``message`` that names the offending value in backticks, optional ``context`` (key/value
facts such as the index URL, already redacted) and ``hints`` (what the user can do next).
Expected misses (a package absent from one index) are values elsewhere; an exception here
means the operation as asked cannot be done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Location:
    """Where in a file an error or warning is: what an editor underlines and a panel links to.

    Lines and columns count from 1 (as people read them); ``cell`` is the index of a notebook
    cell (from 0, as nbformat lists them), and then ``line`` counts within that cell. The
    message of the error never repeats the location: each front places it its own way.
    """

    path: str
    line: int | None = None
    column: int | None = None
    end_line: int | None = None
    end_column: int | None = None
    cell: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "column": self.column, "end_line": self.end_line,
                "end_column": self.end_column, "cell": self.cell}


class Hint(str):
    """A hint's text, which may carry an ``action`` id (``lock``, ``sync``, ``restart-kernel``,
    ``set-torch-index`` …) that a panel shows as a button and an editor as a code action.

    A ``str``, so every front that renders hints as text keeps working unchanged.
    """

    action: str | None

    def __new__(cls, text: str, action: str | None = None) -> Hint:
        hint = super().__new__(cls, text)
        hint.action = action if action is not None else getattr(text, "action", None)
        return hint

    def to_dict(self) -> dict[str, Any]:
        return {"text": str(self), "action": self.action}


@dataclass(frozen=True)
class PyxWarning:
    """A warning as a value (not raised): a stable ``code``, a message, hints and, for a file,
    where. Results carry these, and the reporter's ``Notice`` events carry the same fields."""

    code: str
    message: str
    hints: tuple[Hint, ...] = ()
    location: Location | None = None

    def __str__(self) -> str:
        """The message: a front that shows warnings as lines of text shows them as before."""
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "hints": [Hint(h).to_dict() for h in self.hints],
                "location": self.location.to_dict() if self.location else None}


class PyxError(Exception):
    """Base of every error the engine raises on purpose."""

    code: str = "pyx-error"

    def __init__(
        self,
        message: str,
        *,
        context: Mapping[str, Any] | None = None,
        hints: Sequence[str] = (),
        detail: str | None = None,
        location: Location | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.context: dict[str, Any] = dict(context or {})
        #: ``Hint`` values (plain strings become hints without an action)
        self.hints: list[Hint] = [Hint(h) for h in hints]
        #: longer diagnostic text (a backend's output tail, a traceback) shown with ``-v``
        self.detail = detail
        #: the file position the error is about, when it is about one
        self.location = location

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for the REST API and ``--format json``."""
        return {
            "code": self.code,
            "message": self.message,
            # numbers stay numbers (an exit code, a size); paths and the like become text
            "context": {k: v if v is None or isinstance(v, (bool, int, float)) else str(v)
                        for k, v in self.context.items()},
            "hints": [h.to_dict() for h in self.hints],
            "location": self.location.to_dict() if self.location else None,
            "detail": self.detail,
        }


class ConfigError(PyxError):
    code = "invalid-config"


class TorchIndexNotConfigured(ConfigError):
    """No PyTorch variant index is known: pyx writes no index host into its code, the user names it."""

    code = "torch-index-not-configured"


class UsageError(PyxError):
    """The command was asked for something it cannot mean (no requirements, a missing file)."""

    code = "usage-error"


class UnknownIndex(ConfigError):
    """A ``[tool.uv.sources]`` entry routes a package to an index no ``[[tool.uv.index]]`` names."""

    code = "unknown-index"


class InvalidRequirement(PyxError):
    code = "invalid-requirement"


class RequirementsFileError(PyxError):
    code = "invalid-requirements-file"


class IndexUnavailable(PyxError):
    """An index could not be reached, or kept answering with server errors."""

    code = "index-unavailable"


class PackageNotFound(PyxError):
    """No configured index (nor find-links location) knows the package."""

    code = "package-not-found"


class NoMatchingDistribution(PyxError):
    """The package exists, but no file fits the requested version and the interpreter."""

    code = "no-matching-distribution"


class IncompatibleWheel(NoMatchingDistribution):
    """A wheel named directly (a path or URL) whose tags this interpreter does not support."""

    code = "incompatible-wheel"


class OfflineCacheMiss(PyxError):
    """``--offline`` was asked and the cache lacks something the operation needs."""

    code = "offline-cache-miss"


class HashMismatch(PyxError):
    code = "hash-mismatch"


class DownloadError(PyxError):
    code = "download-failed"


class InvalidWheel(PyxError):
    code = "invalid-wheel"


class UnsafeWheel(InvalidWheel):
    """A wheel member would land outside the target (absolute path, ``..``, symlink out)."""

    code = "unsafe-wheel-path"


class InvalidMetadata(PyxError):
    code = "invalid-metadata"


class InterpreterError(PyxError):
    code = "interpreter-error"


class PythonNotAllowed(InterpreterError):
    """The chosen interpreter is outside what the declaration's ``requires-python`` allows."""

    code = "python-not-allowed"


class EnvironmentNotFound(PyxError):
    code = "no-environment"


class InvalidEnvironment(EnvironmentNotFound):
    """A directory that should be an environment (``.venv``, ``VIRTUAL_ENV``) is not a usable one."""

    code = "invalid-environment"


class VenvError(PyxError):
    """A virtual environment cannot be created at the asked path."""

    code = "venv-failed"


class Busy(PyxError):
    """Another operation holds the lock of an environment, a declaration or a cache entry, and
    the caller asked not to wait (or waited its timeout out)."""

    code = "environment-busy"


class InstallError(PyxError):
    code = "install-failed"


class ExternallyManaged(InstallError):
    """PEP 668: the target Python's distributor manages its packages; pyx does not install there."""

    code = "externally-managed"


class UninstallError(PyxError):
    code = "uninstall-failed"


class CacheError(PyxError):
    code = "cache-error"


class InvalidSdist(PyxError):
    """A source distribution (or source tree) pyx cannot read: a bad archive, a bad ``pyproject.toml``."""

    code = "invalid-sdist"


class BuildError(PyxError):
    """A PEP 517 build backend failed; ``detail`` holds the tail of its output."""

    code = "build-failed"


class BuildDisabled(BuildError):
    """A requirement needs a build from source and the caller turned building off."""

    code = "build-disabled"


class ProjectError(PyxError):
    """A ``pyproject.toml`` pyx cannot read or edit as asked: invalid TOML, a bad requirement,
    an include-group cycle, a project table without a name."""

    code = "invalid-project"


class ProjectNotFound(ProjectError):
    """No ``pyproject.toml`` with a ``[project]`` table in the directory or its parents."""

    code = "project-not-found"


class DependencyNotFound(ProjectError):
    """A removal named a dependency the project (or the chosen group / extra) does not declare."""

    code = "dependency-not-found"


class LockFileError(PyxError):
    """A ``pylock.toml`` (PEP 751) that cannot be used: bad TOML, a missing or malformed key,
    an unsupported ``lock-version``, a package that cannot be locked. The message names the
    key; ``location`` holds the file and the line when known."""

    code = "invalid-lock"


class StaleLock(LockFileError):
    """``--locked`` was asked and the lock no longer matches what is declared."""

    code = "stale-lock"


class LockNotApplicable(LockFileError):
    """A valid lock that does not cover the target: its ``requires-python`` or ``environments``
    exclude it, or a package entry's ``requires-python`` does."""

    code = "lock-not-applicable"


class InlineMetadataError(PyxError):
    """A PEP 723 ``script`` block (in a script or a notebook cell) pyx cannot read: unclosed,
    duplicated, invalid TOML, a bad requirement or ``requires-python``, or a notebook that is not
    nbformat 4 JSON. ``location`` holds the file, the cell and the line; nothing is written."""

    code = "invalid-inline-metadata"
