"""Reading ``pylock.toml``: TOML → validated ``Lock``, every problem reported with its location and key.

Validation follows PEP 751 (the ``pylock.toml`` specification):

* ``lock-version`` is required; its major version must be 1 (a newer major is refused, as the
  specification requires); a newer minor is read, with a warning in ``Lock.warnings``;
* ``created-by`` and ``packages`` are required; every value has the type the specification
  gives it; markers, specifiers and versions must parse (``packaging``);
* package names (and ``extras``) must be normalized;
* each package has exactly one kind of source: ``vcs``, ``directory``, ``archive``, or index
  files (``sdist`` and/or ``wheels``); files need ``url`` or ``path`` and a non-empty
  ``hashes`` table; wheel and sdist file names must be valid and agree with the package's
  name and version;
* packages need not be sorted, and one name may appear several times (markers tell them
  apart); choosing among them is ``select.select_for_environment``'s job.

Keys the specification does not define are kept (``unknown``) and noted in the warnings.
The line of an error (or a warning) is found by scanning the text for the table and key it
is about (``locate``), so it costs nothing when the file is valid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from pyx_server.engine.errors import Hint, Location, LockFileError, PyxWarning
from pyx_server.engine.lock.locate import locate as _locate
from pyx_server.engine.lock.model import (
    LOCK_VERSION,
    DirectorySource,
    Lock,
    LockedDependency,
    LockedFile,
    LockedPackage,
    VcsSource,
)

__all__ = ["loads_lock", "read_lock"]

#: a key path such as ("packages", 3, "wheels", 0, "hashes")
Path_ = tuple

_TOP_KEYS = (
    "lock-version",
    "environments",
    "requires-python",
    "extras",
    "dependency-groups",
    "default-groups",
    "created-by",
    "packages",
    "tool",
)
_PACKAGE_KEYS = (
    "name",
    "version",
    "marker",
    "requires-python",
    "dependencies",
    "vcs",
    "directory",
    "archive",
    "index",
    "sdist",
    "wheels",
    "attestation-identities",
    "tool",
)
_FILE_KEYS = ("name", "upload-time", "url", "path", "size", "hashes")
_ARCHIVE_KEYS = ("url", "path", "size", "upload-time", "hashes", "subdirectory")
_VCS_KEYS = ("type", "url", "path", "requested-revision", "commit-id", "subdirectory")
_DIRECTORY_KEYS = ("path", "editable", "subdirectory")
_SOURCE_KEYS = ("vcs", "directory", "archive", "sdist", "wheels")


class _Invalid(Exception):
    """A problem at a key path; ``loads_lock`` turns it into a ``LockFileError`` with a line."""

    def __init__(self, where: Path_, problem: str, hints: tuple[str, ...] = ()) -> None:
        super().__init__(problem)
        self.where = where
        self.problem = problem
        self.hints = hints


def read_lock(path: Path | str, *, cache=None) -> Lock:
    """Read and validate the lock at ``path``; a ``LockFileError`` carries the file and line
    (``location``) and the key (``context["key"]``).

    With a ``cache``, a lock already read once is not parsed again (see ``loads_lock``).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LockFileError(
            f"the lock file `{path}` does not exist",
            hints=[Hint("run `pyx lock` to create it", "lock")],
            location=Location(str(path)),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LockFileError(f"cannot read the lock file `{path}`: {exc}", location=Location(str(path))) from None
    return loads_lock(text, source=str(path), cache=cache)


def loads_lock(text: str, *, source: str = "pylock.toml", cache=None) -> Lock:
    """Parse and validate lock text (a file's, or one kept in a notebook's metadata).

    ``source`` names where the text came from in error messages. With a ``cache``
    (``engine.cache.Cache``), the parsed lock is kept in ``locks-v1`` under the hash of the
    text: a notebook's lock of all platforms' wheels is a few hundred kB of TOML, and
    ``tomllib`` plus validation took 70 ms of every environment build that used it.
    """
    if cache is not None:
        return _memoized(text, source, cache)
    data = _parse_toml(text, source)
    warnings: list[tuple[Path_, PyxWarning]] = []
    try:
        lock = _lock(data, warnings)
    except _Invalid as invalid:
        raise _error(source, text, invalid) from None
    if warnings:  # located only now: scanning the text costs nothing for a lock without them
        located = (replace(w, location=Location(source, _locate(text, where))) for where, w in warnings)
        lock = replace(lock, warnings=tuple(located))
    return lock


# -- the parsed-lock memo ---------------------------------------------------------------------

_CODE_KEY: list[str] = []


def _code_key() -> str:
    """A digest of the modules that define and build ``Lock``: a memo written by another
    version of them is never read back as today's objects."""
    if not _CODE_KEY:
        import hashlib

        from pyx_server.engine.lock import locate, model

        digest = hashlib.sha256()
        for module_file in (__file__, model.__file__, locate.__file__):
            with open(module_file, "rb") as f:
                digest.update(f.read())
        _CODE_KEY.append(digest.hexdigest()[:16])
    return _CODE_KEY[0]


def _memoized(text: str, source: str, cache) -> Lock:
    """``loads_lock`` through the cache: a pickle keyed by the text and this code's digest.

    Pickle because it rebuilds the frozen dataclasses (with their ``Version``, ``Marker``…)
    without re-running validation, which is the point; the cache is the user's own
    directory, like ``__pycache__``. Anything unreadable is a miss, then overwritten.
    """
    import hashlib
    import pickle

    from pyx_server.engine.cache import Bucket, atomic_write_bytes

    key = hashlib.sha256(text.encode("utf-8")).hexdigest()
    path = cache.root / Bucket.LOCKS.value / f"{key}-{_code_key()}.pickle"
    try:
        with open(path, "rb") as f:
            found = pickle.loads(f.read())
        if isinstance(found, Lock):
            return found
    except Exception:  # noqa: BLE001 - a corrupt or foreign memo is a miss
        pass
    parsed = loads_lock(text, source=source)
    try:
        atomic_write_bytes(path, pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL))
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass  # only a shortcut
    return parsed


