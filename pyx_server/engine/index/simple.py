"""Pure parsing of index pages into ``DistFile`` records: PEP 691 JSON, PEP 503 HTML, flat listings.

No I/O here: callers hand in the bytes (or the file names of a directory) plus the URL the
page came from, which relative links are resolved against. What is understood:

* PEP 592 yanked files (``data-yanked`` / ``"yanked": true | "reason"``);
* PEP 658 / 714 metadata files (``data-core-metadata`` preferred over the older
  ``data-dist-info-metadata``; JSON ``core-metadata`` over ``dist-info-metadata``), with hashes;
* PEP 700 ``versions``, ``size`` and ``upload-time``;
* ``data-requires-python`` (HTML entities are unescaped by the parser), ``#sha256=`` fragments,
  ``<base href>``;
* PEP 825 wheel variants: variant-labelled wheels and ``{name}-{version}-variants.json`` files,
  kept apart in ``ProjectPage.variant_wheels`` / ``variants_json`` (see the last section).

Anchors whose file name is not a valid wheel or sdist name (``packaging.utils``) are
dropped, as are files of another project on a project page. A variant-labelled wheel is
not a valid name to an installer that does not read variants (PEP 825 made it so on
purpose), so it never appears in ``ProjectPage.files``: only code that judges variants asks
for them.

A page can list thousands of files (numpy's lists more than 4,000) of which a resolution
uses a handful, so a ``ProjectPage`` keeps its files as tuples of plain values, grouped by
version: a short ``Brief`` of each (what choosing among a version's files needs), the rest
apart, and makes a ``DistFile`` of a file only when asked. Plain values also make a parsed
page cheap to store and to load again (``dump_page`` / ``load_page``): an index that serves
the same bytes again need not be parsed again.
"""

from __future__ import annotations

import json
import marshal
import re
import zlib
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urljoin, urlsplit

if TYPE_CHECKING:
    from datetime import datetime  # parsed on demand: a warm install reads no upload times

from packaging.tags import Tag, parse_tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_CONTENT_TYPES = ("application/vnd.pypi.simple.v1+html", "text/html")
#: what the index client asks for: JSON preferred, HTML accepted
ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"


@dataclass(frozen=True)
class DistFile:
    """One downloadable file of a project, as an index or a find-links location lists it."""

    filename: str
    #: where to fetch it: never carries credentials (the HTTP layer adds them per host)
    url: str
    #: redacted URL of the index / find-links location that listed it
    index: str
    hashes: Mapping[str, str] = field(default_factory=dict)
    requires_python: str | None = None
    yanked: bool = False
    yanked_reason: str | None = None
    #: PEP 658: False = no metadata file; True = offered without hash; a mapping = its hashes
    metadata: Mapping[str, str] | bool = False
    size: int | None = None
    upload_time: datetime | None = None

    def __hash__(self) -> int:  # the mappings make the generated hash impossible
        return hash((self.filename, self.url, self.index))

    @cached_property
    def _parsed(self) -> tuple[NormalizedName, Version, frozenset[Tag]]:
        parsed = parse_dist_filename(self.filename) or _variant_file_parts(self.filename)
        if parsed is None:
            raise ValueError(f"`{self.filename}` is not a valid wheel or sdist file name")
        return parsed

    @property
    def name(self) -> NormalizedName:
        """The canonical project name from the file name."""
        return self._parsed[0]

    @property
    def version(self) -> Version:
        return self._parsed[1]

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    @property
    def variant_label(self) -> str | None:
        """The PEP 825 variant label of a variant wheel (``cu128``, ``null``); None for other files."""
        if not self.is_wheel:
            return None
        from pyx_server.engine.install.wheel import split_variant_label

        return split_variant_label(self.filename)[1]

    @property
    def tags(self) -> frozenset[Tag]:
        """The wheel's compatibility tags (empty for an sdist)."""
        return self._parsed[2]

    @property
    def metadata_url(self) -> str | None:
        """The PEP 658 metadata file's URL, when the index offers one."""
        return self.url + ".metadata" if self.metadata is not False else None


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
            tags = _tag_text(dist.filename) if dist.is_wheel else None
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
        keep = [i for i, (text, _) in enumerate(self.groups) if _version_part(text) in versions]
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
        return detail if isinstance(detail, tuple) else _json_details(detail, self.page_url, self.source)

    def _group_details(self, group: int) -> Sequence[tuple | Mapping[str, Any]]:
        details = self._details[group]
        if isinstance(details, bytes):
            details = self._details[group] = marshal.loads(details)
        return details


