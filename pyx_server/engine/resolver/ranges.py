"""Version sets: unions of intervals over PEP 440 versions, with the algebra PubGrub needs.

PubGrub reasons about *sets* of versions (``a>=2`` depends on ``b<1``; ``a<2`` cannot be used),
so it needs intersection, union, complement and subset tests that are exact. A ``SpecifierSet``
can only answer "does this version match", so this module turns specifiers into sorted,
disjoint intervals and does the set algebra on those.

The points that bound the intervals (*cuts*, with PEP 440's special cases: local versions,
post-releases, pre-releases of an upper bound) and their text are in ``cuts``.

Arbitrary equality (``===``) is treated as an exact match of the parsed version (no local
versions); a ``===`` string that is not a PEP 440 version matches nothing.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from pyx_server.engine.resolver.cuts import (
    MAX_CUT,
    MIN_CUT,
    Cut,
    Key,
    Segment,
    cut_after,
    cut_after_locals,
    cut_after_posts,
    cut_before,
    exactly,
    hole_text,
    lower_bound,
    lower_text,
    make_version,
    segment_text,
    upper_bound,
    upper_text,
    version_key,
    version_position,
)

__all__ = [
    "VersionSet",
    "version_key",
    "version_position",
]

_UNSET = object()


class VersionSet:
    """An immutable set of versions: sorted, disjoint, non-touching half-open cut intervals."""

    __slots__ = ("_segments", "_hash", "_singleton")

    def __init__(self, segments: tuple[Segment, ...] = ()) -> None:
        # callers inside this module pass normalized segments; use ``_normalized`` otherwise
        self._segments = segments
        self._hash: int | None = None
        self._singleton: Any = _UNSET

    # -- construction ---------------------------------------------------------------------

    @staticmethod
    def full() -> VersionSet:
        """Every version."""
        return _FULL

    @staticmethod
    def empty() -> VersionSet:
        """No version."""
        return _EMPTY

    @staticmethod
    def exact(version: Version) -> VersionSet:
        """Exactly this version (its local variants excluded): what a decision pins."""
        return VersionSet(((cut_before(version), cut_after(version)),))

    @staticmethod
    def between(lower: Version | None, upper: Version | None) -> VersionSet:
        """The open gap strictly between two versions (``None`` = unbounded on that side)."""
        lo = MIN_CUT if lower is None else cut_after(lower)
        hi = MAX_CUT if upper is None else cut_before(upper)
        return VersionSet(((lo, hi),)) if lo < hi else _EMPTY

    @staticmethod
    def from_specifier(specifier: Specifier | str) -> VersionSet:
        """The versions one PEP 440 specifier admits, pre-releases included."""
        if isinstance(specifier, str):
            specifier = Specifier(specifier)
        return _from_specifier(specifier.operator, specifier.version)

    @staticmethod
    def from_specifier_set(specifiers: SpecifierSet | str) -> VersionSet:
        """The versions every specifier of the set admits (an empty set admits every version)."""
        text = str(specifiers)
        return _from_specifier_set_text(text)

    @staticmethod
    def from_versions(versions: Iterable[Version]) -> VersionSet:
        """Exactly the given versions."""
        return VersionSet._normalized([(cut_before(v), cut_after(v)) for v in versions])

    @staticmethod
    def _normalized(segments: Iterable[Segment]) -> VersionSet:
        ordered = sorted(s for s in segments if s[0] < s[1])
        merged: list[list[Cut]] = []
        for lo, hi in ordered:
            if merged and lo <= merged[-1][1]:
                if hi > merged[-1][1]:
                    merged[-1][1] = hi
            else:
                merged.append([lo, hi])
        if not merged:
            return _EMPTY
        return VersionSet(tuple((lo, hi) for lo, hi in merged))

    # -- queries ----------------------------------------------------------------------------

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The intervals, lowest first (for printing and for slicing sorted candidate lists)."""
        return self._segments

    def is_empty(self) -> bool:
        return not self._segments

    def is_full(self) -> bool:
        return self._segments == _FULL_SEGMENTS

    def __contains__(self, version: Version) -> bool:
        return self.contains_position(version_position(version))

    def contains(self, version: Version) -> bool:
        """Whether ``version`` is in the set (pre-releases are not special here)."""
        return self.contains_position(version_position(version))

    def contains_position(self, position: tuple[Key, int]) -> bool:
        """Membership by precomputed position: the solver caches one per candidate."""
        segments = self._segments
        if not segments:
            return False
        if len(segments) == 1:
            lo, hi = segments[0]
            return lo < position < hi  # type: ignore[operator]
        index = bisect_right(segments, (position,)) - 1  # type: ignore[arg-type]
        if index < 0:
            return False
        lo, hi = segments[index]
        return lo < position < hi  # type: ignore[operator]

    def index_ranges(self, positions: Sequence[tuple[Key, int]]) -> list[tuple[int, int]]:
        """For a sorted list of candidate positions, the index slices ``[i, j)`` inside the set."""
        out: list[tuple[int, int]] = []
        for lo, hi in self._segments:
            i = bisect_right(positions, lo)  # type: ignore[arg-type]
            j = bisect_right(positions, hi, lo=i)  # type: ignore[arg-type]
            if i < j:
                out.append((i, j))
        return out

    def singleton(self) -> Version | None:
        """The version if the set is one version (optionally with its local variants)."""
        if self._singleton is _UNSET:
            self._singleton = exactly(*self._segments[0]) if len(self._segments) == 1 else None
        return self._singleton

    # -- algebra ----------------------------------------------------------------------------

    def intersection(self, other: VersionSet) -> VersionSet:
        """Versions in both sets."""
        a, b = self._segments, other._segments
        if not a or not b:
            return _EMPTY
        if a is b or a == _FULL_SEGMENTS:
            return other
        if b == _FULL_SEGMENTS:
            return self
        if len(a) == 1 and len(b) == 1:
            lo = a[0][0] if a[0][0] > b[0][0] else b[0][0]
            hi = a[0][1] if a[0][1] < b[0][1] else b[0][1]
            if not lo < hi:
                return _EMPTY
            if lo is a[0][0] and hi is a[0][1]:
                return self
            if lo is b[0][0] and hi is b[0][1]:
                return other
            return VersionSet(((lo, hi),))
        out: list[Segment] = []
        i = j = 0
        while i < len(a) and j < len(b):
            alo, ahi = a[i]
            blo, bhi = b[j]
            lo = alo if alo > blo else blo
            hi = ahi if ahi < bhi else bhi
            if lo < hi:
                out.append((lo, hi))
            if ahi < bhi:
                i += 1
            else:
                j += 1
        return VersionSet(tuple(out)) if out else _EMPTY

    def union(self, other: VersionSet) -> VersionSet:
        """Versions in either set."""
        a, b = self._segments, other._segments
        if not a or b == _FULL_SEGMENTS:
            return other
        if not b or a == _FULL_SEGMENTS or a is b:
            return self
        if len(b) > len(a):
            a, b = b, a
        if len(b) <= 2 and len(a) > 8:
            # a few intervals into a long list: splice each in (the list copy runs in C)
            merged = a
            for lo, hi in b:
                i = bisect_left(merged, lo, key=upper_bound)  # first interval reaching lo
                j = bisect_right(merged, hi, key=lower_bound)  # first interval starting after hi
                if i < j:
                    lo = lo if lo < merged[i][0] else merged[i][0]
                    hi = hi if hi > merged[j - 1][1] else merged[j - 1][1]
                merged = merged[:i] + ((lo, hi),) + merged[j:]
            return VersionSet(merged)
        # merge two sorted lists, coalescing overlapping or touching intervals
        out: list[list[Cut]] = []
        i = j = 0
        while i < len(a) or j < len(b):
            if j == len(b) or (i < len(a) and a[i][0] <= b[j][0]):
                lo, hi = a[i]
                i += 1
            else:
                lo, hi = b[j]
                j += 1
            if out and lo <= out[-1][1]:
                if hi > out[-1][1]:
                    out[-1][1] = hi
            else:
                out.append([lo, hi])
        return VersionSet(tuple((lo, hi) for lo, hi in out))

    def complement(self) -> VersionSet:
        """Every version not in the set."""
        segments = self._segments
        if not segments:
            return _FULL
        if segments == _FULL_SEGMENTS:
            return _EMPTY
        out: list[Segment] = []
        previous = MIN_CUT
        for lo, hi in segments:
            if previous < lo:
                out.append((previous, lo))
            previous = hi
        if previous < MAX_CUT:
            out.append((previous, MAX_CUT))
        return VersionSet(tuple(out)) if out else _EMPTY

    def difference(self, other: VersionSet) -> VersionSet:
        """Versions in this set and not in ``other``."""
        if not other._segments or not self._segments:
            return self
        return self.intersection(other.complement())

    def is_subset(self, other: VersionSet) -> bool:
        """Whether every version of this set is in ``other``."""
        a, b = self._segments, other._segments
        if not a or a is b or b == _FULL_SEGMENTS:
            return True
        if not b:
            return False
        if len(a) <= 2 and len(b) > 8:
            for lo, hi in a:
                k = bisect_left(b, hi, key=upper_bound)  # the interval that must hold [lo, hi)
                if k == len(b) or not (b[k][0] <= lo):
                    return False
            return True
        j = 0
        for lo, hi in a:
            while j < len(b) and b[j][1] < hi:
                j += 1
            if j == len(b):
                return False
            blo, bhi = b[j]
            if not (blo <= lo and hi <= bhi):
                return False
        return True

    def is_disjoint(self, other: VersionSet) -> bool:
        """Whether no version is in both sets."""
        a, b = self._segments, other._segments
        if not a or not b:
            return True
        if len(b) > len(a):
            a, b = b, a
        if len(b) <= 2 and len(a) > 8:
            for lo, hi in b:
                k = bisect_right(a, lo, key=upper_bound)  # first interval ending after lo
                if k < len(a) and a[k][0] < hi:
                    return False
            return True
        i = j = 0
        while i < len(a) and j < len(b):
            alo, ahi = a[i]
            blo, bhi = b[j]
            if (alo if alo > blo else blo) < (ahi if ahi < bhi else bhi):
                return False
            if ahi < bhi:
                i += 1
            else:
                j += 1
        return True

    # -- identity ---------------------------------------------------------------------------

    # every position has one cut (see above), so equal sets have equal segment tuples; the
    # versions inside cuts compare (and hash) by value, so spelling does not matter
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VersionSet):
            return NotImplemented
        if self is other:
            return True
        if len(self._segments) != len(other._segments) or hash(self) != hash(other):
            return False
        return self._segments == other._segments

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self._segments)
        return self._hash

    def __bool__(self) -> bool:
        return bool(self._segments)

    def __repr__(self) -> str:
        return f"VersionSet({str(self)!r})"

    def __str__(self) -> str:
        if not self._segments:
            return "∅"
        if self.is_full():
            return "*"
        return " || ".join(self.specifier_strings())

    # -- printing ---------------------------------------------------------------------------

    def specifier_strings(self) -> list[str]:
        """The set as specifier strings, one per alternative: usually one (``>=1,<2,!=1.5``).

        Holes that are one version (with its local variants) or one wildcard become ``!=``
        clauses of a single string; other gaps split the set into alternatives.
        """
        segments = self._segments
        if not segments:
            return []
        groups: list[list[Segment]] = [[segments[0]]]
        for segment in segments[1:]:
            if hole_text(groups[-1][-1][1], segment[0]) is None:
                groups.append([segment])
            else:
                groups[-1].append(segment)
        out = []
        for group in groups:
            single = segment_text(group[0][0], group[-1][1]) if len(group) == 1 else None
            if single is not None:
                out.append(single)
                continue
            clauses = []
            lower = lower_text(group[0][0])
            upper = upper_text(group[-1][1])
            if lower:
                clauses.append(lower)
            if upper:
                clauses.append(upper)
            for left, right in zip(group, group[1:]):
                clauses.append(hole_text(left[1], right[0]) or "")
            out.append(",".join(clauses))
        return out


