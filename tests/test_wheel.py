"""Wheel names, member validation (zip-slip and friends), RECORD checks and unpacking."""

from __future__ import annotations

import os
import stat
import warnings
import zipfile
from pathlib import Path

import pytest
from packaging.tags import Tag
from packaging.version import Version

from pyx_server.engine.errors import InvalidWheel, UnsafeWheel
from pyx_server.engine.install.wheel import (
    RecordEntry,
    find_dist_info,
    parse_record,
    parse_wheel_info,
    parse_wheel_name,
    record_hash,
    split_variant_label,
    unpack_wheel,
)
from tests.support.wheels import build_wheel


def rewrite_wheel(wheel: Path, changes: dict[str, bytes | None], *, stored: bool = False) -> Path:
    """Rewrite members of ``wheel`` in place (None drops one) without touching its RECORD."""
    with zipfile.ZipFile(wheel) as zf:
        members = [(info, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(wheel, "w") as zf:
        for info, data in members:
            if info.filename in changes:
                data = changes[info.filename]
                if data is None:
                    continue
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return wheel


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- names -------------------------------------------------------------------------------------


def test_parse_wheel_name_uses_packaging() -> None:
    name = parse_wheel_name("Foo_Bar-1.0.post1-7build-cp311-cp311-manylinux_2_17_x86_64.whl")
    assert name.name == "foo-bar"
    assert name.version == Version("1.0.post1")
    assert name.build == (7, "build")
    assert Tag("cp311", "cp311", "manylinux_2_17_x86_64") in name.tags
    assert name.filename.startswith("Foo_Bar")


def test_parse_wheel_name_expands_compressed_tags() -> None:
    name = parse_wheel_name("x-1-py2.py3-none-any.whl")
    assert name.tags == frozenset({Tag("py2", "none", "any"), Tag("py3", "none", "any")})


@pytest.mark.parametrize("bad", ["x-1.0.tar.gz", "x-1.0-py3-none.whl", "x-notaversion!-py3-none-any.whl"])
def test_parse_wheel_name_rejects_bad_names(bad: str) -> None:
    with pytest.raises(InvalidWheel) as info:
        parse_wheel_name(bad)
    assert f"`{bad}`" in info.value.message


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        # PEP 825: the label is a sixth component when the third is a Python tag, a seventh after a build tag
        ("torch-2.9.0-cp312-cp312-manylinux_2_28_x86_64-cu128.whl", ("torch-2.9.0-cp312-cp312-manylinux_2_28_x86_64.whl", "cu128")),
        ("numpy-2.3.2-1-cp313-cp313t-musllinux_1_2_x86_64-x86_64_v3.whl", ("numpy-2.3.2-1-cp313-cp313t-musllinux_1_2_x86_64.whl", "x86_64_v3")),
        ("x-1.0-py3-none-any-null.whl", ("x-1.0-py3-none-any.whl", "null")),
        # not labelled: a build tag (starts with a digit), five parts, an sdist, a label with capitals
        ("x-1.0-7build-py3-none-any.whl", ("x-1.0-7build-py3-none-any.whl", None)),
        ("x-1.0-py3-none-any.whl", ("x-1.0-py3-none-any.whl", None)),
        ("x-1.0.tar.gz", ("x-1.0.tar.gz", None)),
        ("x-1.0-py3-none-any-CU128.whl", ("x-1.0-py3-none-any-CU128.whl", None)),
    ],
)
def test_split_variant_label(filename: str, expected: tuple[str, str | None]) -> None:
    assert split_variant_label(filename) == expected


def test_variant_labelled_names_stay_invalid_to_the_installer() -> None:
    """PEP 825 made labelled names invalid to tools that do not read variants: pyx's installer is one."""
    with pytest.raises(InvalidWheel):
        parse_wheel_name("torch-2.9.0-cp312-cp312-manylinux_2_28_x86_64-cu128.whl")


# -- unpacking a good wheel ----------------------------------------------------------------------


