"""Pure: a resolution (and the files the index listed for it) → a ``Lock`` to write.

``lock_from_resolution`` takes what ``resolve.resolve_requirements`` returns — per package
the version, the file chosen and every file of that version — and records, per PEP 751:

* for an index package: every wheel and the sdist of the chosen version, each with its
  digests, size and upload time, and ``index`` (the simple-API URL it came from), so the lock
  installs on any platform the project publishes wheels for;
* for a direct reference: ``archive`` (a wheel or sdist URL / local file, with its digest) or
  ``directory`` (a local source tree; no ``version``, as PEP 751 requires);
* ``requires-python`` of each package (from the index) and of the lock (the caller's);
* ``dependencies``: who requires whom, inverted from the resolution's ``via`` records;
* ``[tool.pyx] requirements``: the requirements the lock was made from (``is_stale`` reads
  them to notice changed extras).

Credentials never reach the file: URLs are stripped of any user-info. Nothing here touches
the network; digests the index did not give can be passed in (``hashes``), e.g. computed
from local files by the caller.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from pyx_server.engine.config import strip_credentials
from pyx_server.engine.errors import LockFileError
from pyx_server.engine.lock.model import (
    LOCK_VERSION,
    DirectorySource,
    Lock,
    LockedDependency,
    LockedFile,
    LockedPackage,
    VcsSource,
)

__all__ = ["lock_from_resolution", "requirement_texts"]

_VCS_SCHEMES = ("git+", "hg+", "svn+", "bzr+")
_COMMIT = re.compile(r"^[0-9a-fA-F]{40}([0-9a-fA-F]{24})?$")


def lock_from_resolution(
    result: Any,
    *,
    requires_python: str | SpecifierSet | None = None,
    requirements: Iterable[Any] = (),
    environments: Sequence[str | Marker] | None = None,
    extras: Sequence[str] | None = None,
    dependency_groups: Sequence[str] | None = None,
    default_groups: Sequence[str] | None = None,
    created_by: str = "pyx",
    lock_dir: Path | None = None,
    editable: Collection[str] = (),
    hashes: Mapping[str, Mapping[str, str]] | None = None,
    tool: Mapping[str, Any] | None = None,
) -> Lock:
    """Build the lock for a resolution (a ``resolve.ResolveResult`` or any object with its
    ``resolution``, ``files`` and ``all_files``).

    ``requirements`` are the declared requirements (``Requirement``, ``RequirementSpec`` or
    text), recorded under ``[tool.pyx]``. ``lock_dir`` is where the lock will be written:
    local paths under it are recorded relative to it (PEP 751), others absolute.
    ``editable`` names the local trees installed in editable mode. ``hashes`` adds digests by
    file URL for files the index listed without one. Raises ``LockFileError`` when a package
    cannot be locked (no file with a digest, a VCS URL without a commit).
    """
    known_hashes = {strip_credentials(url): dict(h) for url, h in (hashes or {}).items()}
    editable_names = {canonicalize_name(n) for n in editable}
    required_by: dict[str, set[str]] = {}
    for name, resolved in result.resolution.items():
        for via in resolved.via:
            if via.name is not None:
                required_by.setdefault(canonicalize_name(via.name), set()).add(canonicalize_name(name))
    packages = []
    for name, resolved in result.resolution.items():
        key = canonicalize_name(name)
        chosen = result.files.get(key) if hasattr(result.files, "get") else None
        listed = tuple(result.all_files.get(key, ())) if hasattr(result.all_files, "get") else ()
        dependencies = [LockedDependency(name=dep) for dep in sorted(required_by.get(key, ())) if dep != key]
        candidate = resolved.candidate
        common: dict[str, Any] = {
            "name": key,
            "requires_python": candidate.requires_python,
            "dependencies": dependencies,
        }
        if candidate.url is not None:
            packages.append(
                _direct_package(
                    common, resolved, candidate.url, chosen, known_hashes, lock_dir, key in editable_names
                )
            )
        else:
            packages.append(_index_package(common, resolved, chosen, listed, known_hashes, lock_dir))
    tool_tables: dict[str, Any] = {k: v for k, v in (tool or {}).items()}
    texts = requirement_texts(requirements)
    if texts:
        pyx_table = dict(tool_tables.get("pyx", {}))
        pyx_table["requirements"] = texts
        tool_tables["pyx"] = pyx_table
    return Lock(
        lock_version=LOCK_VERSION,
        environments=environments,
        requires_python=SpecifierSet(str(requires_python)) if requires_python is not None else None,
        extras=extras,
        dependency_groups=dependency_groups,
        default_groups=default_groups,
        created_by=created_by,
        packages=packages,
        tool=tool_tables,
    )


def requirement_texts(requirements: Iterable[Any]) -> list[str]:
    """Requirements as sorted, de-duplicated PEP 508 strings (what ``[tool.pyx]`` records)."""
    return sorted({str(_requirement(r)) for r in requirements})


def _requirement(value: Any) -> Requirement:
    if isinstance(value, Requirement):
        return value
    inner = getattr(value, "requirement", None)  # a RequirementSpec
    if isinstance(inner, Requirement):
        return inner
    return Requirement(str(value))


def _index_package(
    common: dict[str, Any],
    resolved: Any,
    chosen: Any,
    listed: tuple[Any, ...],
    known_hashes: dict[str, dict[str, str]],
    lock_dir: Path | None,
) -> LockedPackage:
    name, version = common["name"], resolved.version
    files = list(listed) or ([chosen] if chosen is not None else [])
    wheels, sdists, unhashed = [], [], []
    for dist in files:
        digests = dict(dist.hashes) or known_hashes.get(strip_credentials(dist.url), {})
        if not digests:
            unhashed.append(dist.filename)
            continue
        locked = _locked_file(dist, digests, lock_dir)
        (wheels if dist.is_wheel else sdists).append((dist, locked))
    if chosen is not None and chosen.filename in unhashed:
        raise LockFileError(
            f"cannot lock `{name}=={version}`: the index gave no digest for `{chosen.filename}`",
            context={"package": name, "file": chosen.filename, "index": _clean(chosen.index) or ""},
            hints=["PEP 751 locks record a sha256 for every file; use an index that publishes hashes"],
        )
    if not wheels and not sdists:
        raise LockFileError(
            f"cannot lock `{name}=={version}`: no file of it has a known digest",
            context={"package": name},
            hints=["PEP 751 locks record a sha256 for every file; use an index that publishes hashes"],
        )
    sdist = None
    if sdists:
        # PEP 751 records one sdist: the one resolved from if it was an sdist, else .tar.gz first
        sdists.sort(
            key=lambda pair: (pair[0] is not chosen, not pair[0].filename.endswith(".tar.gz"), pair[0].filename)
        )
        sdist = sdists[0][1]
    source = chosen if chosen is not None else files[0]
    return LockedPackage(
        **common,
        version=version,
        index=_clean(source.index),
        sdist=sdist,
        wheels=[locked for _, locked in wheels],
    )


def _direct_package(
    common: dict[str, Any],
    resolved: Any,
    url: str,
    chosen: Any,
    known_hashes: dict[str, dict[str, str]],
    lock_dir: Path | None,
    editable: bool,
) -> LockedPackage:
    name = common["name"]
    url = strip_credentials(url)
    if url.startswith(_VCS_SCHEMES):
        return LockedPackage(**common, version=resolved.version, vcs=_vcs_source(name, url))
    if chosen is None:
        local = _local_path(url)
        if local is None:
            raise LockFileError(
                f"cannot lock `{name}` from `{url}`: it is neither a wheel, an sdist nor a local directory",
                context={"package": name, "url": url},
            )
        fragment = url.partition("#")[2]
        subdirectory = _fragment_value(fragment, "subdirectory")
        return LockedPackage(
            **common,
            directory=DirectorySource(
                path=_portable(local, lock_dir), editable=True if editable else None, subdirectory=subdirectory
            ),
        )
    digests = dict(chosen.hashes) or known_hashes.get(strip_credentials(chosen.url), {})
    if not digests:
        raise LockFileError(
            f"cannot lock `{name}` from `{url}`: no digest is known for it",
            context={"package": name, "url": url},
            hints=[f"add the digest to the URL: `{url.split('#')[0]}#sha256=<hex>`"],
        )
    archive = _locked_file(chosen, digests, lock_dir)
    return LockedPackage(**common, version=resolved.version, archive=archive)


def _locked_file(dist: Any, digests: Mapping[str, str], lock_dir: Path | None) -> LockedFile:
    url = strip_credentials(dist.url)
    local = _local_path(url) if url.startswith("file:") else None
    if local is not None:
        path: str | None = _portable(local, lock_dir)
        url_value: str | None = None
        tail = local.name
    else:
        path, url_value = None, url
        tail = unquote(urlsplit(url).path.rpartition("/")[2])
    return LockedFile(
        name=dist.filename if dist.filename != tail else None,
        url=url_value,
        path=path,
        upload_time=getattr(dist, "upload_time", None),
        size=getattr(dist, "size", None),
        hashes={algorithm.lower(): digest for algorithm, digest in digests.items()},
    )


def _vcs_source(name: str, url: str) -> VcsSource:
    kind, _, rest = url.partition("+")
    rest, _, fragment = rest.partition("#")
    parts = urlsplit(rest)
    location, at, revision = parts.path.rpartition("@")
    if not at or not _COMMIT.match(revision):
        raise LockFileError(
            f"cannot lock `{name}` from `{url}`: a VCS source is locked at a full commit id",
            context={"package": name, "url": url},
            hints=[f"pin the commit: `{kind}+{parts.scheme}://{parts.netloc}{location or parts.path}@<commit>`"],
        )
    return VcsSource(
        type=kind,
        commit_id=revision.lower(),
        url=parts._replace(path=location, fragment="").geturl(),
        subdirectory=_fragment_value(fragment, "subdirectory"),
    )


def _fragment_value(fragment: str, key: str) -> str | None:
    for part in fragment.split("&"):
        k, _, v = part.partition("=")
        if k == key and v:
            return v
    return None


def _local_path(url: str) -> Path | None:
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    from urllib.request import url2pathname  # imported here: it pulls in http.client and ssl

    return Path(url2pathname(unquote(parts.path)))


def _portable(path: Path, lock_dir: Path | None) -> str:
    """Relative to the lock's directory with ``/`` separators when under it, else absolute."""
    if lock_dir is not None:
        try:
            relative = os.path.relpath(path.resolve(), Path(lock_dir).resolve())
        except ValueError:  # another drive on Windows
            return path.as_posix()
        if not relative.startswith(".."):
            return Path(relative).as_posix()
    return path.as_posix()


def _clean(index: str | None) -> str | None:
    """The index URL as a lock records it: no credentials (nor the ``****@`` redaction)."""
    if not index:
        return None
    return strip_credentials(index)
