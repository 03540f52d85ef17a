"""Cuts: the points between PEP 440 versions that bound a version set's intervals, and their text.

Intervals are bounded by *cuts*: points that sit between versions. A version ``v`` lies at
position ``(key(v), 1)``; the cut just below it is ``(key(v), 0)`` and the cut just above it is
``(key(v), 2)``. Three more cuts express PEP 440's special cases exactly, the same way
``packaging`` (26+) does internally:

* *after the locals of* ``V``: above ``V`` and every ``V+local`` (``==1.0`` matches ``1.0+cpu``);
* *after the post-releases of* ``V``: above ``V``, ``V+local`` and every ``V.postN``
  (``>1.0`` matches neither ``1.0.post1`` nor ``1.0+cpu``);
* ``<V`` for a final ``V`` ends before ``V.dev0`` (``<2.0`` does not match ``2.0rc1``).

``key(v)`` is PEP 440's ordering written with public attributes only (epoch, release without
trailing zeros, pre, post, dev, local), so comparisons are plain tuple comparisons. A cut is a
tuple ``(key, side, kind, version)``; ``key`` and ``side`` alone decide its position, ``kind``
and ``version`` are kept to print it back as a specifier (the second half of this module).
Pure; ``ranges.VersionSet`` does the set algebra over intervals of these cuts.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from packaging.version import Version

_INF = float("inf")
_PRE_RANK = {"a": 0, "b": 1, "rc": 2}
_LOCAL_MAX = (2,)

Key = tuple[Any, ...]
Cut = tuple[Key, int, str, "Version | None"]
Segment = tuple[Cut, Cut]


@lru_cache(maxsize=65536)
def version_key(version: Version) -> Key:
    """PEP 440's sort key from public attributes; equal versions (``1.0``, ``1.0.0``) get equal keys."""
    release = version.release
    end = len(release)
    while end > 1 and release[end - 1] == 0:
        end -= 1
    pre, post, dev, local = version.pre, version.post, version.dev, version.local
    if pre is None and post is None and dev is not None:
        pre_key: tuple[int, ...] = (-1, 0)  # 1.0.dev0 sorts before 1.0a0
    elif pre is None:
        pre_key = (3, 0)
    else:
        pre_key = (_PRE_RANK[pre[0]], pre[1])
    post_key = -1 if post is None else post
    dev_key: float = _INF if dev is None else dev
    if local is None:
        local_key: tuple[Any, ...] = (0,)
    else:
        parts = tuple((1, int(p)) if p.isdigit() else (0, p) for p in local.lower().split("."))
        local_key = (1, *parts)
    return (version.epoch, release[:end], pre_key, post_key, dev_key, local_key)


def version_position(version: Version) -> tuple[Key, int]:
    """Where a version sits among cuts: strictly between the cut below and the cut above it."""
    return (version_key(version), 1)


# -- cuts ------------------------------------------------------------------------------------

# Every position has exactly one cut: a cut that can be written as "just below the least version
# above X" is always written that way, so equal sets have equal segments (``<=1.0`` and
# ``<1.0.post0.dev0`` are one set). Only "after the post-releases of a final release" has no
# least version above it (1.0.0.1, 1.0.0.0.1, … get ever closer), and "after exactly V".
_MIN_VERSION = Version("0.dev0")  # the least version there is
MIN_CUT: Cut = (version_key(_MIN_VERSION), 0, "min", None)
MAX_CUT: Cut = ((_INF,), 0, "max", None)


def cut_before(v: Version) -> Cut:
    key = version_key(v)
    if key == MIN_CUT[0]:
        return MIN_CUT
    return (key, 0, "before", v)


def cut_after(v: Version) -> Cut:
    return (version_key(v), 2, "after", v)


def _above_locals(v: Version) -> Version:
    """The least version above ``v`` and every ``v+local`` (``v`` has no local part)."""
    # cached by spelling, not by value: ``1`` and ``1.0`` are equal but print differently
    return _above_locals_of(str(v))


@lru_cache(maxsize=65536)
def _above_locals_of(text: str) -> Version:
    v = Version(text)
    if v.dev is not None:
        return make_version(v.epoch, v.release, v.pre, v.post, v.dev + 1)
    return make_version(v.epoch, v.release, v.pre, 0 if v.post is None else v.post + 1, 0)


def cut_after_locals(v: Version) -> Cut:
    return cut_before(_above_locals(v))


def cut_after_posts(v: Version) -> Cut:
    """Above ``v``, its locals and its post-releases (``v`` has no dev or post part)."""
    if v.pre is not None:
        kind, number = v.pre
        return cut_before(make_version(v.epoch, v.release, (kind, number + 1), dev=0))
    return (version_key(v)[:3] + (_INF,), 0, "after_posts", v)


