"""A distribution file as data: its name parsed once, and the facts an index lists for it.

Pure. ``DistFile`` is what every stage after the index reads (selection, locks, installs);
the file-name parsers here accept exactly the names ``packaging.utils`` accepts, only
faster in bulk (a page can list thousands). The entry helpers read one file's facts as a
page writes them (URL with a ``#sha256=`` fragment, hashes, PEP 658 metadata, upload time).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

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
        parsed = parse_dist_filename(self.filename) or variant_file_parts(self.filename)
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


def wheel_tags(text: str) -> frozenset[Tag]:
    """The tags of a wheel's tag triple as its name writes it (``cp311-cp311-manylinux_2_17_x86_64``)."""
    return _tags_part(text)


# A page lists thousands of files but few distinct names, versions and tag sets: parse each
# part once (packaging does the parsing), so most files cost a split and three dict lookups.
_WHEEL_NAME_PART = re.compile(r"^[\w\d._]*$", re.UNICODE)


@lru_cache(maxsize=256)
def name_part(text: str) -> NormalizedName | None:
    if "__" in text or _WHEEL_NAME_PART.match(text) is None:
        return None
    try:
        return canonicalize_name(text, validate=True)
    except ValueError:
        return None


@lru_cache(maxsize=8192)
def version_part(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


@lru_cache(maxsize=8192)
def _tags_part(text: str) -> frozenset[Tag]:
    return frozenset(parse_tag(text))


def _wheel_parts(name: str, version: str, tags: str) -> tuple[NormalizedName, Version, frozenset[Tag]] | None:
    canonical = name_part(name)
    parsed_version = version_part(version)
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


def tag_text(filename: str) -> str:
    return "-".join(filename[:-4].split("-")[-3:])


def split_dist_filename(filename: str) -> tuple[NormalizedName, str, str | None] | None:
    """(canonical name, version text, wheel tag triple or None for an sdist), validated as
    ``parse_dist_filename`` does, but without making the wheel's tags."""
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        if len(parts) == 5 or (len(parts) == 6 and parts[2][:1].isdigit()):
            name = name_part(parts[0])
            if name is None or version_part(parts[1]) is None:
                return None
            return name, parts[1], "-".join(parts[-3:])
    parsed = parse_dist_filename(filename)
    if parsed is None:
        return None
    return parsed[0], str(parsed[1]), tag_text(filename) if filename.endswith(".whl") else None


_FIELD_DEFAULTS = {
    "hashes": {},
    "requires_python": None,
    "yanked": False,
    "yanked_reason": None,
    "metadata": False,
    "size": None,
    "upload_time": None,
}


def dist_from_parsed(parsed: tuple[NormalizedName, Version, frozenset[Tag]], **fields: Any) -> DistFile:
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


def json_details(entry: Mapping[str, Any], page_url: str, index: str) -> tuple:
    """The facts of a PEP 691 file entry beyond its brief, in the detail layout."""
    url, hashes = split_url(join_url(page_url, entry["url"]))
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


def join_url(base: str, href: str) -> str:
    """``urljoin``, skipped for the absolute links most indexes write (it is slow in bulk)."""
    if href.startswith(("https://", "http://")):
        return href
    return urljoin(base, href)


def split_url(url: str) -> tuple[str, dict[str, str]]:
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


def html_metadata(value: str | None) -> Mapping[str, str] | bool:
    """PEP 658 attribute: ``true`` or ``<hashname>=<hex>``; anything else still means "offered"."""
    if value is None or value.strip().lower() == "true":
        return True
    algo, sep, digest = value.strip().partition("=")
    if sep and algo and digest:
        return {algo.lower(): digest.lower()}
    return True


def parse_upload_time(value: Any) -> datetime | None:
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


#: the name ending of a PEP 825 ``{name}-{version}-variants.json`` file
VARIANTS_JSON = "-variants.json"


def variant_file_parts(filename: str) -> tuple[NormalizedName, Version, frozenset[Tag]] | None:
    """(name, version, tags) of a variant-labelled wheel or a ``{name}-{version}-variants.json``;
    None for every other name (plain wheels and sdists included: the main pass has them)."""
    if filename.endswith(VARIANTS_JSON):
        name, sep, version = filename[: -len(VARIANTS_JSON)].rpartition("-")
        canonical = name_part(name) if sep else None
        parsed_version = version_part(version) if canonical is not None else None
        return (canonical, parsed_version, frozenset()) if parsed_version is not None else None
    from pyx_server.engine.install.wheel import split_variant_label

    plain, label = split_variant_label(filename)
    return parse_dist_filename(plain) if label is not None else None