# -- TOML ---------------------------------------------------------------------------------


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: tomlkit parses (slower, same result)
        tomllib = None
    if tomllib is not None:
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = getattr(exc, "lineno", None)
            if line is None:
                found = re.search(r"at line (\d+)", str(exc))
                line = int(found.group(1)) if found else None
            raise _syntax_error(source, line, str(exc)) from None
        except RecursionError:  # tomllib recurses once per level of nesting
            raise _syntax_error(source, None, "nested too deeply to read") from None
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        return tomlkit.parse(text).unwrap()
    except ParseError as exc:
        raise _syntax_error(source, exc.line, str(exc)) from None
    except RecursionError:
        raise _syntax_error(source, None, "nested too deeply to read") from None


def _syntax_error(source: str, line: int | None, detail: str) -> LockFileError:
    found = re.search(r"column (\d+)", detail)
    column = int(found.group(1)) if found and line else None
    reason = re.sub(r"\s*\(at line \d+, column \d+\)|\s*at line \d+ col(?:umn)? \d+", "", detail)
    return LockFileError(
        f"not valid TOML: {reason}",
        hints=[Hint("regenerate the lock with `pyx lock`", "lock")],
        location=Location(source, line, column),
    )


def _error(source: str, text: str, invalid: _Invalid) -> LockFileError:
    key = _dotted(invalid.where)
    line = _locate(text, invalid.where) if invalid.where else None
    message = f"`{key}` {invalid.problem}" if key else invalid.problem
    return LockFileError(
        message, context={"key": key} if key else None, hints=list(invalid.hints), location=Location(source, line)
    )


