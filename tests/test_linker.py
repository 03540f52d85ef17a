"""Link modes: clone, hardlink, copy, symlink; the default's probing and every fallback."""

from __future__ import annotations

import errno
import os
import tempfile
import time
from pathlib import Path

import pytest

from pyx_server.engine.install import linker as linker_mod
from pyx_server.engine.errors import ConfigError
from pyx_server.engine.install.linker import (
    Linker,
    LinkMode,
    copy_file,
    filesystem_supports_clone,
    link_mode_from_env,
)


def make_files(directory: Path, count: int, *, mode: int = 0o644) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        p = directory / f"f{i}.py"
        p.write_bytes(f"value = {i}\n".encode())
        p.chmod(mode)
        paths.append(p)
    return paths


#: read at import: the autouse ``isolated_env`` fixture removes PYX_* variables from tests
REFLINK_DIR = os.environ.get("PYX_TEST_REFLINK_DIR")


def reflink_dir(tmp_path: Path) -> Path | None:
    """A directory whose filesystem can clone: tmp_path, /dev/shm, or $PYX_TEST_REFLINK_DIR."""
    candidates = [tmp_path, Path("/dev/shm")]
    if REFLINK_DIR:
        candidates.insert(0, Path(REFLINK_DIR))
    for c in candidates:
        if c.is_dir() and os.access(c, os.W_OK) and filesystem_supports_clone(c):
            return c
    return None


def other_device_dir(tmp_path: Path) -> Path | None:
    """A writable directory on another filesystem than tmp_path (for real EXDEV), if any."""
    here = os.stat(tmp_path).st_dev
    for c in (Path("/dev/shm"), Path("/run"), Path("/var/tmp"), Path("/tmp")):
        if c.is_dir() and os.access(c, os.W_OK) and os.stat(c).st_dev != here:
            return c
    return None


# -- configuration -------------------------------------------------------------------------------


def test_link_mode_from_flag_env_and_default() -> None:
    assert link_mode_from_env(None, {}) is None
    assert link_mode_from_env(None, {"PYX_LINK_MODE": ""}) is None
    assert link_mode_from_env(None, {"PYX_LINK_MODE": "copy"}) is LinkMode.COPY
    assert link_mode_from_env("Symlink", {"PYX_LINK_MODE": "copy"}) is LinkMode.SYMLINK  # flag wins
    assert link_mode_from_env("hardlink") is LinkMode.HARDLINK


def test_bad_link_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        link_mode_from_env(None, {"PYX_LINK_MODE": "reflink"})
    err = info.value
    assert "`reflink`" in err.message and "PYX_LINK_MODE" in err.message
    assert any("clone" in h and "hardlink" in h for h in err.hints)
    with pytest.raises(ConfigError, match="--link-mode"):
        link_mode_from_env("bogus", {})


# -- each mode ---------------------------------------------------------------------------------


def test_hardlink_shares_the_inode(tmp_path: Path) -> None:
    (src,) = make_files(tmp_path / "cache", 1)
    dst = tmp_path / "env" / "f.py"
    dst.parent.mkdir()
    linker = Linker(LinkMode.HARDLINK)
    linker.link(src, dst)
    assert os.stat(dst).st_ino == os.stat(src).st_ino
    assert os.stat(src).st_nlink == 2
    assert linker.effective_mode is LinkMode.HARDLINK and linker.warning is None


def test_copy_is_independent_and_keeps_mode_bits(tmp_path: Path) -> None:
    (src,) = make_files(tmp_path / "cache", 1, mode=0o750)
    dst = tmp_path / "env" / "f.py"
    dst.parent.mkdir()
    Linker(LinkMode.COPY).link(src, dst)
    assert os.stat(dst).st_ino != os.stat(src).st_ino
    assert os.stat(src).st_nlink == 1
    assert dst.read_bytes() == src.read_bytes()
    assert os.stat(dst).st_mode & 0o7777 == 0o750
    dst.write_bytes(b"changed")
    assert src.read_bytes() == b"value = 0\n"


