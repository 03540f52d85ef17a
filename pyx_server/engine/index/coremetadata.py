"""Core metadata as an index serves it: parsed strictly, read out of archives, summed up for resolving.

Strict where resolving depends on a field (name, version, ``Requires-Dist``,
``Requires-Python``, ``Provides-Extra``), lenient about the rest; ``DependencyFields`` is
what resolving reads of it, stored beside the metadata file.

No network here: the index client hands in bytes (a PEP 658 file, a wheel's tail) or the path
of a file it has (a ``file://`` wheel, a download).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name
from packaging.version import Version

from pyx_server.engine.cache import read_json
from pyx_server.engine.config import redact_url
from pyx_server.engine.errors import InvalidMetadata, InvalidWheel
from pyx_server.engine.index.distfile import DistFile

if TYPE_CHECKING:
    from packaging.metadata import Metadata


@dataclass(frozen=True)
class DependencyFields:
    """The core metadata fields a resolution reads, as validated text: ``Requires-Dist``,
    ``Requires-Python`` and ``Provides-Extra`` (canonical names; None when not listed)."""

    requires_dist: tuple[str, ...]
    requires_python: str | None
    provides_extra: tuple[str, ...] | None

    @classmethod
    def of(cls, metadata: Metadata) -> DependencyFields:
        extras = metadata.provides_extra
        return cls(
            requires_dist=tuple(str(r) for r in metadata.requires_dist or ()),
            requires_python=str(metadata.requires_python) if metadata.requires_python is not None else None,
            provides_extra=tuple(canonicalize_name(e) for e in extras) if extras is not None else None,
        )

    def dump(self, metadata_sha256: str) -> dict[str, Any]:
        return {"format": 1, "metadata_sha256": metadata_sha256, **asdict(self)}

    @classmethod
    def load(cls, path: Path, metadata_sha256: str) -> DependencyFields | None:
        """The fields stored at ``path`` for the metadata with this sha256; None for anything else."""
        data = read_json(path)
        if not isinstance(data, dict) or data.get("format") != 1 or data.get("metadata_sha256") != metadata_sha256:
            return None
        requires, python, extras = data.get("requires_dist"), data.get("requires_python"), data.get("provides_extra")
        if not (isinstance(requires, list) and all(isinstance(r, str) for r in requires)):
            return None
        if not (python is None or isinstance(python, str)):
            return None
        if not (extras is None or (isinstance(extras, list) and all(isinstance(e, str) for e in extras))):
            return None
        return cls(tuple(requires), python, tuple(extras) if extras is not None else None)


def hashes_match(expected: Mapping[str, str] | bool, data: bytes) -> bool:
    if not isinstance(expected, Mapping):
        return True
    checked = False
    for algorithm, value in expected.items():
        if algorithm in hashlib.algorithms_available:
            checked = True
            if hashlib.new(algorithm, data).hexdigest() != value.lower():
                return False
    return checked or not expected


def read_archive_metadata(path: Path, file: DistFile) -> bytes:
    """``METADATA`` of a wheel, or ``PKG-INFO`` of an sdist."""
    import tarfile
    import zipfile

    try:
        if file.is_wheel:
            with zipfile.ZipFile(path) as zf:
                candidates = [
                    n
                    for n in zf.namelist()
                    if n.count("/") == 1
                    and n.endswith(".dist-info/METADATA")
                    and canonicalize_name(n.split("/")[0][: -len(".dist-info")].rpartition("-")[0]) == file.name
                ]
                if len(candidates) != 1:
                    raise InvalidWheel(
                        f"`{file.filename}` has {'no' if not candidates else 'more than one'} "
                        f"`*.dist-info/METADATA` for `{file.name}`",
                        context={"file": file.filename},
                    )
                return zf.read(candidates[0])
        return _read_sdist_pkg_info(path, file)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidWheel(
            f"`{file.filename}` is not a readable archive",
            context={"file": file.filename},
            detail=str(exc),
        ) from None


def _read_sdist_pkg_info(path: Path, file: DistFile) -> bytes:
    import tarfile
    import zipfile

    data: bytes | None = None
    if file.filename.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith("/PKG-INFO")]
            if names:
                data = zf.read(names[0])
    else:
        with tarfile.open(path, "r:*") as tf:
            for member in tf:
                if member.isfile() and member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                    extracted = tf.extractfile(member)
                    data = extracted.read() if extracted else None
                    break
    if data is None:
        raise InvalidMetadata(
            f"`{file.filename}` has no `PKG-INFO`",
            context={"file": file.filename},
            hints=["the sdist must be built to learn its metadata"],
        )
    meta = parse_metadata(data, file)
    static = Version(meta.metadata_version) >= Version("2.2") and not {
        "requires-dist",
        "requires-python",
        "provides-extra",
    } & {d.lower() for d in (meta.dynamic or [])}
    if not static:
        raise InvalidMetadata(
            f"`{file.filename}` does not declare static metadata (Metadata-Version "
            f"`{meta.metadata_version}`); it must be built to learn its dependencies",
            context={"file": file.filename},
            hints=["prefer a wheel of this version, or let pyx build the sdist"],
        )
    return data


def metadata_from_zip(data: bytes, file: DistFile) -> bytes:
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
            if len(names) != 1:
                raise InvalidMetadata(f"`{file.filename}` has no single `.dist-info/METADATA`")
            return zf.read(names[0])
    except zipfile.BadZipFile as exc:
        raise InvalidMetadata(f"`{file.filename}` is not a readable wheel: {exc}") from None


def parse_metadata(data: bytes, file: DistFile) -> Metadata:
    """Core metadata, strict about the fields resolution needs and lenient about the rest.

    Only the header fields are parsed: the message body is the long description (often a
    whole README, most of the bytes), which nothing pyx does with index metadata reads.
    """
    from packaging.metadata import Metadata  # with the email parser: only when a file is parsed

    try:
        meta = Metadata.from_email(_header_fields(data), validate=False)
        # touch (and so validate) what resolving depends on
        name, version = meta.name, meta.version
        meta.requires_dist, meta.requires_python, meta.provides_extra, meta.dynamic  # noqa: B018
    except Exception as exc:  # packaging raises InvalidMetadata / ExceptionGroup / ValueError
        raise InvalidMetadata(
            f"invalid metadata in `{file.filename}`: {_describe_metadata_error(exc)}",
            context={"file": file.filename, "url": redact_url(file.url)},
            detail=str(exc),
        ) from None
    if canonicalize_name(name) != file.name or version != file.version:
        raise InvalidMetadata(
            f"metadata of `{file.filename}` describes `{name} {version}`, not `{file.name} {file.version}`",
            context={"file": file.filename, "url": redact_url(file.url)},
        )
    return meta


def _header_fields(data: bytes) -> bytes:
    """The header block of a core metadata file, up to and including the empty line that ends it."""
    ends = [i + len(sep) for sep in (b"\n\n", b"\r\n\r\n") if (i := data.find(sep)) >= 0]
    return data[: min(ends)] if ends else data


def _describe_metadata_error(exc: BaseException) -> str:
    inner = getattr(exc, "exceptions", None)
    if inner:
        return "; ".join(str(e) for e in inner)
    return str(exc) or type(exc).__name__
