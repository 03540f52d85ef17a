"""Writing ``pylock.toml``: a ``Lock`` → deterministic TOML (built with tomlkit), written atomically.

The layout is fixed so that a lock diffs well and rewriting it changes no byte:

* keys in the order the specification lists them (``lock-version``, ``environments``,
  ``requires-python``, ``extras``, ``dependency-groups``, ``default-groups``, ``created-by``,
  ``[[packages]]``, ``[tool]``; inside a package ``name``, ``version``, ``marker``,
  ``requires-python``, ``dependencies``, ``vcs``/``directory``/``archive``, ``index``,
  ``sdist``, ``wheels``, ``attestation-identities``, ``tool``);
* packages sorted by name then version (the model keeps them so);
* files as uv writes them: ``sdist = { … }`` and ``wheels = [{ … }]`` inline tables, one wheel
  per line when there are several, ``hashes = { sha256 = "…" }`` inline;
* upload times in UTC with a ``Z``; markers with single-quoted values (``sys_platform ==
  'linux'``) so they sit in a plain TOML string, as uv writes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomlkit
from packaging.markers import Marker

from pyx_server.engine.cache import atomic_write_bytes
from pyx_server.engine.lock.model import DirectorySource, Lock, LockedDependency, LockedFile, LockedPackage, VcsSource

if TYPE_CHECKING:
    from tomlkit.items import Array, InlineTable, Item, Table

__all__ = ["dumps_lock", "write_lock"]


def write_lock(lock: Lock, path: Path | str) -> Path:
    """Write ``lock`` to ``path`` atomically (temporary file + ``os.replace``); returns the path."""
    path = Path(path)
    atomic_write_bytes(path, dumps_lock(lock).encode("utf-8"))
    return path


def dumps_lock(lock: Lock) -> str:
    """The TOML text of ``lock``, byte-for-byte the same for equal locks."""
    doc = tomlkit.document()
    doc["lock-version"] = lock.lock_version
    if lock.environments is not None:
        doc["environments"] = _array([marker_text(m) for m in lock.environments])
    if lock.requires_python is not None:
        doc["requires-python"] = str(lock.requires_python)
    for key, values in (
        ("extras", lock.extras),
        ("dependency-groups", lock.dependency_groups),
        ("default-groups", lock.default_groups),
    ):
        if values is not None:
            doc[key] = _array(list(values))
    doc["created-by"] = lock.created_by
    for key, value in lock.unknown.items():
        doc[key] = _inline_value(value)
    if lock.packages:
        packages = tomlkit.aot()
        for package in lock.packages:
            packages.append(_package(package))
        doc["packages"] = packages
    else:
        doc["packages"] = tomlkit.array()  # required even when empty
    if lock.tool:
        doc["tool"] = _tool(lock.tool)
    return doc.as_string()


def marker_text(marker: Marker) -> str:
    """A marker as uv writes it in a lock: single-quoted values inside a plain string."""
    text = str(marker)
    return text.replace('"', "'") if "'" not in text else text


def _package(package: LockedPackage) -> Table:
    table = tomlkit.table()
    table["name"] = str(package.name)
    if package.version is not None:
        table["version"] = str(package.version)
    if package.marker is not None:
        table["marker"] = marker_text(package.marker)
    if package.requires_python is not None:
        table["requires-python"] = str(package.requires_python)
    if package.dependencies:
        table["dependencies"] = _array([_dependency(d) for d in package.dependencies])
    if package.vcs is not None:
        table["vcs"] = _vcs(package.vcs)
    if package.directory is not None:
        table["directory"] = _directory(package.directory)
    if package.archive is not None:
        table["archive"] = _file(package.archive, archive=True)
    if package.index is not None:
        table["index"] = package.index
    if package.sdist is not None:
        table["sdist"] = _file(package.sdist)
    if package.wheels:
        table["wheels"] = _array([_file(w) for w in package.wheels])
    for key, value in package.unknown.items():
        table[key] = _inline_value(value)
    if package.attestation_identities:
        identities = tomlkit.aot()
        for identity in package.attestation_identities:
            entry = tomlkit.table()
            for key, value in identity.items():
                entry[key] = _inline_value(value)
            identities.append(entry)
        table["attestation-identities"] = identities
    if package.tool:
        table["tool"] = _tool(package.tool)
    return table


def _dependency(dependency: LockedDependency) -> InlineTable:
    pairs: list[tuple[str, Any]] = [("name", str(dependency.name))]
    if dependency.version is not None:
        pairs.append(("version", str(dependency.version)))
    pairs.extend(dependency.unknown.items())
    return _inline(pairs)


def _file(file: LockedFile, *, archive: bool = False) -> InlineTable:
    upload = _datetime(file.upload_time) if file.upload_time is not None else None
    if archive:
        pairs = [
            ("name", file.name),
            ("url", file.url),
            ("path", file.path),
            ("size", file.size),
            ("upload-time", upload),
            ("hashes", _inline(file.hashes.items())),
            ("subdirectory", file.subdirectory),
        ]
    else:
        pairs = [
            ("name", file.name),
            ("upload-time", upload),
            ("url", file.url),
            ("path", file.path),
            ("size", file.size),
            ("hashes", _inline(file.hashes.items())),
        ]
    return _inline([*pairs, *file.unknown.items()])


def _vcs(vcs: VcsSource) -> InlineTable:
    return _inline(
        [
            ("type", vcs.type),
            ("url", vcs.url),
            ("path", vcs.path),
            ("requested-revision", vcs.requested_revision),
            ("commit-id", vcs.commit_id),
            ("subdirectory", vcs.subdirectory),
            *vcs.unknown.items(),
        ]
    )


def _directory(directory: DirectorySource) -> InlineTable:
    return _inline(
        [
            ("path", directory.path),
            ("editable", directory.editable),
            ("subdirectory", directory.subdirectory),
            *directory.unknown.items(),
        ]
    )


def _datetime(value: datetime) -> Item:
    """UTC with a ``Z``, microseconds only when there are some (what uv writes)."""
    value = value.astimezone(timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return tomlkit.datetime(text + "Z")


def _inline(pairs: Iterable[tuple[str, Any]]) -> InlineTable:
    """An inline table spaced as uv spaces them: ``{ a = 1, b = 2 }``; None values left out."""
    table = tomlkit.inline_table()
    for key, value in pairs:
        if value is None:
            continue
        table.append(key, value if isinstance(value, tomlkit.items.Item) else _inline_value(value))
    body = [item for key, item in table.value.body if key is not None]
    if body:
        body[0].trivia.indent = " "
        body[-1].trivia.trail = " "
    return table


def _array(values: list[Any]) -> Array:
    """An array on one line when it holds one element, else one element per line (uv's style)."""
    array = tomlkit.array()
    for value in values:
        array.append(value if isinstance(value, tomlkit.items.Item) else _inline_value(value))
    if len(values) > 1:
        array.multiline(True)
    return array


def _inline_value(value: Any) -> Item:
    """Any TOML value, with tables inline (for unknown keys kept inside a package or file)."""
    if isinstance(value, tomlkit.items.Item):
        return value
    if isinstance(value, Mapping):
        return _inline(value.items())
    if isinstance(value, (list, tuple)):
        array = tomlkit.array()
        for element in value:
            array.append(_inline_value(element))
        return array
    return tomlkit.item(value)


def _tool(tool: Mapping[str, Any]) -> Table:
    """``[tool]`` as ordinary tables (``[tool.pyx]``), the way pyproject.toml writes them."""
    table = tomlkit.table(is_super_table=True)
    for key, value in tool.items():
        table[key] = tomlkit.item(value)
    return table