def test_copy_of_an_empty_and_a_large_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    big = tmp_path / "big"
    payload = os.urandom(3 << 20)
    big.write_bytes(payload)
    copy_file(empty, tmp_path / "empty2")
    copy_file(big, tmp_path / "big2")
    assert (tmp_path / "empty2").read_bytes() == b""
    assert (tmp_path / "big2").read_bytes() == payload


def test_symlink_points_at_the_cache(tmp_path: Path) -> None:
    (src,) = make_files(tmp_path / "cache", 1)
    dst = tmp_path / "env" / "f.py"
    dst.parent.mkdir()
    linker = Linker(LinkMode.SYMLINK)
    linker.link(src, dst)
    assert dst.is_symlink()
    assert os.readlink(dst) == str(src.absolute())
    assert dst.read_bytes() == src.read_bytes()
    assert linker.effective_mode is LinkMode.SYMLINK


def test_clone_on_a_reflink_filesystem(tmp_path: Path) -> None:
    base = reflink_dir(tmp_path)
    if base is None:
        pytest.skip("no reflink-capable filesystem here (tmp_path and /dev/shm cannot clone; "
                    "set PYX_TEST_REFLINK_DIR to a btrfs/xfs directory to run this)")
    work = Path(tempfile.mkdtemp(dir=base, prefix="pyx-clone-test-"))
    try:
        (src,) = make_files(work / "cache", 1, mode=0o755)
        dst = work / "env" / "f.py"
        dst.parent.mkdir()
        explicit = Linker(LinkMode.CLONE)
        explicit.link(src, dst)
        assert explicit.effective_mode is LinkMode.CLONE and explicit.warning is None
        assert os.stat(dst).st_ino != os.stat(src).st_ino  # a separate file sharing extents
        assert dst.read_bytes() == src.read_bytes()
        assert os.stat(dst).st_mode & 0o7777 == 0o755
        dst.write_bytes(b"changed")
        assert src.read_bytes() == b"value = 0\n"

        default = Linker()
        many = make_files(work / "cache2", 50)
        (work / "env2").mkdir()
        for p in many:
            default.link(p, work / "env2" / p.name)
        assert default.effective_mode is LinkMode.CLONE  # the default prefers a clone
        assert all(os.stat(work / "env2" / p.name).st_ino != os.stat(p).st_ino for p in many)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


# -- the default and its fallbacks ---------------------------------------------------------------


def test_default_mode_lands_files_with_the_best_mode_here(tmp_path: Path) -> None:
    srcs = make_files(tmp_path / "cache", 20)
    env = tmp_path / "env"
    env.mkdir()
    linker = Linker()
    for p in srcs:
        linker.link(p, env / p.name)
    assert all((env / p.name).read_bytes() == p.read_bytes() for p in srcs)
    if filesystem_supports_clone(tmp_path):
        assert linker.effective_mode is LinkMode.CLONE
    else:
        assert linker.effective_mode is LinkMode.HARDLINK
        assert all(os.stat(env / p.name).st_ino == os.stat(p).st_ino for p in srcs)
    assert linker.warning is None  # the default falls back silently


def test_default_probes_clone_once_then_remembers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def no_clone(src, dst):
        calls.append(dst)
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(linker_mod, "clone_file", no_clone)
    srcs = make_files(tmp_path / "cache", 200)
    env = tmp_path / "env"
    env.mkdir()
    linker = Linker()
    for p in srcs:
        linker.link(p, env / p.name)
    assert len(calls) == 1
    assert linker.effective_mode is LinkMode.HARDLINK
    assert linker.fallback_reason is not None and linker.fallback_reason.errno == errno.EOPNOTSUPP
    assert all(os.stat(env / p.name).st_ino == os.stat(p).st_ino for p in srcs)


