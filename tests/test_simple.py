"""Parsing of PEP 691 JSON, PEP 503 HTML and flat listings into DistFile records (pure, no I/O)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from packaging.tags import Tag
from packaging.version import Version

from pyx_server.engine.index.distfile import DistFile
from pyx_server.engine.index.page import FILENAME, TAGS, dump_page, load_page, merge_releases
from pyx_server.engine.index.simple import (
    ACCEPT,
    is_json_content_type,
    parse_directory_listing,
    parse_html_page,
    parse_json_page,
    parse_links,
    parse_project_page,
)

PAGE = "https://index.example/simple/demo/"
INDEX = "https://index.example/simple/"

HTML = """<!DOCTYPE html>
<html><body>
<a href="../../files/demo-1.0-py3-none-any.whl#sha256=AAAA" data-requires-python="&gt;=3.8,&lt;4">demo-1.0-py3-none-any.whl</a>
<a href="https://cdn.example/demo-1.1.tar.gz#sha256=bbbb" data-yanked="">demo-1.1.tar.gz</a>
<a href="/x/demo-1.2-cp311-cp311-manylinux_2_17_x86_64.whl" data-yanked="broken &amp; bad"
   data-dist-info-metadata="sha256=dddd">demo-1.2-cp311-cp311-manylinux_2_17_x86_64.whl</a>
