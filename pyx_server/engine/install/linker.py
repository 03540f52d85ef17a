"""Putting cached files into an environment: clone (reflink), hardlink, copy or symlink.

An install links every file of an unpacked wheel out of the global cache, so this is the hot
loop of a warm install (thousands of files). The default mode is the best one the filesystem
offers: a copy-on-write clone (Linux ``FICLONE`` ioctl, macOS ``clonefile``), else a hardlink,
else a full copy. It is decided by probing with the first file and then remembered, so a
filesystem without reflinks costs one failed ioctl per ``Linker``, not one per file.

A mode the user asked for explicitly (``--link-mode``, ``PYX_LINK_MODE``) falls back to a full
copy when it cannot work, and the ``Linker`` keeps a warning (as uv says "Failed to clone
files; falling back to full copy") for the caller to report; the engine itself never prints.

Hardlinks and symlinks share the cached bytes: whoever writes to an installed file in place
changes the cache. The installer therefore never modifies a linked file; it writes a new file
whenever the installed content must differ from the archive.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from pathlib import Path

from pyx_server.engine.errors import ConfigError

StrPath = str | os.PathLike


class LinkMode(str, Enum):
    """How files get from the cache into an environment (uv's ``--link-mode`` values)."""

    CLONE = "clone"
    HARDLINK = "hardlink"
    COPY = "copy"
    SYMLINK = "symlink"


def link_mode_from_env(
    value: str | None, env: Mapping[str, str] = os.environ
) -> LinkMode | None:
    """The link mode from ``--link-mode`` (``value``) or else ``PYX_LINK_MODE``; None for the default."""
    source = "--link-mode"
    if value is None:
        value, source = env.get("PYX_LINK_MODE"), "PYX_LINK_MODE"
    if value is None or not value.strip():
        return None
    try:
        return LinkMode(value.strip().lower())
    except ValueError:
        raise ConfigError(
            f"`{value}` is not a link mode (from {source})",
            context={"source": source},
            hints=["use one of: " + ", ".join(m.value for m in LinkMode)],
        ) from None


# -- the primitives ---------------------------------------------------------------------------

_O_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
#: _IOW(0x94, 9, int): the Linux ioctl that makes ``dst`` share ``src``'s extents
FICLONE = 0x40049409


def _clone_linux(src: StrPath, dst: StrPath) -> None:
    import fcntl

    sfd = os.open(src, _O_READ)
    try:
        mode = stat.S_IMODE(os.fstat(sfd).st_mode)
        dfd = os.open(dst, _O_NEW, mode)
        try:
            fcntl.ioctl(dfd, FICLONE, sfd)
            os.fchmod(dfd, mode)
        except BaseException:
            os.close(dfd)
            os.unlink(dst)
            raise
        os.close(dfd)
    finally:
        os.close(sfd)


_clonefile: Callable[..., int] | None = None


def _clone_macos(src: StrPath, dst: StrPath) -> None:
    """``clonefile(2)``: copies the mode too; fails with ENOTSUP off APFS."""
    global _clonefile
    import ctypes

    if _clonefile is None:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.clonefile
        fn.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint32)
        fn.restype = ctypes.c_int
        _clonefile = fn
    if _clonefile(os.fsencode(src), os.fsencode(dst), 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), os.fsdecode(dst))


def _clone_unsupported(src: StrPath, dst: StrPath) -> None:
    raise OSError(errno.ENOTSUP, "cloning files is not supported on this platform", os.fsdecode(dst))


if sys.platform.startswith("linux"):
    clone_file = _clone_linux
elif sys.platform == "darwin":
    clone_file = _clone_macos
else:
    clone_file = _clone_unsupported
clone_file.__doc__ = "Make ``dst`` a copy-on-write clone of ``src`` (OSError where unsupported)."


def copy_file(src: StrPath, dst: StrPath) -> None:
    """Copy ``src`` to the new file ``dst`` with the same mode bits (kernel-side where possible)."""
    sfd = os.open(src, _O_READ)
    try:
        st = os.fstat(sfd)
        mode = stat.S_IMODE(st.st_mode)
        dfd = os.open(dst, _O_NEW, mode)
        try:
            _copy_fd(sfd, dfd, st.st_size)
            os.fchmod(dfd, mode)
        except BaseException:
            os.close(dfd)
            os.unlink(dst)
            raise
        os.close(dfd)
    finally:
        os.close(sfd)


def _copy_fd(sfd: int, dfd: int, size: int) -> None:
    offset = 0
    if hasattr(os, "sendfile") and sys.platform.startswith("linux"):
        try:
            while offset < size:
                sent = os.sendfile(dfd, sfd, offset, size - offset)
                if sent == 0:
                    break
                offset += sent
            return
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP) or offset:
                raise
    os.lseek(sfd, offset, os.SEEK_SET)
    while chunk := os.read(sfd, 1 << 20):
        view = memoryview(chunk)
        while view:
            view = view[os.write(dfd, view) :]