@pytest.mark.parametrize("code", [errno.EINVAL, errno.ENOTTY, errno.EXDEV])
def test_default_treats_clone_errors_as_unsupported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def no_clone(src, dst):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(linker_mod, "clone_file", no_clone)
    (src,) = make_files(tmp_path / "cache", 1)
    linker = Linker()
    linker.link(src, tmp_path / "out.py")
    assert linker.effective_mode is LinkMode.HARDLINK
    assert (tmp_path / "out.py").read_bytes() == src.read_bytes()


def test_default_across_devices_ends_in_copy(tmp_path: Path) -> None:
    other = other_device_dir(tmp_path)
    if other is None:
        pytest.skip("no second filesystem to link across")
    cache = Path(tempfile.mkdtemp(dir=other, prefix="pyx-xdev-"))
    try:
        srcs = make_files(cache, 30, mode=0o755)
        env = tmp_path / "env"
        env.mkdir()
        linker = Linker()
        for p in srcs:
            linker.link(p, env / p.name)
        assert linker.effective_mode is LinkMode.COPY  # clone, then hardlink: EXDEV
        assert linker.warning is None
        for p in srcs:
            assert (env / p.name).read_bytes() == p.read_bytes()
            assert os.stat(env / p.name).st_mode & 0o7777 == 0o755
    finally:
        import shutil

        shutil.rmtree(cache, ignore_errors=True)


def test_default_falls_back_to_copy_when_hardlinks_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link_calls = []

    def no_clone(src, dst):
        raise OSError(errno.EOPNOTSUPP, "no")

    def no_link(src, dst):
        link_calls.append(dst)
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(linker_mod, "clone_file", no_clone)
    monkeypatch.setitem(linker_mod._PRIMITIVES, LinkMode.HARDLINK, no_link)
    srcs = make_files(tmp_path / "cache", 10)
    env = tmp_path / "env"
    env.mkdir()
    linker = Linker()
    for p in srcs:
        linker.link(p, env / p.name)
    assert linker.effective_mode is LinkMode.COPY
    assert len(link_calls) == 1
    assert all(os.stat(env / p.name).st_ino != os.stat(p).st_ino for p in srcs)


def test_explicit_clone_that_cannot_work_copies_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if filesystem_supports_clone(tmp_path):
        monkeypatch.setattr(
            linker_mod, "clone_file", lambda s, d: (_ for _ in ()).throw(OSError(errno.EOPNOTSUPP, "no"))
        )
    srcs = make_files(tmp_path / "cache", 5)
    env = tmp_path / "env"
    env.mkdir()
    linker = Linker(LinkMode.CLONE)
    for p in srcs:
        linker.link(p, env / p.name)
    assert linker.warning == "Failed to clone files; falling back to full copy"
    assert linker.effective_mode is LinkMode.COPY  # an explicit clone never becomes a hardlink
    assert all(os.stat(env / p.name).st_ino != os.stat(p).st_ino for p in srcs)


def test_explicit_hardlink_across_devices_copies_with_a_warning(tmp_path: Path) -> None:
    other = other_device_dir(tmp_path)
    if other is None:
        pytest.skip("no second filesystem to link across")
    cache = Path(tempfile.mkdtemp(dir=other, prefix="pyx-xdev-"))
    try:
        (src,) = make_files(cache, 1)
        linker = Linker(LinkMode.HARDLINK)
        linker.link(src, tmp_path / "f.py")
        assert linker.warning == "Failed to hardlink files; falling back to full copy"
        assert linker.effective_mode is LinkMode.COPY
        assert (tmp_path / "f.py").read_bytes() == src.read_bytes()
    finally:
        import shutil

        shutil.rmtree(cache, ignore_errors=True)


def test_too_many_links_copies_only_that_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    srcs = make_files(tmp_path / "cache", 3)
    real_link = os.link

    def link(src, dst):
        if str(src).endswith("f1.py"):
            raise OSError(errno.EMLINK, "Too many links")
        real_link(src, dst)

    monkeypatch.setitem(linker_mod._PRIMITIVES, LinkMode.HARDLINK, link)
    env = tmp_path / "env"
    env.mkdir()
    linker = Linker(LinkMode.HARDLINK)
    for p in srcs:
        linker.link(p, env / p.name)
    assert linker.effective_mode is LinkMode.HARDLINK and linker.warning is None
    inodes = [os.stat(env / p.name).st_ino == os.stat(p).st_ino for p in srcs]
    assert inodes == [True, False, True]