<a href="demo-1.3-py3-none-any.whl" data-dist-info-metadata="sha256=old" data-core-metadata="sha256=new">x</a>
<a href="demo-1.4-py3-none-any.whl" data-core-metadata="true">demo-1.4-py3-none-any.whl</a>
<a href="demo-1.5-py3-none-any.whl" data-core-metadata="garbage">demo-1.5-py3-none-any.whl</a>
<a href="demo-1.0.win32.exe">an installer</a>
<a href="demo-1.0.tar.bz2">old archive</a>
<a href="other-2.0-py3-none-any.whl">another project</a>
<a>no href</a>
</body></html>
"""


def by_name(files: tuple[DistFile, ...]) -> dict[str, DistFile]:
    return {f.filename: f for f in files}


def test_html_page_attributes() -> None:
    page = parse_html_page(HTML, PAGE, INDEX, "Demo")
    files = by_name(page.files)
    assert page.name == "demo"
    assert page.source == INDEX
    # invalid names (installer, .tar.bz2) and another project's file are dropped
    assert set(files) == {
        "demo-1.0-py3-none-any.whl",
        "demo-1.1.tar.gz",
        "demo-1.2-cp311-cp311-manylinux_2_17_x86_64.whl",
        "demo-1.3-py3-none-any.whl",
        "demo-1.4-py3-none-any.whl",
        "demo-1.5-py3-none-any.whl",
    }
    first = files["demo-1.0-py3-none-any.whl"]
    assert first.url == "https://index.example/files/demo-1.0-py3-none-any.whl"  # relative, no fragment
    assert first.hashes == {"sha256": "aaaa"}
    assert first.requires_python == ">=3.8,<4"  # entities unescaped
    assert first.yanked is False and first.yanked_reason is None
    assert first.metadata is False
    assert first.is_wheel and first.version == Version("1.0") and first.name == "demo"
    assert first.tags == frozenset({Tag("py3", "none", "any")})

    sdist = files["demo-1.1.tar.gz"]
    assert sdist.url == "https://cdn.example/demo-1.1.tar.gz"
    assert sdist.yanked is True and sdist.yanked_reason is None
    assert not sdist.is_wheel and sdist.tags == frozenset()

    binary = files["demo-1.2-cp311-cp311-manylinux_2_17_x86_64.whl"]
    assert binary.url == "https://index.example/x/demo-1.2-cp311-cp311-manylinux_2_17_x86_64.whl"
    assert binary.yanked_reason == "broken & bad"
    assert binary.metadata == {"sha256": "dddd"}  # PEP 658 spelling
    assert binary.metadata_url == binary.url + ".metadata"

    # PEP 714: data-core-metadata wins over the older attribute
    assert files["demo-1.3-py3-none-any.whl"].metadata == {"sha256": "new"}
    assert files["demo-1.3-py3-none-any.whl"].url == PAGE + "demo-1.3-py3-none-any.whl"
    assert files["demo-1.4-py3-none-any.whl"].metadata is True
    assert files["demo-1.5-py3-none-any.whl"].metadata is True  # malformed value: offered, no hash
    assert files["demo-1.0-py3-none-any.whl"].metadata_url is None


def test_html_base_href_is_honoured() -> None:
    text = '<html><head><base href="https://mirror.example/pkgs/"></head><body><a href="demo-2.0.zip">z</a></body></html>'
    (dist,) = parse_html_page(text, PAGE, INDEX, "demo").files
    assert dist.url == "https://mirror.example/pkgs/demo-2.0.zip"
    assert dist.version == Version("2.0")


def test_html_percent_encoded_filename() -> None:
    text = '<a href="demo-1.0%2Blocal-py3-none-any.whl">x</a>'
    (dist,) = parse_html_page(text, PAGE, INDEX, "demo").files
    assert dist.filename == "demo-1.0+local-py3-none-any.whl"
    assert dist.version == Version("1.0+local")


JSON_PAGE = {
    "meta": {"api-version": "1.1"},
    "name": "Demo",
    "versions": ["1.0", "1.1", "2.0"],
    "files": [
        {
            "filename": "demo-1.0-py3-none-any.whl",
            "url": "../../files/demo-1.0-py3-none-any.whl",
            "hashes": {"sha256": "ABC", "md5": "m"},
            "requires-python": ">=3.9",
            "yanked": False,
            "dist-info-metadata": {"sha256": "meta"},
            "size": 1234,
            "upload-time": "2024-03-01T12:30:00.123456Z",
        },
        {
            "filename": "demo-1.1.tar.gz",
            "url": "https://cdn.example/demo-1.1.tar.gz#sha256=frag",
            "hashes": {},
            "yanked": "security hole",
            "core-metadata": True,
            "dist-info-metadata": {"sha256": "ignored"},
        },
        {
            "filename": "demo-1.2-py3-none-any.whl",
            "url": "demo-1.2-py3-none-any.whl",
            "hashes": {"sha256": "c"},
            "yanked": True,
            "core-metadata": {"sha256": "core"},
            "upload-time": "not a time",
            "size": -1,
        },
        {"filename": "demo-1.3-py3-none-any.whl", "url": "demo-1.3-py3-none-any.whl", "yanked": ""},
        {"filename": "demo.exe", "url": "demo.exe", "hashes": {}},
        {"filename": "other-1.0.tar.gz", "url": "other-1.0.tar.gz", "hashes": {}},
        {"filename": 3, "url": None},
    ],
}


def test_json_page_fields() -> None:
    page = parse_json_page(json.dumps(JSON_PAGE).encode(), PAGE, INDEX, "demo")
    files = by_name(page.files)
    assert page.name == "demo"
    assert page.versions == ("1.0", "1.1", "2.0")  # PEP 700
    assert set(files) == {
        "demo-1.0-py3-none-any.whl",
        "demo-1.1.tar.gz",
        "demo-1.2-py3-none-any.whl",
        "demo-1.3-py3-none-any.whl",
    }
    first = files["demo-1.0-py3-none-any.whl"]
    assert first.url == "https://index.example/files/demo-1.0-py3-none-any.whl"
    assert first.hashes == {"sha256": "abc", "md5": "m"}
    assert first.requires_python == ">=3.9"
    assert first.metadata == {"sha256": "meta"}  # the PEP 658 key alone still counts
    assert first.size == 1234
    assert first.upload_time == datetime(2024, 3, 1, 12, 30, 0, 123456, tzinfo=timezone.utc)
    assert first.index == INDEX

    sdist = files["demo-1.1.tar.gz"]
    assert sdist.url == "https://cdn.example/demo-1.1.tar.gz"
    assert sdist.hashes == {"sha256": "frag"}  # from the fragment when the dict is empty
    assert sdist.yanked is True and sdist.yanked_reason == "security hole"
    assert sdist.metadata is True  # core-metadata (PEP 714) wins over dist-info-metadata

    third = files["demo-1.2-py3-none-any.whl"]
    assert third.yanked is True and third.yanked_reason is None
    assert third.metadata == {"sha256": "core"}
    assert third.upload_time is None and third.size is None
    assert third.url == PAGE + "demo-1.2-py3-none-any.whl"

    assert files["demo-1.3-py3-none-any.whl"].yanked is False  # empty string: not yanked (as pip)
    assert files["demo-1.3-py3-none-any.whl"].metadata is False


def test_dispatch_by_content_type() -> None:
    body = json.dumps(JSON_PAGE).encode()
    assert is_json_content_type("application/vnd.pypi.simple.v1+json; charset=utf-8")
    assert not is_json_content_type("text/html")
    assert len(parse_project_page(body, "application/vnd.pypi.simple.v1+json", PAGE, INDEX, "demo").files) == 4
    html_page = parse_project_page(HTML.encode(), "text/html; charset=utf-8", PAGE, INDEX, "demo")
    assert len(html_page.files) == 6
    assert ACCEPT.startswith("application/vnd.pypi.simple.v1+json")


def test_json_page_that_is_not_a_page() -> None:
    import pytest

    with pytest.raises(ValueError):
        parse_json_page(b"not json", PAGE, INDEX, "demo")
    with pytest.raises(ValueError):
        parse_json_page(b'{"files": 3}', PAGE, INDEX, "demo")


def test_find_links_page_keeps_every_project() -> None:
    files = parse_links(HTML, "https://links.example/wheels.html", "https://links.example/wheels.html")
    names = {f.name for f in files}
    assert names == {"demo", "other"}


def test_directory_listing() -> None:
    files = parse_directory_listing(
        ["demo-1.0-py3-none-any.whl", "README.txt", "demo-1.0.tar.gz", "my pkg-1.0.tar.gz"],
        "file:///srv/wheels",
        "file:///srv/wheels",
        sizes={"demo-1.0.tar.gz": 10},
    )
    assert [f.filename for f in files] == ["demo-1.0-py3-none-any.whl", "demo-1.0.tar.gz"]
    assert files[0].url == "file:///srv/wheels/demo-1.0-py3-none-any.whl"
    assert files[1].size == 10 and files[0].size is None


def test_distfile_is_hashable_and_comparable() -> None:
    a = DistFile("demo-1.0.tar.gz", "https://x.example/demo-1.0.tar.gz", INDEX, hashes={"sha256": "1"})
    b = DistFile("demo-1.0.tar.gz", "https://x.example/demo-1.0.tar.gz", INDEX, hashes={"sha256": "1"})
    assert a == b and len({a, b}) == 1


# -- PEP 825 wheel variants ---------------------------------------------------------------------

VARIANT_PAGE = {
    "meta": {"api-version": "1.1"},
    "name": "torch",
    "files": [
        {"filename": "torch-2.9.0-cp312-cp312-manylinux_2_28_x86_64.whl", "url": "f/plain.whl", "hashes": {}},
        {"filename": "torch-2.9.0-cp312-cp312-manylinux_2_28_x86_64-cu128.whl", "url": "f/cu128.whl",
         "hashes": {"sha256": "c128"}, "size": 77, "core-metadata": {"sha256": "m"}},
        {"filename": "torch-2.9.0-1-cp312-cp312-manylinux_2_28_x86_64-null.whl", "url": "f/null.whl", "hashes": {}},
        {"filename": "torch-2.8.0-cp312-cp312-manylinux_2_28_x86_64-cu126.whl", "url": "f/old.whl", "hashes": {}},
        {"filename": "torch-2.9.0-variants.json", "url": "f/torch-2.9.0-variants.json", "hashes": {"sha256": "vj"}},
        {"filename": "other-1.0-variants.json", "url": "f/other.json", "hashes": {}},
    ],
}
VARIANT_HTML = "".join(
    f'<a href="../../f/{e["filename"]}#sha256=ab" data-requires-python="&gt;=3.10">x</a>\n' for e in VARIANT_PAGE["files"]
)
TORCH_PAGE = "https://index.example/simple/torch/"


def test_variant_wheels_and_variants_json_are_kept_apart_in_json_pages() -> None:
    page = parse_project_page(json.dumps(VARIANT_PAGE).encode(), "application/vnd.pypi.simple.v1+json", TORCH_PAGE, INDEX, "torch")
    # an installer that does not judge variants never sees a labelled wheel
    assert [f.filename for f in page.files] == ["torch-2.9.0-cp312-cp312-manylinux_2_28_x86_64.whl"]
    wheels = by_name(page.variant_wheels)
    assert [(f.variant_label, str(f.version)) for f in page.variant_wheels] == [("cu128", "2.9.0"), ("null", "2.9.0"), ("cu126", "2.8.0")]
    cu128 = wheels["torch-2.9.0-cp312-cp312-manylinux_2_28_x86_64-cu128.whl"]
    assert (cu128.size, cu128.hashes, cu128.metadata, cu128.name) == (77, {"sha256": "c128"}, {"sha256": "m"}, "torch")
    assert Tag("cp312", "cp312", "manylinux_2_28_x86_64") in cu128.tags
    assert [(f.filename, str(f.version), f.hashes, f.url) for f in page.variants_json] == [
        ("torch-2.9.0-variants.json", "2.9.0", {"sha256": "vj"}, TORCH_PAGE + "f/torch-2.9.0-variants.json"),
    ]
    assert page.files[0].variant_label is None and page.variants_json[0].variant_label is None
    # exact pins keep only their versions, variant files included
    pinned = parse_project_page(json.dumps(VARIANT_PAGE).encode(), "application/vnd.pypi.simple.v1+json", TORCH_PAGE, INDEX,
                                "torch", versions={Version("2.8.0")})
    assert [f.variant_label for f in pinned.variant_wheels] == ["cu126"] and pinned.variants_json == ()


def test_variant_wheels_and_variants_json_in_html_pages() -> None:
    page = parse_project_page(VARIANT_HTML.encode(), "text/html", TORCH_PAGE, INDEX, "torch")
    assert [f.filename for f in page.files] == ["torch-2.9.0-cp312-cp312-manylinux_2_28_x86_64.whl"]
    assert [f.variant_label for f in page.variant_wheels] == ["cu128", "null", "cu126"]
    assert all(f.requires_python == ">=3.10" and f.hashes == {"sha256": "ab"} for f in page.variant_wheels)
    assert [f.url for f in page.variants_json] == ["https://index.example/f/torch-2.9.0-variants.json"]


def test_pages_without_variants_json_are_unchanged() -> None:
    """Labelled wheels mean nothing without the index's variants.json (PEP 825): none are reported."""
    files = [e for e in VARIANT_PAGE["files"] if not e["filename"].endswith(".json")]
    page = parse_project_page(json.dumps({**VARIANT_PAGE, "files": files}).encode(), "application/vnd.pypi.simple.v1+json",
                              TORCH_PAGE, INDEX, "torch")
    assert len(page.files) == 1 and page.variant_wheels == () and page.variants_json == ()