def _dotted(where: Path_) -> str:
    out = ""
    for part in where:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


# -- values -------------------------------------------------------------------------------

_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    datetime: "a date-time",
    dict: "a table",
    list: "an array",
}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    for kind, name in (
        (str, "a string"),
        (int, "an integer"),
        (float, "a float"),
        (datetime, "a date-time"),
        (date, "a date"),
        (time, "a time"),
        (dict, "a table"),
        (list, "an array"),
    ):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _get(table: Mapping[str, Any], key: str, kind: type, where: Path_, *, required: bool = False) -> Any:
    if key not in table:
        if required:
            raise _Invalid(where + (key,), "is required but missing")
        return None
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Invalid(where + (key,), f"must be {_TYPE_NAMES[kind]}, not {_type_name(value)} (`{value!r}`)")
    return value


def _strings(table: Mapping[str, Any], key: str, where: Path_) -> list[str] | None:
    values = _get(table, key, list, where)
    if values is None:
        return None
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise _Invalid(where + (key, i), f"must be a string, not {_type_name(value)}")
    return values


def _tables(table: Mapping[str, Any], key: str, where: Path_) -> list[dict[str, Any]] | None:
    values = _get(table, key, list, where)
    if values is None:
        return None
    for i, value in enumerate(values):
        if not isinstance(value, dict):
            raise _Invalid(where + (key, i), f"must be a table, not {_type_name(value)}")
    return values


def _marker(text: str | None, where: Path_) -> Marker | None:
    if text is None:
        return None
    try:
        return Marker(text)
    except InvalidMarker as exc:
        raise _Invalid(where, f"is not a valid environment marker: `{text}` ({_first_line(exc)})") from None


def _specifier(text: str | None, where: Path_) -> SpecifierSet | None:
    if text is None:
        return None
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise _Invalid(where, f"is not a valid version specifier: `{text}`") from None


def _version(text: str | None, where: Path_) -> Version | None:
    if text is None:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        raise _Invalid(where, f"is not a valid version: `{text}`") from None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _normalized(name: str, where: Path_, what: str) -> str:
    try:
        normal = canonicalize_name(name, validate=True)
    except ValueError:
        raise _Invalid(where, f"is not a valid {what}: `{name}`") from None
    if normal != name:
        raise _Invalid(
            where,
            f"must be a normalized name: `{name}` (PEP 751 wants `{normal}`)",
            (f"write `{normal}`, or regenerate the lock",),
        )
    return normal


def _unknown(table: Mapping[str, Any], known: tuple[str, ...], where: Path_, warnings: list) -> dict[str, Any]:
    extra = {k: v for k, v in table.items() if k not in known}
    for key in extra:
        warnings.append((where + (key,), PyxWarning(
            "lock-unknown-key", f"unknown key `{_dotted(where + (key,))}` kept as written")))
    return extra


# -- tables -------------------------------------------------------------------------------


def _lock(data: dict[str, Any], warnings: list) -> Lock:
    raw_version = _get(data, "lock-version", str, (), required=True)
    version = _version(raw_version, ("lock-version",))
    supported = Version(LOCK_VERSION)
    if version.major != supported.major:
        raise _Invalid(
            ("lock-version",),
            f"is `{raw_version}`: pyx reads lock-version {supported.major}.x only",
            ("the file was written by a newer tool; upgrade pyx or regenerate the lock",),
        )
    if version > supported:
        warnings.append((("lock-version",), PyxWarning(
            "lock-version-newer",
            f"lock-version `{raw_version}` is newer than the {LOCK_VERSION} pyx knows: "
            "keys it does not know are kept but not understood",
        )))
    environments = _strings(data, "environments", ())
    markers = None
    if environments is not None:
        markers = [_marker(text, ("environments", i)) for i, text in enumerate(environments)]
    extras = _strings(data, "extras", ())
    if extras is not None:
        extras = [_normalized(e, ("extras", i), "extra name") for i, e in enumerate(extras)]
    created_by = _get(data, "created-by", str, (), required=True)
    packages_raw = _tables(data, "packages", ())
    if packages_raw is None:
        raise _Invalid(("packages",), "is required but missing", ("an empty lock still needs `packages = []`",))
    packages = [_package(raw, ("packages", i), warnings) for i, raw in enumerate(packages_raw)]
    tool = _get(data, "tool", dict, ()) or {}
    return Lock(
        lock_version=raw_version,
        environments=markers,
        requires_python=_specifier(_get(data, "requires-python", str, ()), ("requires-python",)),
        extras=extras,
        dependency_groups=_strings(data, "dependency-groups", ()),
        default_groups=_strings(data, "default-groups", ()),
        created_by=created_by,
        packages=packages,
        tool=tool,
        unknown=_unknown(data, _TOP_KEYS, (), warnings),
        warnings=tuple(warnings),
    )