def test_unpack_writes_every_file_with_content_and_exec_bit(tmp_path: Path) -> None:
    wheel = build_wheel(
        tmp_path / "w",
        "demo",
        "1.0",
        files={"demo/__init__.py": "x = 1\n", "demo/sub/deep/mod.py": "y = 2\n", "demo/tool": "#!/bin/sh\n"},
        executable=["demo/tool"],
        data={"scripts/run": "#!python\n", "data/share/demo.txt": "hello"},
    )
    dest = tmp_path / "dest"
    dest.mkdir()
    unpack_wheel(wheel, dest)
    files = tree(dest)
    assert files["demo/__init__.py"] == b"x = 1\n"
    assert files["demo/sub/deep/mod.py"] == b"y = 2\n"
    assert files["demo-1.0.data/data/share/demo.txt"] == b"hello"
    assert "demo-1.0.dist-info/RECORD" in files and "demo-1.0.dist-info/WHEEL" in files
    assert os.stat(dest / "demo/tool").st_mode & 0o111
    assert os.stat(dest / "demo-1.0.data/scripts/run").st_mode & 0o100
    assert not os.stat(dest / "demo/__init__.py").st_mode & 0o111
    # the archive and the unpacked copy agree member for member
    with zipfile.ZipFile(wheel) as zf:
        assert {i.filename: zf.read(i) for i in zf.infolist()} == files


def test_unpack_streams_large_members_and_checks_them(tmp_path: Path) -> None:
    big = os.urandom(5 << 20)  # above the read-whole threshold
    wheel = build_wheel(tmp_path / "w", "big", "1.0", files={"big/blob.bin": big})
    dest = tmp_path / "dest"
    dest.mkdir()
    unpack_wheel(wheel, dest)
    assert (dest / "big/blob.bin").read_bytes() == big

    evil = bytearray(big)
    evil[123456] ^= 0xFF
    rewrite_wheel(wheel, {"big/blob.bin": bytes(evil)})
    dest2 = tmp_path / "dest2"
    dest2.mkdir()
    with pytest.raises(InvalidWheel, match="does not match its sha256 hash"):
        unpack_wheel(wheel, dest2)


def test_unpack_accepts_explicit_directory_members(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0", raw_members={"demo/empty/": b""})
    dest = tmp_path / "dest"
    dest.mkdir()
    unpack_wheel(wheel, dest)
    assert (dest / "demo/empty").is_dir()


# -- zip slip ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "member",
    ["../x", "/abs", "a/../../x", "demo/../../x", "C:\\x", "C:/x", "..\\x", "./../x", "demo/.."],
)
def test_unsafe_member_names_are_refused_before_writing(tmp_path: Path, member: str) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0", raw_members={member: b"pwned"})
    dest = tmp_path / "out" / "dest"
    dest.mkdir(parents=True)
    with pytest.raises(UnsafeWheel) as info:
        unpack_wheel(wheel, dest)
    err = info.value
    assert f"`{wheel.name}`" in err.message
    assert f"`{member}`" in err.message
    assert err.code == "unsafe-wheel-path"
    assert list(dest.iterdir()) == []  # nothing at all was written
    assert not (tmp_path / "out" / "x").exists() and not (tmp_path / "x").exists()


def test_symlink_members_are_refused(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0", symlinks={"demo/passwd": "/etc/passwd"})
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeWheel) as info:
        unpack_wheel(wheel, dest)
    assert "`demo/passwd`" in info.value.message and "symbolic link" in info.value.message
    assert list(dest.iterdir()) == []


def test_symlink_member_pointing_inside_is_refused_too(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0", symlinks={"demo/alias.py": "__init__.py"})
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeWheel):
        unpack_wheel(wheel, dest)