def test_a_labelled_distfile_built_directly_knows_its_parts() -> None:
    file = DistFile("torch-2.9.0-cp312-cp312-manylinux_2_28_x86_64-cu128.whl", "https://x.example/t.whl", INDEX)
    assert (file.name, str(file.version), file.variant_label) == ("torch", "2.9.0", "cu128")


def test_page_groups_files_by_version_without_making_them() -> None:
    entries = [
        {"filename": "demo-1.0-py3-none-any.whl", "url": "a", "yanked": "bad"},
        {"filename": "demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl", "url": "c"},
        {"filename": "demo-1.0.0.tar.gz", "url": "b", "requires-python": ">=3.8"},  # the same version
        {"filename": "demo-1.0-py3-none-any.whl", "url": "again"},  # listed twice: the first counts
    ]
    page = parse_json_page(json.dumps({"name": "demo", "files": entries}).encode(), PAGE, INDEX, "demo")
    releases = page.releases()
    assert list(releases) == [Version("1.0"), Version("2.0")]
    one = releases[Version("1.0")]
    assert [f[FILENAME] for f in one.files] == ["demo-1.0-py3-none-any.whl", "demo-1.0.0.tar.gz"]
    assert [f[TAGS] for f in one.files] == ["py3-none-any", None]
    assert releases[Version("2.0")].files[0][TAGS] == "cp311-cp311-manylinux_2_17_x86_64"
    assert page._files is None  # nothing made yet
    assert [f.url for f in one.dists()] == [PAGE + "a", PAGE + "b"]
    assert one.dists()[0].yanked_reason == "bad" and one.dist(1).requires_python == ">=3.8"
    assert {f.url for f in page.files} == {PAGE + "a", PAGE + "b", PAGE + "c"}

    only = page.only({Version("2.0")})
    assert [f.filename for f in only.files] == ["demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"]
    assert list(only.releases()) == [Version("2.0")]