def _package(raw: dict[str, Any], where: Path_, warnings: list) -> LockedPackage:
    name = _normalized(_get(raw, "name", str, where, required=True), where + ("name",), "package name")
    version = _version(_get(raw, "version", str, where), where + ("version",))
    present = [key for key in _SOURCE_KEYS if key in raw]
    index_files = [k for k in present if k in ("sdist", "wheels")]
    direct = [k for k in present if k not in ("sdist", "wheels")]
    if len(direct) > 1 or (direct and index_files):
        shown = ", ".join(f"`{k}`" for k in present)
        raise _Invalid(
            where,
            f"(`{name}`) has more than one kind of source: {shown}",
            ("a package entry has exactly one of `vcs`, `directory`, `archive`, or `sdist`/`wheels`",),
        )
    dependencies = []
    for i, dep in enumerate(_tables(raw, "dependencies", where) or []):
        at = where + ("dependencies", i)
        dep_name = _get(dep, "name", str, at, required=True)
        dependencies.append(
            LockedDependency(
                name=_normalized(dep_name, at + ("name",), "package name"),
                version=_version(_get(dep, "version", str, at), at + ("version",)),
                unknown={k: v for k, v in dep.items() if k not in ("name", "version")},
            )
        )
    vcs = directory = archive = sdist = None
    wheels: list[LockedFile] = []
    if "vcs" in raw:
        vcs = _vcs(_get(raw, "vcs", dict, where), where + ("vcs",), warnings)
    if "directory" in raw:
        directory = _directory(_get(raw, "directory", dict, where), where + ("directory",), warnings)
    if "archive" in raw:
        archive = _file(_get(raw, "archive", dict, where), where + ("archive",), _ARCHIVE_KEYS, warnings)
    if "sdist" in raw:
        sdist = _file(_get(raw, "sdist", dict, where), where + ("sdist",), _FILE_KEYS, warnings)
        _check_sdist_name(sdist, name, version, where + ("sdist",))
    for i, wheel_raw in enumerate(_tables(raw, "wheels", where) or []):
        wheel = _file(wheel_raw, where + ("wheels", i), _FILE_KEYS, warnings)
        _check_wheel_name(wheel, name, version, where + ("wheels", i))
        wheels.append(wheel)
    if vcs is None and directory is None and archive is None and sdist is None and not wheels:
        raise _Invalid(
            where,
            f"(`{name}`) has no source",
            ("each package needs one of `vcs`, `directory`, `archive`, `sdist` or `wheels`",),
        )
    identities = _tables(raw, "attestation-identities", where) or []
    for i, identity in enumerate(identities):
        _get(identity, "kind", str, where + ("attestation-identities", i), required=True)
    return LockedPackage(
        name=name,
        version=version,
        marker=_marker(_get(raw, "marker", str, where), where + ("marker",)),
        requires_python=_specifier(_get(raw, "requires-python", str, where), where + ("requires-python",)),
        dependencies=dependencies,
        vcs=vcs,
        directory=directory,
        archive=archive,
        index=_get(raw, "index", str, where),
        sdist=sdist,
        wheels=wheels,
        attestation_identities=identities,
        tool=_get(raw, "tool", dict, where) or {},
        unknown=_unknown(raw, _PACKAGE_KEYS, where, warnings),
    )