def _make_dist(brief: Brief, detail: tuple | Mapping[str, Any], page_url: str, source: str) -> DistFile:
    filename, _, yanked, yanked_reason, requires_python = brief
    url, index, hashes, metadata, size, upload_time = (
        detail if isinstance(detail, tuple) else _json_details(detail, page_url, source)
    )
    parsed = parse_dist_filename(filename)
    if parsed is None:  # pragma: no cover - pages keep only valid names
        raise ValueError(f"`{filename}` is not a valid wheel or sdist file name")
    return _dist(
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
        upload_time=_parse_time(upload_time) if isinstance(upload_time, str) else upload_time,
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
                times.append(_parse_time(value) if isinstance(value, str) else value)
        return times


def merge_releases(pages: Sequence[ProjectPage]) -> dict[Version, Release]:
    """The files of each version across ``pages`` (priority order: a file name's first listing wins)."""
    out: dict[Version, Release] = {}
    seen: set[str] | None = set() if len(pages) > 1 else None
    for page in pages:
        for group, (text, briefs) in enumerate(page.groups):
            version = _version_part(text)
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


def wheel_tags(text: str) -> frozenset[Tag]:
    """The tags of a wheel's tag triple as its name writes it (``cp311-cp311-manylinux_2_17_x86_64``)."""
    return _tags_part(text)


# A page lists thousands of files but few distinct names, versions and tag sets: parse each
# part once (packaging does the parsing), so most files cost a split and three dict lookups.
_WHEEL_NAME_PART = re.compile(r"^[\w\d._]*$", re.UNICODE)


@lru_cache(maxsize=256)
def _name_part(text: str) -> NormalizedName | None:
    if "__" in text or _WHEEL_NAME_PART.match(text) is None:
        return None
    try:
        return canonicalize_name(text, validate=True)
    except ValueError:
        return None


@lru_cache(maxsize=8192)
def _version_part(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


@lru_cache(maxsize=8192)
def _tags_part(text: str) -> frozenset[Tag]:
    return frozenset(parse_tag(text))


def _wheel_parts(name: str, version: str, tags: str) -> tuple[NormalizedName, Version, frozenset[Tag]] | None:
    canonical = _name_part(name)
    parsed_version = _version_part(version)
    if canonical is None or parsed_version is None:
        return None
    return canonical, parsed_version, _tags_part(tags)


def parse_dist_filename(filename: str) -> tuple[NormalizedName, Version, frozenset[Tag]] | None:
    """(canonical name, version, wheel tags) of a wheel or sdist file name; None if it is neither."""
    try:
        if filename.endswith(".whl"):
            parts = filename[:-4].split("-")
            if len(parts) == 5 or (len(parts) == 6 and parts[2][:1].isdigit()):
                return _wheel_parts(parts[0], parts[1], "-".join(parts[-3:]))
            name, version, _build, tags = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
            tags = frozenset()
        canonicalize_name(name, validate=True)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion, ValueError):
        return None
    return name, version, frozenset(tags)


def valid_dist_filename(filename: str) -> bool:
    """True for a well-formed wheel or sdist name (what an installer could ever use)."""
    return parse_dist_filename(filename) is not None


def _tag_text(filename: str) -> str:
    return "-".join(filename[:-4].split("-")[-3:])


def _split_dist_filename(filename: str) -> tuple[NormalizedName, str, str | None] | None:
    """(canonical name, version text, wheel tag triple or None for an sdist), validated as
    ``parse_dist_filename`` does, but without making the wheel's tags."""
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        if len(parts) == 5 or (len(parts) == 6 and parts[2][:1].isdigit()):
            name = _name_part(parts[0])
            if name is None or _version_part(parts[1]) is None:
                return None
            return name, parts[1], "-".join(parts[-3:])
    parsed = parse_dist_filename(filename)
    if parsed is None:
        return None
    return parsed[0], str(parsed[1]), _tag_text(filename) if filename.endswith(".whl") else None


_FIELD_DEFAULTS = {
    "hashes": {},
    "requires_python": None,
    "yanked": False,
    "yanked_reason": None,
    "metadata": False,
    "size": None,
    "upload_time": None,
}


def _dist(parsed: tuple[NormalizedName, Version, frozenset[Tag]], **fields: Any) -> DistFile:
    """A DistFile whose file name was already parsed (pages list thousands: parse each once).

    Built without the frozen dataclass ``__init__`` (one ``object.__setattr__`` per field is
    most of a page's parse time); the fields are the same ones, checked by the dataclass in
    every other construction.
    """
    dist = object.__new__(DistFile)
    state = dist.__dict__
    state.update(_FIELD_DEFAULTS)
    state.update(fields)
    state["_parsed"] = parsed  # fills the cached_property
    return dist


def is_json_content_type(content_type: str | None) -> bool:
    """Whether a response's Content-Type announces the PEP 691 JSON form."""
    return (content_type or "").split(";")[0].strip().lower() == JSON_CONTENT_TYPE


def parse_project_page(
    content: bytes | str,
    content_type: str | None,
    page_url: str,
    index: str,
    name: str,
    versions: Container[Version] | None = None,
) -> ProjectPage:
    """Parse a project page in whichever form the server chose (JSON by content type, else HTML).

    ``versions``, when given, keeps only files of those versions: an install of exact pins
    needs a handful of numpy's 4,000 files, and building the rest is most of the cost.
    """
    if is_json_content_type(content_type):
        page = parse_json_page(content, page_url, index, name, versions)
    else:
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        page = parse_html_page(text, page_url, index, name)
        page = page if versions is None else page.only(versions)
    if links_variants(content):
        page = _with_variant_files(page, content, content_type, page_url, index, name, versions)
    return page


def parse_json_page(
    content: bytes | str | Mapping[str, Any],
    page_url: str,
    index: str,
    name: str,
    versions: Container[Version] | None = None,
) -> ProjectPage:
    """A PEP 691 project page (only files of ``versions`` when given); ``ValueError`` when it is not JSON of that shape."""
    data = json.loads(content) if isinstance(content, bytes | str) else content
    if not isinstance(data, Mapping) or not isinstance(data.get("files", []), list):
        raise ValueError("not a PEP 691 project page")
    wanted = canonicalize_name(name)
    grouped: dict[str, tuple[list[Brief], list[Mapping[str, Any]]]] = {}
    seen: set[str] = set()
    shared: dict[str, str] = {}  # one object per distinct tag triple or Requires-Python
    for entry in data.get("files", []):
        # only what choosing a file needs is read now; the rest when a DistFile is made of it
        if not isinstance(entry, dict) and not isinstance(entry, Mapping):
            continue
        filename = entry.get("filename")
        if not isinstance(filename, str) or not isinstance(entry.get("url"), str) or filename in seen:
            continue
        split = _split_dist_filename(filename)
        if split is None or split[0] != wanted or (versions is not None and _version_part(split[1]) not in versions):
            continue
        seen.add(filename)
        yanked = entry.get("yanked", False)
        requires_python = entry.get("requires-python")
        if requires_python is not None:
            if isinstance(requires_python, str) and requires_python.strip():
                requires_python = shared.setdefault(requires_python, requires_python)
            else:
                requires_python = None
        tags = split[2]
        if tags is not None:
            tags = shared.setdefault(tags, tags)
        group = grouped.get(split[1])
        if group is None:
            group = grouped[split[1]] = ([], [])
        group[0].append((filename, tags, bool(yanked), yanked if yanked and isinstance(yanked, str) else None, requires_python))
        group[1].append(entry)
    versions = data.get("versions")
    version_list = tuple(v for v in versions if isinstance(v, str)) if isinstance(versions, list) else ()
    project = data.get("name")
    return ProjectPage(
        name=canonicalize_name(project) if isinstance(project, str) else wanted,
        source=index,
        groups=tuple((text, tuple(briefs)) for text, (briefs, _) in grouped.items()),
        details=(tuple(entries) for _, entries in grouped.values()),
        versions=version_list,
        page_url=page_url,
    )


def _json_details(entry: Mapping[str, Any], page_url: str, index: str) -> tuple:
    """The facts of a PEP 691 file entry beyond its brief, in the detail layout."""
    url, hashes = _split_url(_join(page_url, entry["url"]))
    listed = entry.get("hashes")
    if listed:
        hashes = {**hashes, **_clean_hashes(listed)} if hashes else _clean_hashes(listed)
    if "core-metadata" in entry:
        metadata = _json_metadata(entry["core-metadata"])
    else:
        metadata = _json_metadata(entry.get("dist-info-metadata", False))
    size = entry.get("size")
    if type(size) is not int or size < 0:  # bool is no size (JSON gives plain ints)
        size = None
    upload_time = entry.get("upload-time")
    return url, index, hashes, metadata, size, upload_time if isinstance(upload_time, str) and upload_time else None


def parse_html_page(text: str, page_url: str, index: str, name: str) -> ProjectPage:
    """A PEP 503 project page: every anchor of the named project with a valid file name."""
    wanted = canonicalize_name(name)
    return ProjectPage.from_files(wanted, (f for f in parse_links(text, page_url, index) if f.name == wanted), index)


def parse_links(
    text: str,
    page_url: str,
    index: str,
    *,
    parse_name: Callable[[str], tuple[NormalizedName, Version, frozenset[Tag]] | None] = parse_dist_filename,
) -> tuple[DistFile, ...]:
    """Every distribution anchor of an HTML page, any project (a find-links page, or a PEP 503 page).

    ``parse_name`` decides which file names are kept (the PEP 825 pass keeps variant files).
    """
    parser = _anchor_parser_class()()
    parser.feed(text)
    parser.close()
    base = urljoin(page_url, parser.base) if parser.base else page_url
    files: list[DistFile] = []
    for attrs in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        url, hashes = _split_url(_join(base, href.strip()))
        filename = unquote(urlsplit(url).path.rpartition("/")[2])
        parsed = parse_name(filename)
        if parsed is None:
            continue
        if "data-core-metadata" in attrs:
            metadata = _html_metadata(attrs["data-core-metadata"])
        elif "data-dist-info-metadata" in attrs:
            metadata = _html_metadata(attrs["data-dist-info-metadata"])
        else:
            metadata = False
        requires_python = attrs.get("data-requires-python")
        yanked = "data-yanked" in attrs
        files.append(
            _dist(
                parsed,
                filename=filename,
                url=url,
                index=index,
                hashes=hashes,
                requires_python=requires_python.strip() if requires_python and requires_python.strip() else None,
                yanked=yanked,
                yanked_reason=(attrs.get("data-yanked") or None) if yanked else None,
                metadata=metadata,
            )
        )
    return tuple(files)


def parse_directory_listing(
    filenames: Iterable[str], base_url: str, index: str, sizes: Mapping[str, int] | None = None
) -> tuple[DistFile, ...]:
    """The wheels and sdists among a flat directory's file names (``base_url`` is the directory's URL)."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    sizes = sizes or {}
    files = []
    for filename in sorted(filenames):
        parsed = parse_dist_filename(filename)
        if parsed is None:
            continue
        files.append(
            _dist(
                parsed,
                filename=filename,
                url=urljoin(base, quote(filename)),
                index=index,
                size=sizes.get(filename),
            )
        )
    return tuple(files)


# -- stored pages -------------------------------------------------------------------------

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


# -- helpers ------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _anchor_parser_class() -> type:
    """An ``html.parser`` that collects ``<a>`` attributes (entity-unescaped) and ``<base href>``.

    Defined on first use: ``html.parser`` (with its table of entities) is the slowest import
    of this module, and most indexes answer in JSON.
    """
    from html.parser import HTMLParser

    class AnchorParser(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.anchors: list[dict[str, str | None]] = []
            self.base: str | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "a":
                self.anchors.append({k.lower(): v for k, v in attrs})
            elif tag == "base" and self.base is None:
                href = dict(attrs).get("href")
                if href:
                    self.base = href

    return AnchorParser


def _join(base: str, href: str) -> str:
    """``urljoin``, skipped for the absolute links most indexes write (it is slow in bulk)."""
    if href.startswith(("https://", "http://")):
        return href
    return urljoin(base, href)


def _split_url(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its fragment, and the ``#<hashname>=<hex>`` hash it carried, if any."""
    if "#" not in url:
        return url, {}
    bare, _, fragment = url.partition("#")
    hashes: dict[str, str] = {}
    if fragment:
        algo, sep, value = fragment.partition("=")
        if sep and algo and value and algo.isalnum():
            hashes[algo.lower()] = value.lower()
    return bare, hashes


def _clean_hashes(value: Any) -> dict[str, str]:
    if type(value) is not dict and not isinstance(value, dict):
        return {} if not isinstance(value, Mapping) else _clean_hashes(dict(value))
    if len(value) == 1:  # the usual {"sha256": "<hex>"}: skip the general loop
        (k, v), = value.items()
        return {k.lower(): v.lower()} if isinstance(k, str) and isinstance(v, str) and v else {}
    return {str(k).lower(): v.lower() for k, v in value.items() if isinstance(v, str) and v}


def _json_metadata(value: Any) -> Mapping[str, str] | bool:
    if value is False or value is True or value is None:  # the usual values, without an ABC check
        return bool(value)
    if isinstance(value, Mapping):
        hashes = _clean_hashes(value)
        return hashes or True
    return bool(value)


def _html_metadata(value: str | None) -> Mapping[str, str] | bool:
    """PEP 658 attribute: ``true`` or ``<hashname>=<hex>``; anything else still means "offered"."""
    if value is None or value.strip().lower() == "true":
        return True
    algo, sep, digest = value.strip().partition("=")
    if sep and algo and digest:
        return {algo.lower(): digest.lower()}
    return True


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    from datetime import datetime, timezone

    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# -- PEP 825 wheel variants ------------------------------------------------------------------

_VARIANTS_JSON = "-variants.json"


def links_variants(content: bytes | str) -> bool:
    """Whether a page links a PEP 825 ``variants.json`` (then it is parsed a second time for
    variant files, and its parse is not stored: such pages are rare and small)."""
    return (_VARIANTS_JSON.encode() if isinstance(content, bytes) else _VARIANTS_JSON) in content


def _variant_file_parts(filename: str) -> tuple[NormalizedName, Version, frozenset[Tag]] | None:
    """(name, version, tags) of a variant-labelled wheel or a ``{name}-{version}-variants.json``;
    None for every other name (plain wheels and sdists included: the main pass has them)."""
    if filename.endswith(_VARIANTS_JSON):
        name, sep, version = filename[: -len(_VARIANTS_JSON)].rpartition("-")
        canonical = _name_part(name) if sep else None
        parsed_version = _version_part(version) if canonical is not None else None
        return (canonical, parsed_version, frozenset()) if parsed_version is not None else None
    from pyx_server.engine.install.wheel import split_variant_label

    plain, label = split_variant_label(filename)
    return parse_dist_filename(plain) if label is not None else None


def _with_variant_files(
    page: ProjectPage,
    content: bytes | str,
    content_type: str | None,
    page_url: str,
    index: str,
    name: str,
    versions: Container[Version] | None,
) -> ProjectPage:
    """``page`` plus the variant wheels and ``variants.json`` files it links.

    A second pass over the page, run only for the rare page that links a ``variants.json``
    (so the hot path stays as it was); every attribute is read exactly as for other files.
    """
    wanted = canonicalize_name(name)
    if is_json_content_type(content_type):
        data = json.loads(content)
        extra: list[DistFile] = []
        for entry in data.get("files", []) if isinstance(data, Mapping) else ():
            filename = entry.get("filename") if isinstance(entry, Mapping) else None
            if not isinstance(filename, str) or not isinstance(entry.get("url"), str):
                continue
            parsed = _variant_file_parts(filename)
            if parsed is None or parsed[0] != wanted:
                continue
            url, index_name, hashes, metadata, size, upload_time = _json_details(entry, page_url, index)
            yanked = entry.get("yanked", False)
            requires_python = entry.get("requires-python")
            extra.append(_dist(
                parsed,
                filename=filename,
                url=url,
                index=index_name,
                hashes=hashes,
                requires_python=requires_python if isinstance(requires_python, str) and requires_python.strip() else None,
                yanked=bool(yanked),
                yanked_reason=yanked if yanked and isinstance(yanked, str) else None,
                metadata=metadata,
                size=size,
                upload_time=_parse_time(upload_time) if isinstance(upload_time, str) else upload_time,
            ))
    else:
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        extra = [f for f in parse_links(text, page_url, index, parse_name=_variant_file_parts) if f.name == wanted]
    if versions is not None:
        extra = [f for f in extra if f.version in versions]
    return ProjectPage(
        page.name, page.source, page.groups, page._details, page.versions, page.page_url,
        variant_wheels=tuple(f for f in extra if f.is_wheel),
        variants_json=tuple(f for f in extra if not f.is_wheel),
    )