@pytest.mark.parametrize("mode", [None, *LinkMode])
def test_real_errors_propagate_and_do_not_change_the_mode(tmp_path: Path, mode: LinkMode | None) -> None:
    (src,) = make_files(tmp_path / "cache", 1)
    existing = tmp_path / "existing.py"
    existing.write_bytes(b"keep")
    linker = Linker(mode)
    before = linker.effective_mode
    with pytest.raises(FileExistsError):
        linker.link(src, existing)
    if mode is not LinkMode.SYMLINK:  # a symlink to a missing file is merely dangling
        with pytest.raises(FileNotFoundError):
            linker.link(tmp_path / "missing.py", tmp_path / "new.py")
        assert not os.path.lexists(tmp_path / "new.py")
    assert existing.read_bytes() == b"keep"
    if mode is not None:
        assert linker.effective_mode is before and linker.warning is None


def test_linking_thousands_of_files_is_fast(tmp_path: Path) -> None:
    srcs = make_files(tmp_path / "cache", 3000)
    env = tmp_path / "env"
    env.mkdir()
    linker = Linker()
    start = time.perf_counter()
    for p in srcs:
        linker.link(p, env / p.name)
    elapsed = time.perf_counter() - start
    assert len(os.listdir(env)) == 3000
    # about 0.05 s on a laptop; generous for a loaded CI machine, fails on per-file retries
    assert elapsed < 3.0, f"linking 3000 files took {elapsed:.2f}s"


def test_link_files_links_in_order_and_stops_at_a_file_in_the_way(tmp_path: Path) -> None:
    srcs = make_files(tmp_path / "cache", 5)
    names = [p.name for p in srcs]
    env = tmp_path / "env"
    env.mkdir()
    (env / names[3]).write_text("someone else's")
    linker = Linker(LinkMode.HARDLINK)
    end, exc = linker.link_files(f"{tmp_path / 'cache'}/", f"{env}/", names)
    assert end == 3 and isinstance(exc, FileExistsError)
    assert all(os.stat(env / n).st_ino == os.stat(p).st_ino for n, p in zip(names[:3], srcs))
    assert (env / names[3]).read_text() == "someone else's"  # untouched: the caller decides
    assert linker.link_files(f"{tmp_path / 'cache'}/", f"{env}/", names, 4) == (5, None)
    assert os.stat(env / names[4]).st_ino == os.stat(srcs[4]).st_ino


def test_link_files_falls_back_like_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same fallback as ``test_default_probes_clone_once_then_remembers``, through the bulk loop."""
    monkeypatch.setattr(linker_mod, "clone_file", _refuse_clone)
    srcs = make_files(tmp_path / "cache", 50)
    (tmp_path / "env").mkdir()
    linker = Linker()
    assert linker.link_files(f"{tmp_path / 'cache'}/", f"{tmp_path / 'env'}/", [p.name for p in srcs]) == (50, None)
    assert linker.effective_mode is LinkMode.HARDLINK
    env = tmp_path / "env"
    assert all(os.stat(env / p.name).st_ino == os.stat(p).st_ino for p in srcs)


def test_link_files_reports_a_real_failure_with_its_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    srcs = make_files(tmp_path / "cache", 3)
    env = tmp_path / "env"
    env.mkdir()
    linker = Linker(LinkMode.COPY)
    end, exc = linker.link_files(f"{tmp_path / 'cache'}/", f"{env}/missing-dir/", [p.name for p in srcs])
    assert end == 0 and isinstance(exc, FileNotFoundError)


def _refuse_clone(src, dst):
    """A filesystem without reflinks, as ``clone_file`` meets it."""
    raise OSError(errno.EOPNOTSUPP, "Operation not supported")