def _file(raw: dict[str, Any], where: Path_, known: tuple[str, ...], warnings: list) -> LockedFile:
    url = _get(raw, "url", str, where)
    path = _get(raw, "path", str, where)
    if not url and not path:
        raise _Invalid(where, "needs a `url` or a `path`")
    hashes = _get(raw, "hashes", dict, where)
    if hashes is None:
        raise _Invalid(
            where + ("hashes",), "is required but missing", ("PEP 751 locks record a digest (sha256) for every file",)
        )
    if not hashes:
        raise _Invalid(where + ("hashes",), "is empty: at least one digest is required")
    for algorithm, digest in hashes.items():
        if not isinstance(digest, str) or not digest:
            raise _Invalid(where + ("hashes", algorithm), f"must be a non-empty string, not `{digest!r}`")
    size = _get(raw, "size", int, where)
    if size is not None and size < 0:
        raise _Invalid(where + ("size",), f"must not be negative: `{size}`")
    known_keys = known if "name" in known else known + ("name",)
    return LockedFile(
        name=_get(raw, "name", str, where),
        url=url,
        path=path,
        upload_time=_get(raw, "upload-time", datetime, where),
        size=size,
        hashes=hashes,
        subdirectory=_get(raw, "subdirectory", str, where) if "subdirectory" in known else None,
        unknown=_unknown(raw, known_keys, where, warnings),
    )


def _check_wheel_name(wheel: LockedFile, name: str, version: Version | None, where: Path_) -> None:
    filename = wheel.filename
    try:
        wheel_name, wheel_version, _, _ = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        raise _Invalid(where, f"is not a valid wheel file name: `{filename}`") from None
    _check_file_identity(filename, wheel_name, wheel_version, name, version, where)


def _check_sdist_name(sdist: LockedFile, name: str, version: Version | None, where: Path_) -> None:
    filename = sdist.filename
    try:
        sdist_name, sdist_version = parse_sdist_filename(filename)
    except InvalidSdistFilename:
        raise _Invalid(where, f"is not a valid sdist file name: `{filename}`") from None
    _check_file_identity(filename, sdist_name, sdist_version, name, version, where)


def _check_file_identity(filename: str, file_name: str, file_version: Version, name: str, version, where) -> None:
    if file_name != name:
        raise _Invalid(where, f"is a file of another package: `{filename}` is not `{name}`")
    if version is not None and file_version != version:
        raise _Invalid(where, f"is a file of another version: `{filename}` is not version `{version}`")


def _vcs(raw: dict[str, Any], where: Path_, warnings: list) -> VcsSource:
    url = _get(raw, "url", str, where)
    path = _get(raw, "path", str, where)
    if not url and not path:
        raise _Invalid(where, "needs a `url` or a `path`")
    return VcsSource(
        type=_get(raw, "type", str, where, required=True),
        commit_id=_get(raw, "commit-id", str, where, required=True),
        url=url,
        path=path,
        requested_revision=_get(raw, "requested-revision", str, where),
        subdirectory=_get(raw, "subdirectory", str, where),
        unknown=_unknown(raw, _VCS_KEYS, where, warnings),
    )


def _directory(raw: dict[str, Any], where: Path_, warnings: list) -> DirectorySource:
    return DirectorySource(
        path=_get(raw, "path", str, where, required=True),
        editable=_get(raw, "editable", bool, where),
        subdirectory=_get(raw, "subdirectory", str, where),
        unknown=_unknown(raw, _DIRECTORY_KEYS, where, warnings),
    )
