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

The pages are made into ``page.ProjectPage`` (files as compact tuples, grouped by version)
of ``distfile.DistFile`` records, which those modules describe.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from packaging.tags import Tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from pyx_server.engine.index.distfile import (
    VARIANTS_JSON,
    DistFile,
    dist_from_parsed,
    html_metadata,
    join_url,
    json_details,
    parse_dist_filename,
    parse_upload_time,
    split_dist_filename,
    split_url,
    variant_file_parts,
    version_part,
    wheel_tags,
)
from pyx_server.engine.index.page import (
    FILENAME,
    REQUIRES_PYTHON,
    TAGS,
    YANKED,
    YANKED_REASON,
    Brief,
    ProjectPage,
    Release,
    dump_page,
    load_page,
    merge_releases,
)

#: the parsers, and the page and file types they make (defined in ``page`` and ``distfile``,
#: named here because the index client and the install stages take them from here)
__all__ = [
    "ACCEPT",
    "FILENAME",
    "REQUIRES_PYTHON",
    "TAGS",
    "YANKED",
    "YANKED_REASON",
    "Brief",
    "DistFile",
    "ProjectPage",
    "Release",
    "dump_page",
    "is_json_content_type",
    "links_variants",
    "load_page",
    "merge_releases",
    "parse_directory_listing",
    "parse_html_page",
    "parse_json_page",
    "parse_links",
    "parse_project_page",
    "wheel_tags",
]

JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_CONTENT_TYPES = ("application/vnd.pypi.simple.v1+html", "text/html")
#: what the index client asks for: JSON preferred, HTML accepted
ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"


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
        split = split_dist_filename(filename)
        if split is None or split[0] != wanted or (versions is not None and version_part(split[1]) not in versions):
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
        url, hashes = split_url(join_url(base, href.strip()))
        filename = unquote(urlsplit(url).path.rpartition("/")[2])
        parsed = parse_name(filename)
        if parsed is None:
            continue
        if "data-core-metadata" in attrs:
            metadata = html_metadata(attrs["data-core-metadata"])
        elif "data-dist-info-metadata" in attrs:
            metadata = html_metadata(attrs["data-dist-info-metadata"])
        else:
            metadata = False
        requires_python = attrs.get("data-requires-python")
        yanked = "data-yanked" in attrs
        files.append(
            dist_from_parsed(
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
            dist_from_parsed(
                parsed,
                filename=filename,
                url=urljoin(base, quote(filename)),
                index=index,
                size=sizes.get(filename),
            )
        )
    return tuple(files)


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


# -- PEP 825 wheel variants ------------------------------------------------------------------

def links_variants(content: bytes | str) -> bool:
    """Whether a page links a PEP 825 ``variants.json`` (then it is parsed a second time for
    variant files, and its parse is not stored: such pages are rare and small)."""
    return (VARIANTS_JSON.encode() if isinstance(content, bytes) else VARIANTS_JSON) in content


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
            parsed = variant_file_parts(filename)
            if parsed is None or parsed[0] != wanted:
                continue
            url, index_name, hashes, metadata, size, upload_time = json_details(entry, page_url, index)
            yanked = entry.get("yanked", False)
            requires_python = entry.get("requires-python")
            extra.append(dist_from_parsed(
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
                upload_time=parse_upload_time(upload_time) if isinstance(upload_time, str) else upload_time,
            ))
    else:
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        extra = [f for f in parse_links(text, page_url, index, parse_name=variant_file_parts) if f.name == wanted]
    if versions is not None:
        extra = [f for f in extra if f.version in versions]
    return ProjectPage(
        page.name, page.source, page.groups, page._details, page.versions, page.page_url,
        variant_wheels=tuple(f for f in extra if f.is_wheel),
        variants_json=tuple(f for f in extra if not f.is_wheel),
    )