def test_duplicate_members_are_refused(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0")
    with zipfile.ZipFile(wheel, "a") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate we want
        zf.writestr("demo/__init__.py", "evil = True\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidWheel, match="`demo/__init__.py` more than once"):
        unpack_wheel(wheel, dest)
    assert list(dest.iterdir()) == []


def test_names_that_normalize_to_the_same_path_are_duplicates(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0", raw_members={"demo//./__init__.py": b"x"})
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidWheel, match="more than once"):
        unpack_wheel(wheel, dest)


def test_a_path_both_file_and_directory_is_refused(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0", files={"demo": "x", "demo/a.py": "y"})
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidWheel, match="both as a file and as a directory"):
        unpack_wheel(wheel, dest)


# -- dist-info and RECORD ------------------------------------------------------------------------


def test_missing_dist_info_is_invalid(tmp_path: Path) -> None:
    wheel = write_zip(tmp_path / "demo-1.0-py3-none-any.whl", {"demo/__init__.py": b""})
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidWheel, match="no .dist-info directory") as info:
        unpack_wheel(wheel, dest)
    assert not isinstance(info.value, UnsafeWheel)
    assert list(dest.iterdir()) == []


def test_two_dist_infos_are_invalid(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0", raw_members={"other-1.0.dist-info/METADATA": b""})
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidWheel, match="several .dist-info"):
        unpack_wheel(wheel, dest)


def test_dist_info_of_another_project_is_invalid(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0")
    renamed = wheel.with_name("other-1.0-py3-none-any.whl")
    wheel.rename(renamed)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidWheel, match="not the dist-info of `other`"):
        unpack_wheel(renamed, dest)


@pytest.mark.parametrize("missing", ["WHEEL", "RECORD"])
def test_missing_wheel_or_record_is_invalid(tmp_path: Path, missing: str) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0")
    rewrite_wheel(wheel, {f"demo-1.0.dist-info/{missing}": None})
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidWheel, match=f"no `demo-1.0.dist-info/{missing}`"):
        unpack_wheel(wheel, dest)


def test_wheel_version_2_is_refused(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0")
    rewrite_wheel(wheel, {"demo-1.0.dist-info/WHEEL": b"Wheel-Version: 2.0\nRoot-Is-Purelib: true\n"})
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidWheel, match="Wheel-Version `2.0`"):
        unpack_wheel(wheel, dest)
    assert list(dest.iterdir()) == []


def test_record_hash_mismatch_is_invalid(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0", files={"demo/__init__.py": "good = 1\n"})
    rewrite_wheel(wheel, {"demo/__init__.py": b"evil = 1\n"})  # same size, other bytes
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidWheel) as info:
        unpack_wheel(wheel, dest)
    assert "`demo/__init__.py`" in info.value.message and "sha256" in info.value.message
    assert info.value.code == "invalid-wheel"


def test_record_size_mismatch_is_invalid(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0", files={"demo/__init__.py": "x\n"})
    content = b"x\n"
    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read("demo-1.0.dist-info/METADATA")
        wheel_file = zf.read("demo-1.0.dist-info/WHEEL")
    record = (
        f"demo/__init__.py,{record_hash(content)},99\n"
        f"demo-1.0.dist-info/METADATA,{record_hash(meta)},{len(meta)}\n"
        f"demo-1.0.dist-info/WHEEL,{record_hash(wheel_file)},{len(wheel_file)}\n"
        "demo-1.0.dist-info/RECORD,,\n"
    )
    rewrite_wheel(wheel, {"demo-1.0.dist-info/RECORD": record.encode()})
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidWheel, match="RECORD says 99"):
        unpack_wheel(wheel, dest)


def test_file_missing_from_record_is_invalid(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0", raw_members={"demo/sneaky.py": b"import os\n"})
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidWheel, match="`demo/sneaky.py` that RECORD does not list"):
        unpack_wheel(wheel, dest)


def test_weak_record_hashes_are_refused(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0")
    with zipfile.ZipFile(wheel) as zf:
        record = zf.read("demo-1.0.dist-info/RECORD").decode()
    weak = record.replace("demo/__init__.py,sha256=", "demo/__init__.py,md5=")
    assert weak != record
    rewrite_wheel(wheel, {"demo-1.0.dist-info/RECORD": weak.encode()})
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidWheel, match="`md5`"):
        unpack_wheel(wheel, dest)


def test_corrupt_member_data_is_invalid(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0", files={"demo/__init__.py": "A" * 64})
    rewrite_wheel(wheel, {}, stored=True)
    raw = bytearray(wheel.read_bytes())
    at = raw.find(b"A" * 64)
    raw[at + 10] = ord("B")  # the CRC in the zip no longer matches
    wheel.write_bytes(bytes(raw))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidWheel, match="`demo/__init__.py`"):
        unpack_wheel(wheel, dest)


