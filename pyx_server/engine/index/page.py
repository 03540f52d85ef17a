"""A project's page as data: files grouped by version, made into ``DistFile``s on demand; stored pages.

Pure. A page can list thousands of files (numpy's lists more than 4,000) of which a
resolution uses a handful, so a ``ProjectPage`` keeps its files as tuples of plain values,
grouped by version: a short ``Brief`` of each (what choosing among a version's files needs),
the rest apart, and makes a ``DistFile`` of a file only when asked. Plain values also make a
parsed page cheap to store and to load again (``dump_page`` / ``load_page``): an index that
serves the same bytes again need not be parsed again. ``simple`` parses pages into this form.
"""

from __future__ import annotations

import marshal
import zlib
from collections.abc import Container, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

from packaging.version import Version

from pyx_server.engine.index.distfile import (
    DistFile,
    dist_from_parsed,
    json_details,
    parse_dist_filename,
    parse_upload_time,
    tag_text,
    version_part,
)


#: What choosing among the files of a version needs, per file: ``(filename, tags, yanked,
#: yanked_reason, requires_python)``, ``tags`` being a wheel's tag triple as its name writes
#: it (``py3-none-any``), None for an sdist. Index with the constants below.
Brief = tuple
FILENAME, TAGS, YANKED, YANKED_REASON, REQUIRES_PYTHON = range(5)
# The rest of a file's facts, ``(url, index, hashes, metadata, size, upload_time)`` with
# DistFile's meanings (``upload_time`` may still be the page's text), kept per version.
_UPLOAD_TIME = 5


class ProjectPage:
    """One project's page on one index: the files it lists (valid names only), by version.

    ``groups`` pairs each version, as its files' names spell it, with a ``Brief`` of each of
    its files (page order within a version; a file name listed twice: its first listing). The
    rest of the facts is kept per version, still marshalled in a page ``load_page`` read, and
    decoded when a ``DistFile`` of that version is made. ``files`` makes them all;
    ``releases`` makes none.
    """

    __slots__ = ("name", "source", "versions", "groups", "page_url", "_details", "_files",
                 "variant_wheels", "variants_json")

    def __init__(
        self,
        name: str,
        source: str,
        groups: Sequence[tuple[str, Sequence[Brief]]],
        details: Iterable[Sequence[tuple | Mapping[str, Any]] | bytes],
        versions: tuple[str, ...] = (),
        page_url: str = "",
        variant_wheels: tuple[DistFile, ...] = (),
        variants_json: tuple[DistFile, ...] = (),
    ) -> None:
        self.name = name
        #: redacted URL of the index the page came from
        self.source = source
        self.groups = groups
        #: per group, the other facts of its files: detail tuples, or the PEP 691 entries
        #: they are read from (relative to ``page_url``), or the marshal bytes of either
        self._details = list(details)
        #: PEP 700 ``versions`` (JSON pages only); empty when the index does not say
        self.versions = versions
        self.page_url = page_url
        self._files: tuple[DistFile, ...] | None = None
        #: PEP 825 variant-labelled wheels (never in ``files``: only variant-aware code may pick them)
        self.variant_wheels = variant_wheels
        #: PEP 825 ``{name}-{version}-variants.json`` files the page links (their ``version`` says which)
        self.variants_json = variants_json

    @classmethod
    def from_files(cls, name: str, files: Iterable[DistFile], source: str, versions: tuple[str, ...] = ()) -> ProjectPage:
        """A page of already-made ``DistFile`` records (HTML pages, find-links locations)."""
        grouped: dict[str, tuple[list[Brief], list[tuple]]] = {}
        seen: set[str] = set()
        for dist in files:
            if dist.filename in seen:
                continue
            seen.add(dist.filename)
            briefs, details = grouped.setdefault(str(dist.version), ([], []))
            tags = tag_text(dist.filename) if dist.is_wheel else None
            briefs.append((dist.filename, tags, dist.yanked, dist.yanked_reason, dist.requires_python))
            details.append((dist.url, dist.index, dist.hashes, dist.metadata, dist.size, dist.upload_time))
        groups = tuple((text, tuple(briefs)) for text, (briefs, _) in grouped.items())
        return cls(name, source, groups, (tuple(details) for _, details in grouped.values()), versions)

    @property
    def files(self) -> tuple[DistFile, ...]:
        """Every file as a ``DistFile``, version by version (made once, on first use)."""
        if self._files is None:
            page_url, source = self.page_url, self.source
            self._files = tuple(
                _make_dist(brief, detail, page_url, source)
                for group, (_, briefs) in enumerate(self.groups)
                for brief, detail in zip(briefs, self._group_details(group))
            )
        return self._files

    def releases(self) -> dict[Version, Release]:
        """The files of each version (``1.0`` and ``1.0.0`` are one version), as briefs."""
        return merge_releases((self,))

    def only(self, versions: Container[Version]) -> ProjectPage:
        """The same page with only the files of ``versions``."""
        keep = [i for i, (text, _) in enumerate(self.groups) if version_part(text) in versions]
        return ProjectPage(
            self.name,
            self.source,
            tuple(self.groups[i] for i in keep),
            [self._details[i] for i in keep],
            self.versions,
            self.page_url,
            tuple(f for f in self.variant_wheels if f.version in versions),
            tuple(f for f in self.variants_json if f.version in versions),
        )

    def dist(self, group: int, position: int) -> DistFile:
        """The ``DistFile`` of one file: the ``position``-th brief of the ``group``-th version."""
        detail = self._group_details(group)[position]
        return _make_dist(self.groups[group][1][position], detail, self.page_url, self.source)

    def detail(self, group: int, position: int) -> tuple:
        """The facts of one file beyond its brief: ``(url, index, hashes, metadata, size, upload_time)``."""
        detail = self._group_details(group)[position]
        return detail if isinstance(detail, tuple) else json_details(detail, self.page_url, self.source)

    def _group_details(self, group: int) -> Sequence[tuple | Mapping[str, Any]]:
        details = self._details[group]
        if isinstance(details, bytes):
            details = self._details[group] = marshal.loads(details)
        return details