def make_version(
    epoch: int,
    release: Sequence[int],
    pre: tuple[str, int] | None = None,
    post: int | None = None,
    dev: int | None = None,
) -> Version:
    text = f"{epoch}!" if epoch else ""
    text += ".".join(str(part) for part in release)
    if pre is not None:
        text += f"{pre[0]}{pre[1]}"
    if post is not None:
        text += f".post{post}"
    if dev is not None:
        text += f".dev{dev}"
    return Version(text)


def _is_bare_dev0(v: Version) -> bool:
    """``X.dev0`` with nothing else: the first version of release ``X``."""
    return v.dev == 0 and v.pre is None and v.post is None and v.local is None


# -- cuts as text ----------------------------------------------------------------------------


def exactly(lo: Cut, hi: Cut) -> Version | None:
    """``V`` when ``[lo, hi)`` is ``==V``: exactly V, or V and its local variants."""
    if lo[2] != "before":
        return None
    version = lo[3]
    assert version is not None
    if hi[2] == "after" and hi[3] == version:
        return version
    if hi[2] == "before" and version.local is None and hi[0] == version_key(_above_locals(version)):
        return version
    return None


def lower_bound(segment: Segment) -> Cut:
    return segment[0]


def upper_bound(segment: Segment) -> Cut:
    return segment[1]


def segment_text(lo: Cut, hi: Cut) -> str | None:
    """One interval as a specifier (``==1.0``, ``==1.*``, ``>=1,<2``, ``""`` for everything)."""
    single = _one_clause("==", lo, hi)
    if single is not None:
        return single
    clauses = [text for text in (lower_text(lo), upper_text(hi)) if text]
    return ",".join(clauses)


def _wildcard_prefix(lo: Version, hi: Version) -> str | None:
    """``1.2`` when ``[lo, hi)`` is ``[1.2.dev0, 1.3.dev0)``, the range of ``==1.2.*``."""
    if not (_is_bare_dev0(lo) and _is_bare_dev0(hi)) or lo.epoch != hi.epoch:
        return None
    a, b = lo.release, hi.release
    if len(a) != len(b) or a[:-1] != b[:-1] or b[-1] != a[-1] + 1:
        return None
    prefix = ".".join(str(part) for part in a)
    return f"{lo.epoch}!{prefix}" if lo.epoch else prefix


def _below(version: Version) -> Version | None:
    """``X`` when ``version`` is the least version above ``X`` and its locals/post-releases,
    i.e. when a cut before ``version`` reads best as "above X": ``1.0.post3.dev0`` → ``1.0.post2``,
    ``1.0.post0.dev0`` → ``1.0``, ``1.0a2.dev0`` → ``1.0a1``."""
    if version.dev != 0 or version.local is not None:
        return None
    if version.post is not None:
        post = None if version.post == 0 else version.post - 1
        return make_version(version.epoch, version.release, version.pre, post)
    if version.pre is not None and version.pre[1] > 0:
        return make_version(version.epoch, version.release, (version.pre[0], version.pre[1] - 1))
    return None


def lower_text(cut: Cut) -> str:
    kind, version = cut[2], cut[3]
    if kind == "min":
        return ""
    if kind == "before":
        assert version is not None
        below = _below(version)
        if below is not None and version.post != 0:
            # >1.0.post2, >1.0a1 (">1.0" for 1.0.post0.dev0 would wrongly exclude 1.0.post1)
            return f">{below}"
        return f">={version}"
    return f">{version}"  # after, after_posts


def upper_text(cut: Cut) -> str:
    kind, version = cut[2], cut[3]
    if kind == "max":
        return ""
    if kind == "before":
        assert version is not None
        if _is_bare_dev0(version):
            # ``<2.0`` is stored as ``<2.0.dev0`` (PEP 440 excludes 2.0's pre-releases)
            release = ".".join(str(part) for part in version.release)
            return f"<{version.epoch}!{release}" if version.epoch else f"<{release}"
        below = _below(version)
        if below is not None and version.post is not None:
            return f"<={below}"  # <=1.0 (with its locals), <=1.0.post2
        return f"<{version}"
    return f"<={version}"


def hole_text(left_hi: Cut, right_lo: Cut) -> str | None:
    """``!=V`` (or ``!=V.*``) when the gap between two intervals is exactly that, else None."""
    return _one_clause("!=", left_hi, right_lo)


def _one_clause(operator: str, lo: Cut, hi: Cut) -> str | None:
    """``[lo, hi)`` as ``{operator}V`` when it is one version (with its locals), as
    ``{operator}V.*`` when it is one wildcard; None otherwise."""
    exact = exactly(lo, hi)
    if exact is not None:
        return f"{operator}{exact}"
    if lo[2] == "before" and hi[2] == "before":
        prefix = _wildcard_prefix(lo[3], hi[3])  # type: ignore[arg-type]
        if prefix is not None:
            return f"{operator}{prefix}.*"
    return None