def test_not_a_zip_is_invalid(tmp_path: Path) -> None:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    wheel.write_bytes(b"<html>not found</html>")
    with pytest.raises(InvalidWheel, match="`demo-1.0-py3-none-any.whl` is not a readable wheel"):
        unpack_wheel(wheel, tmp_path)


# -- helpers -----------------------------------------------------------------------------------


def test_find_dist_info(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo-1.0.dist-info").mkdir()
    assert find_dist_info(tmp_path) == tmp_path / "demo-1.0.dist-info"
    assert find_dist_info(tmp_path, "Demo") == tmp_path / "demo-1.0.dist-info"
    with pytest.raises(InvalidWheel, match="no .dist-info directory for `other`"):
        find_dist_info(tmp_path, "other")
    (tmp_path / "other_pkg-2.0.dist-info").mkdir()
    with pytest.raises(InvalidWheel, match="several"):
        find_dist_info(tmp_path)
    assert find_dist_info(tmp_path, "other-pkg") == tmp_path / "other_pkg-2.0.dist-info"


def test_parse_record_and_wheel_info() -> None:
    rows = parse_record('a/b.py,sha256=abc,12\n"c,d.py",,\nx/RECORD,,\n')
    assert rows[0] == RecordEntry("a/b.py", "sha256=abc", 12)
    assert rows[1] == RecordEntry("c,d.py", None, None)
    with pytest.raises(InvalidWheel, match="size `big`"):
        parse_record("a.py,sha256=x,big\n")
    info = parse_wheel_info("Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n")
    assert info.root_is_purelib is False
    assert info.tags == ("cp311-cp311-linux_x86_64",)
    with pytest.raises(InvalidWheel, match="no Wheel-Version"):
        parse_wheel_info("Root-Is-Purelib: true\n")


def test_record_hash_format() -> None:
    # the RECORD form is urlsafe base64 without padding
    assert record_hash(b"") == "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"


def test_unpacked_files_are_plain_files(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "demo", "1.0")
    dest = tmp_path / "dest"
    dest.mkdir()
    unpack_wheel(wheel, dest)
    for p in dest.rglob("*"):
        assert stat.S_ISREG(p.lstat().st_mode) or stat.S_ISDIR(p.lstat().st_mode)


@pytest.mark.parametrize("source", ["path", "memory"])
def test_a_big_wheel_is_extracted_by_two_threads_to_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    import io

    from pyx_server.engine.install import wheel as wheel_module

    monkeypatch.setattr(wheel_module, "_SPLIT_ABOVE", 1)  # every wheel counts as big
    files = {f"demo/m{i}.py": f"value = {i}\n" * (i + 1) for i in range(40)}
    files["demo/blob.bin"] = os.urandom(300_000)
    wheel = build_wheel(tmp_path / "w", "demo", "1.0", files=files, executable=["demo/m3.py"])
    dest = tmp_path / "dest"
    dest.mkdir()
    unpack_wheel(wheel if source == "path" else io.BytesIO(wheel.read_bytes()), dest, label=wheel.name)
    with zipfile.ZipFile(wheel) as zf:
        assert {i.filename: zf.read(i) for i in zf.infolist()} == tree(dest)
    assert os.stat(dest / "demo/m3.py").st_mode & 0o111


def test_a_corrupt_member_in_either_half_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyx_server.engine.install import wheel as wheel_module

    monkeypatch.setattr(wheel_module, "_SPLIT_ABOVE", 1)
    files = {f"demo/m{i}.py": f"good = {i:04}\n" for i in range(20)}
    wheel = build_wheel(tmp_path / "w", "demo", "1.0", files=files)
    rewrite_wheel(wheel, {"demo/m7.py": b"evil = 0007\n"})  # same size, other bytes
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidWheel) as info:
        unpack_wheel(wheel, dest)
    assert "`demo/m7.py`" in info.value.message