def test_releases_of_several_pages_keep_a_file_name_once() -> None:
    first = parse_json_page(
        json.dumps({"files": [{"filename": "demo-1.0-py3-none-any.whl", "url": "https://a.example/one"}]}).encode(),
        PAGE, "https://a.example/simple/", "demo",
    )
    second = parse_json_page(
        json.dumps({"files": [
            {"filename": "demo-1.0-py3-none-any.whl", "url": "https://b.example/one"},
            {"filename": "demo-1.0.tar.gz", "url": "https://b.example/sdist"},
            {"filename": "demo-2.0.tar.gz", "url": "https://b.example/two"},
        ]}).encode(),
        PAGE, "https://b.example/simple/", "demo",
    )
    releases = merge_releases([first, second])
    one = releases[Version("1.0")]
    assert [(f.filename, f.index) for f in one.dists()] == [
        ("demo-1.0-py3-none-any.whl", "https://a.example/simple/"),
        ("demo-1.0.tar.gz", "https://b.example/simple/"),
    ]
    assert [f.url for f in releases[Version("2.0")].dists()] == ["https://b.example/two"]


def test_stored_page_is_used_only_for_the_same_body() -> None:
    page = parse_json_page(json.dumps(JSON_PAGE).encode(), PAGE, INDEX, "demo")
    data = dump_page(page, "body-sha", PAGE)
    again = load_page(data, "body-sha", PAGE, INDEX)
    assert again is not None
    assert again.files == page.files and again.versions == page.versions and again.name == page.name
    assert {v: r.files for v, r in again.releases().items()} == {v: r.files for v, r in page.releases().items()}
    # another body, another URL (relative links), another index: not this page
    assert load_page(data, "other-sha", PAGE, INDEX) is None
    assert load_page(data, "body-sha", "https://mirror.example/simple/demo/", INDEX) is None
    assert load_page(data, "body-sha", PAGE, "https://mirror.example/simple/") is None


def test_damaged_stored_page_is_a_miss() -> None:
    page = parse_json_page(json.dumps(JSON_PAGE).encode(), PAGE, INDEX, "demo")
    data = dump_page(page, "body-sha", PAGE)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    for damaged in (bytes(flipped), data[: len(data) // 2], data[:5], b"", b"garbage" * 20):
        assert load_page(damaged, "body-sha", PAGE, INDEX) is None
    # a stored page of another format (an older pyx) is a miss, even when intact
    import marshal
    import zlib

    from pyx_server.engine.index import page as page_module

    payload = marshal.dumps((page_module.PAGE_FORMAT + 1, "body-sha", PAGE, "demo", INDEX, (), (), ()))
    other = page_module._PAGE_MAGIC + zlib.crc32(payload).to_bytes(4, "big") + payload
    assert load_page(other, "body-sha", PAGE, INDEX) is None