def _symlink(src: StrPath, dst: StrPath) -> None:
    os.symlink(os.path.abspath(src), dst)


_PRIMITIVES: dict[LinkMode, Callable[[StrPath, StrPath], None]] = {
    LinkMode.CLONE: lambda s, d: clone_file(s, d),
    LinkMode.HARDLINK: os.link,
    LinkMode.COPY: copy_file,
    LinkMode.SYMLINK: _symlink,
}

#: errno values meaning "this mode does not work here" (as opposed to a real failure)
_UNSUPPORTED: dict[LinkMode, frozenset[int]] = {
    LinkMode.CLONE: frozenset(
        {errno.ENOTSUP, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOTTY, errno.EXDEV, errno.ENOSYS,
         errno.EPERM}
    ),
    LinkMode.HARDLINK: frozenset({errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP}),
    LinkMode.SYMLINK: frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}),
    LinkMode.COPY: frozenset(),
}

_WARNINGS = {
    LinkMode.CLONE: "Failed to clone files; falling back to full copy",
    LinkMode.HARDLINK: "Failed to hardlink files; falling back to full copy",
    LinkMode.SYMLINK: "Failed to symlink files; falling back to full copy",
}


class Linker:
    """Links files out of the cache with one mode, falling back once when the mode can't work.

    ``mode`` None is the default: clone where the filesystem supports it, else hardlink, else
    copy, decided on the first file. An explicit mode that fails falls back to copy and sets
    ``warning``. A ``Linker`` is meant for one install (one cache, one target filesystem).
    """

    def __init__(self, mode: LinkMode | None = None) -> None:
        self.requested = mode
        #: set when an explicitly requested mode could not be used; the caller reports it
        self.warning: str | None = None
        #: the OSError that caused the last fallback, for ``-v`` detail
        self.fallback_reason: OSError | None = None
        first = LinkMode.CLONE if mode is None else mode
        # (mode, primitive) swapped as one value, so threads sharing a Linker agree
        self._state = (first, _PRIMITIVES[first])

    @property
    def effective_mode(self) -> LinkMode:
        """The mode in use: after a fallback, the one actually used (before any link, the first try)."""
        return self._state[0]

    def link(self, src: Path | str, dst: Path | str) -> None:
        """Make ``dst`` (which must not exist) hold the content and mode of ``src``."""
        mode, do = self._state
        try:
            do(src, dst)
        except OSError as exc:
            self._recover(mode, exc, src, dst)

    def link_files(self, src_base: str, dst_base: str, paths: Sequence[str], start: int = 0) -> tuple[int, OSError | None]:
        """Link ``src_base + p`` to ``dst_base + p`` for ``paths[start:]``, in order.

        The hot loop of a warm install (thousands of files): one string join each way and the
        primitive, nothing else. Stops at the first file it cannot place and returns its index
        and the error, ``FileExistsError`` for a file already there (the caller decides what to
        do with it); ``(len(paths), None)`` once all are linked. Fallbacks work as in ``link``.
        """
        n = len(paths)
        i = start
        while i < n:
            mode, do = self._state
            try:
                for i in range(i, n):
                    path = paths[i]
                    do(src_base + path, dst_base + path)
                return n, None
            except FileExistsError as exc:
                return i, exc
            except OSError as exc:
                try:
                    self._recover(mode, exc, src_base + paths[i], dst_base + paths[i])
                except OSError as final:
                    return i, final
                i += 1
        return n, None

    def _recover(self, mode: LinkMode, exc: OSError, src: Path | str, dst: Path | str) -> None:
        if exc.errno not in _UNSUPPORTED[mode]:
            if mode is LinkMode.HARDLINK and exc.errno == errno.EMLINK:
                copy_file(src, dst)  # this inode has too many links: copy just this file
                return
            raise exc
        if self.requested is None and mode is LinkMode.CLONE:
            fallback = LinkMode.HARDLINK
        else:
            fallback = LinkMode.COPY
            if self.requested is not None and mode in _WARNINGS:
                self.warning = _WARNINGS[mode]
        if self._state[0] is mode:
            self._state = (fallback, _PRIMITIVES[fallback])
            self.fallback_reason = exc
        self.link(src, dst)


def filesystem_supports_clone(directory: Path) -> bool:
    """Whether files in ``directory`` can be reflinked (probes with two scratch files)."""
    import tempfile

    fd, src = tempfile.mkstemp(dir=directory, prefix=".pyx-clone-probe-")
    dst = src + ".clone"
    try:
        os.write(fd, b"probe")
        os.close(fd)
        try:
            clone_file(src, dst)
        except OSError:
            return False
        return True
    finally:
        for path in (src, dst):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