# -- specifiers -> sets --------------------------------------------------------------------


def _from_specifier(operator: str, text: str) -> VersionSet:
    if operator == "===":
        try:
            return VersionSet.exact(Version(text))
        except InvalidVersion:
            return _EMPTY
    if text.endswith(".*"):
        base = Version(text[:-2])
        lower = make_version(base.epoch, base.release, dev=0)
        upper_release = (*base.release[:-1], base.release[-1] + 1)
        upper = make_version(base.epoch, upper_release, dev=0)
        inside = VersionSet(((cut_before(lower), cut_before(upper)),))
        if operator == "==":
            return inside
        if operator == "!=":
            return inside.complement()
        raise InvalidSpecifier(f"{operator}{text}")
    version = Version(text)
    if operator in ("==", "!="):
        hi = cut_after(version) if version.local is not None else cut_after_locals(version)
        inside = VersionSet(((cut_before(version), hi),))
        return inside if operator == "==" else inside.complement()
    if operator == ">=":
        return VersionSet(((cut_before(version), MAX_CUT),))
    if operator == "<=":
        hi = cut_after(version) if version.local is not None else cut_after_locals(version)
        return VersionSet(((MIN_CUT, hi),))
    if operator == ">":
        if version.dev is not None:
            nxt = make_version(version.epoch, version.release, version.pre, version.post, version.dev + 1)
            return VersionSet(((cut_before(nxt), MAX_CUT),))
        if version.post is not None:
            nxt = make_version(version.epoch, version.release, version.pre, version.post + 1, 0)
            return VersionSet(((cut_before(nxt), MAX_CUT),))
        return VersionSet(((cut_after_posts(version), MAX_CUT),))
    if operator == "<":
        bound = version
        if not version.is_prerelease:
            bound = make_version(version.epoch, version.release, version.pre, version.post, 0)
        hi = cut_before(bound)
        return VersionSet(((MIN_CUT, hi),)) if MIN_CUT < hi else _EMPTY
    if operator == "~=":
        prefix = version.release[:-1]
        upper = make_version(version.epoch, (*prefix[:-1], prefix[-1] + 1), dev=0)
        return VersionSet(((cut_before(version), cut_before(upper)),))
    raise InvalidSpecifier(f"{operator}{text}")


@lru_cache(maxsize=16384)
def _from_specifier_set_text(text: str) -> VersionSet:
    result = _FULL
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        spec = Specifier(part)
        result = result.intersection(_from_specifier(spec.operator, spec.version))
        if not result:
            break
    return result


_FULL_SEGMENTS: tuple[Segment, ...] = ((MIN_CUT, MAX_CUT),)
_FULL = VersionSet(_FULL_SEGMENTS)
_EMPTY = VersionSet(())


def iter_versions_in(versions: Sequence[Version], allowed: VersionSet) -> Iterator[Version]:
    """The versions of a sorted list that the set admits, lowest first."""
    positions = [version_position(v) for v in versions]
    for i, j in allowed.index_ranges(positions):
        yield from versions[i:j]
