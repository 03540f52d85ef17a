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
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cached_property, lru_cache
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

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
    def tags(self) -> frozenset[Tag]:
        """The wheel's compatibility tags (empty for an sdist)."""
        return self._parsed[2]

    @property
    def metadata_url(self) -> str | None:
        """The PEP 658 metadata file's URL, when the index offers one."""
        return self.url + ".metadata" if self.metadata is not False else None

    @property
    def variant_label(self) -> str | None:
        """The PEP 825 variant label of a variant wheel (``cu128``, ``null``); None for other files."""
        if not self.is_wheel:
            return None
        from pyx_server.engine.wheel import split_variant_label

        return split_variant_label(self.filename)[1]


@dataclass(frozen=True)
class ProjectPage:
    """One project's page on one index: the files it lists (valid names only)."""

    name: str
    files: tuple[DistFile, ...]
    #: redacted URL of the index the page came from
    source: str
    #: PEP 700 ``versions`` (JSON pages only); empty when the index does not say
    versions: tuple[str, ...] = ()
    #: PEP 825 variant-labelled wheels (never in ``files``: only variant-aware code may pick them)
    variant_wheels: tuple[DistFile, ...] = ()
    #: PEP 825 ``{name}-{version}-variants.json`` files the page links (their ``version`` says which)
    variants_json: tuple[DistFile, ...] = ()


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
        if versions is not None:
            page = ProjectPage(page.name, tuple(f for f in page.files if f.version in versions), page.source, page.versions)
    if (_VARIANTS_JSON.encode() if isinstance(content, bytes) else _VARIANTS_JSON) in content:
        page = _with_variant_files(page, content, content_type, page_url, index, name, versions)
    return page


def parse_json_page(
    content: bytes | str | Mapping[str, Any],
    page_url: str,
    index: str,
    name: str,
    versions: Container[Version] | None = None,
    *,
    parse_name: Callable[[str], tuple[NormalizedName, Version, frozenset[Tag]] | None] = parse_dist_filename,
) -> ProjectPage:
    """A PEP 691 project page (only files of ``versions`` when given); ``ValueError`` when it is not JSON of that shape.

    ``parse_name`` decides which file names are kept (the PEP 825 pass keeps variant files).
    """
    data = json.loads(content) if isinstance(content, bytes | str) else content
    if not isinstance(data, Mapping) or not isinstance(data.get("files", []), list):
        raise ValueError("not a PEP 691 project page")
    wanted = canonicalize_name(name)
    files: list[DistFile] = []
    for entry in data.get("files", []):
        if not isinstance(entry, Mapping):
            continue
        filename = entry.get("filename")
        href = entry.get("url")
        if not isinstance(filename, str) or not isinstance(href, str):
            continue
        parsed = parse_name(filename)
        if parsed is None or parsed[0] != wanted or (versions is not None and parsed[1] not in versions):
            continue
        url, fragment_hashes = _split_url(_join(page_url, href))
        hashes = {**fragment_hashes, **_clean_hashes(entry.get("hashes"))}
        yanked_value = entry.get("yanked", False)
        yanked = bool(yanked_value)
        reason = yanked_value if isinstance(yanked_value, str) and yanked_value else None
        if "core-metadata" in entry:
            metadata = _json_metadata(entry["core-metadata"])
        else:
            metadata = _json_metadata(entry.get("dist-info-metadata", False))
        requires_python = entry.get("requires-python")
        size = entry.get("size")
        dist = _dist(
            parsed,
            filename=filename,
            url=url,
            index=index,
            hashes=hashes,
            requires_python=requires_python if isinstance(requires_python, str) and requires_python.strip() else None,
            yanked=yanked,
            yanked_reason=reason,
            metadata=metadata,
            size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
            upload_time=_parse_time(entry.get("upload-time")),
        )
        files.append(dist)
    versions = data.get("versions")
    version_list = tuple(v for v in versions if isinstance(v, str)) if isinstance(versions, list) else ()
    project = data.get("name")
    return ProjectPage(
        name=canonicalize_name(project) if isinstance(project, str) else wanted,
        files=tuple(files),
        source=index,
        versions=version_list,
    )


def parse_html_page(
    text: str,
    page_url: str,
    index: str,
    name: str,
    *,
    parse_name: Callable[[str], tuple[NormalizedName, Version, frozenset[Tag]] | None] = parse_dist_filename,
) -> ProjectPage:
    """A PEP 503 project page: every anchor of the named project with a valid file name."""
    wanted = canonicalize_name(name)
    files = tuple(f for f in parse_links(text, page_url, index, parse_name=parse_name) if f.name == wanted)
    return ProjectPage(name=wanted, files=files, source=index)


def parse_links(
    text: str,
    page_url: str,
    index: str,
    *,
    parse_name: Callable[[str], tuple[NormalizedName, Version, frozenset[Tag]] | None] = parse_dist_filename,
) -> tuple[DistFile, ...]:
    """Every distribution anchor of an HTML page, any project (a find-links page, or a PEP 503 page)."""
    parser = _AnchorParser()
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


# -- helpers ------------------------------------------------------------------------------


class _AnchorParser(HTMLParser):
    """Collects ``<a>`` attributes (already entity-unescaped by ``html.parser``) and ``<base href>``."""

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
    if not isinstance(value, dict):
        return {} if not isinstance(value, Mapping) else _clean_hashes(dict(value))
    if len(value) == 1:  # the usual {"sha256": "<hex>"}: skip the general loop
        (k, v), = value.items()
        return {k.lower(): v.lower()} if isinstance(k, str) and isinstance(v, str) and v else {}
    return {str(k).lower(): v.lower() for k, v in value.items() if isinstance(v, str) and v}


def _json_metadata(value: Any) -> Mapping[str, str] | bool:
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


def _variant_file_parts(filename: str) -> tuple[NormalizedName, Version, frozenset[Tag]] | None:
    """(name, version, tags) of a variant-labelled wheel or a ``{name}-{version}-variants.json``;
    None for every other name (plain wheels and sdists included: the main pass has them)."""
    if filename.endswith(_VARIANTS_JSON):
        name, sep, version = filename[: -len(_VARIANTS_JSON)].rpartition("-")
        canonical = _name_part(name) if sep else None
        parsed_version = _version_part(version) if canonical is not None else None
        return (canonical, parsed_version, frozenset()) if parsed_version is not None else None
    from pyx_server.engine.wheel import split_variant_label

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
    if is_json_content_type(content_type):
        extra = parse_json_page(content, page_url, index, name, versions, parse_name=_variant_file_parts).files
    else:
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        extra = parse_html_page(text, page_url, index, name, parse_name=_variant_file_parts).files
        if versions is not None:
            extra = tuple(f for f in extra if f.version in versions)
    return replace(
        page,
        variant_wheels=tuple(f for f in extra if f.is_wheel),
        variants_json=tuple(f for f in extra if not f.is_wheel),
    )