def _make_dist(brief: Brief, detail: tuple | Mapping[str, Any], page_url: str, source: str) -> DistFile:
    filename, _, yanked, yanked_reason, requires_python = brief
    url, index, hashes, metadata, size, upload_time = (
        detail if isinstance(detail, tuple) else json_details(detail, page_url, source)
    )
    parsed = parse_dist_filename(filename)
    if parsed is None:  # pragma: no cover - pages keep only valid names
        raise ValueError(f"`{filename}` is not a valid wheel or sdist file name")
    return dist_from_parsed(
        parsed,
        filename=filename,
        url=url,
        index=index,
        hashes=hashes,
        requires_python=requires_python,
        yanked=yanked,
        yanked_reason=yanked_reason,
        metadata=metadata,
        size=size,
        upload_time=parse_upload_time(upload_time) if isinstance(upload_time, str) else upload_time,
    )


class Release:
    """The files of one version, from one page or several: ``files`` holds their briefs.

    ``dist``/``dists`` make ``DistFile`` records; until then the rest of each file's facts
    stays with its page.
    """

    __slots__ = ("files", "_parts")

    def __init__(self) -> None:
        self.files: list[Brief] = []
        #: (page, group, index in ``files`` of the part's first file, positions in the group or None: all)
        self._parts: list[tuple[ProjectPage, int, int, list[int] | None]] = []

    def add(self, page: ProjectPage, group: int, positions: list[int] | None = None) -> None:
        """Add the files of one page's group (those at ``positions`` only, when given)."""
        briefs = page.groups[group][1]
        self._parts.append((page, group, len(self.files), positions))
        self.files.extend(briefs if positions is None else [briefs[i] for i in positions])

    def dist(self, index: int) -> DistFile:
        """The ``DistFile`` of ``files[index]``."""
        for page, group, start, positions in reversed(self._parts):
            if index >= start:
                offset = index - start
                return page.dist(group, offset if positions is None else positions[offset])
        raise IndexError(index)

    def dists(self) -> tuple[DistFile, ...]:
        return tuple(self.dist(i) for i in range(len(self.files)))

    def upload_times(self) -> list[datetime | None]:
        """When each file was uploaded (PEP 700), where the page says, in ``files`` order."""
        times: list[datetime | None] = []
        for page, group, _, positions in self._parts:
            for position in range(len(page.groups[group][1])) if positions is None else positions:
                value = page.detail(group, position)[_UPLOAD_TIME]
                times.append(parse_upload_time(value) if isinstance(value, str) else value)
        return times


def merge_releases(pages: Sequence[ProjectPage]) -> dict[Version, Release]:
    """The files of each version across ``pages`` (priority order: a file name's first listing wins)."""
    out: dict[Version, Release] = {}
    seen: set[str] | None = set() if len(pages) > 1 else None
    for page in pages:
        for group, (text, briefs) in enumerate(page.groups):
            version = version_part(text)
            if version is None:  # pragma: no cover - pages keep only valid versions
                continue
            positions = None
            if seen is not None:
                positions = [i for i, brief in enumerate(briefs) if brief[FILENAME] not in seen]
                seen.update(briefs[i][FILENAME] for i in positions)
                if not positions:
                    continue
                if len(positions) == len(briefs):
                    positions = None
            release = out.get(version)
            if release is None:
                release = out[version] = Release()
            release.add(page, group, positions)
    return out


#: the stored form of a parsed page; bump when it changes (the brief or detail layout, what a page keeps)
PAGE_FORMAT = 3
_PAGE_MAGIC = b"pyx-page\n"


def dump_page(page: ProjectPage, body_sha256: str, page_url: str) -> bytes:
    """A page parsed from the body with this sha256, fetched from ``page_url``, as bytes to store.

    ``marshal`` (the format of Python's own byte-code cache) loads a page many times faster
    than the JSON it came from; each version's details stay marshalled until they are used,
    so loading makes little more than one brief per file. A CRC guards against damage.
    ``ValueError`` when a file's facts hold something else than plain values.
    """
    details = tuple(d if isinstance(d, bytes) else marshal.dumps(d) for d in page._details)
    payload = marshal.dumps(
        (PAGE_FORMAT, body_sha256, page_url, page.name, page.source, page.versions, page.groups, details)
    )
    return _PAGE_MAGIC + zlib.crc32(payload).to_bytes(4, "big") + payload


def load_page(data: bytes, body_sha256: str, page_url: str, source: str) -> ProjectPage | None:
    """The page ``dump_page`` stored, if it was parsed from exactly this body at this URL for this index.

    Anything else is a miss (None): another body, URL or index, another format, damaged bytes.
    """
    start = len(_PAGE_MAGIC) + 4
    if not data.startswith(_PAGE_MAGIC) or len(data) < start:
        return None
    payload = memoryview(data)[start:]
    if zlib.crc32(payload) != int.from_bytes(data[start - 4 : start], "big"):
        return None
    try:
        stored = marshal.loads(payload)
        form, sha256, url, name, stored_source, versions, groups, details = stored
    except (EOFError, ValueError, TypeError):
        return None
    if (form, sha256, url, stored_source) != (PAGE_FORMAT, body_sha256, page_url, source):
        return None
    return ProjectPage(name, source, groups, details, versions, page_url)
