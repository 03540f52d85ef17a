"""Version selection policy: which candidate of a package to try next, and why others are skipped.

PubGrub decides *which package* to pin next; this module decides *which version*. The policy:

* **Hidden** candidates are treated as if the index did not list them, for the whole
  resolution (so every incompatibility PubGrub learns stays true): pre-releases the mode
  forbids, candidates uploaded after ``exclude_newer``.
* **Unusable** candidates are listed but can never be chosen, and when they are all that is
  left the resolver says why: yanked (PEP 592: usable only when a requirement or constraint of
  the user pins it exactly with ``==``/``===``, or when it is installed/locked),
  ``Requires-Python`` that excludes the target Python, and no installable file (the
  provider's ``Candidate.unavailable``).
* Among the rest: the installed/locked version first (unless upgrading); then by the
  resolution mode (highest or lowest); pre-releases, unless allowed outright, only when no
  final release is left in the range (PEP 440's "if necessary").
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from packaging.utils import NormalizedName
from packaging.version import Version

from pyx_server.engine.resolver.options import PrereleaseMode, ResolutionMode, ResolverOptions
from pyx_server.engine.resolver.provider import Candidate
from pyx_server.engine.resolver.python import python_floor
from pyx_server.engine.resolver.cuts import Key, version_position
from pyx_server.engine.resolver.ranges import VersionSet

__all__ = ["CandidateSelector", "PackageVersions", "Skipped"]

# why a candidate is hidden (as if unlisted) or unusable (listed, explained)
HIDDEN_PRERELEASE = "prerelease"
HIDDEN_EXCLUDE_NEWER = "exclude-newer"
UNUSABLE_YANKED = "yanked"
UNUSABLE_REQUIRES_PYTHON = "requires-python"
UNUSABLE_DISTRIBUTION = "distribution"
_HIDDEN = frozenset({HIDDEN_PRERELEASE, HIDDEN_EXCLUDE_NEWER})

# per-package pre-release policies derived from the mode
_ALLOW, _PREFER_STABLE, _DISALLOW = "allow", "prefer-stable", "disallow"


@dataclass(frozen=True)
class Skipped:
    """A run of candidates that cannot be used for one reason, as one version set.

    ``versions`` is widened over the gaps between visible candidates so that runs merge and
    print compactly; ``detail`` is the ``Requires-Python`` text or the yank reason.
    """

    reason: str
    versions: VersionSet
    detail: str | None


class PackageVersions:
    """All candidates of one package, sorted lowest first, each classified once."""

    __slots__ = ("name", "candidates", "versions", "positions", "status", "visible")

    def __init__(self, name: NormalizedName, candidates: list[Candidate], status: list[str | None]) -> None:
        self.name = name
        self.candidates = candidates
        self.versions = [c.version for c in candidates]
        self.positions: list[tuple[Key, int]] = [version_position(v) for v in self.versions]
        #: None when usable, else one of the HIDDEN_/UNUSABLE_ reasons
        self.status = status
        #: the versions the user can see in explanations (hidden ones do not "exist")
        self.visible = [c.version for c, s in zip(candidates, status) if s not in _HIDDEN]

    def find(self, version: Version) -> int | None:
        """Index of the candidate with exactly this version, if listed."""
        position = version_position(version)
        i = bisect_left(self.positions, position)
        if i < len(self.positions) and self.positions[i] == position:
            return i
        return None

    def hidden_in(self, allowed: VersionSet, reason: str) -> list[Version]:
        """Hidden candidates inside a set (for hints: "a pre-release would satisfy it")."""
        return [
            self.versions[k]
            for i, j in allowed.index_ranges(self.positions)
            for k in range(i, j)
            if self.status[k] == reason
        ]


class CandidateSelector:
    """Applies the policy of one resolution to every package."""

    def __init__(
        self,
        options: ResolverOptions,
        python: Version,
        *,
        explicit_prereleases: frozenset[str],
        allowed_yanks: Mapping[str, VersionSet],
        direct_names: frozenset[str],
    ) -> None:
        self._options = options
        self._python = python
        self._explicit = explicit_prereleases
        self._allowed_yanks = allowed_yanks
        self._direct = direct_names
        self._preferences = {name: version for name, version in options.preferences.items()}
        self._python_support: dict[str, bool] = {}

    # -- classification (once per package) ------------------------------------------------

    def prerelease_policy(self, name: str) -> str:
        """``allow``, ``prefer-stable`` or ``disallow`` for this package under the mode."""
        mode = self._options.prerelease
        if mode is PrereleaseMode.ALLOW:
            return _ALLOW
        if mode is PrereleaseMode.DISALLOW:
            return _DISALLOW
        if mode is PrereleaseMode.IF_NECESSARY:
            return _PREFER_STABLE
        # a package the user named with a pre-release specifier (``a>=2.0b1``) may have
        # pre-releases, but a final release in range still comes first: the specifier opens
        # the door, it does not ask for the newest pre-release (uv's rule; pip lets them compete)
        if mode is PrereleaseMode.EXPLICIT:
            return _PREFER_STABLE if name in self._explicit else _DISALLOW
        return _PREFER_STABLE

    def preference(self, name: str) -> Version | None:
        """The installed/locked version to try first, unless upgrading this package."""
        if self._options.upgrade or name in self._options.upgrade_packages:
            return None
        return self._preferences.get(name)

    def classify(self, name: NormalizedName, candidates: list[Candidate]) -> PackageVersions:
        """Sort the candidates and decide, once, which are hidden or unusable and why.

        A version listed twice (two indexes, or ``1.0`` and ``1.0.0``) keeps its first listing.
        """
        unique: dict[tuple[object, ...], Candidate] = {}
        for candidate in candidates:
            unique.setdefault(version_position(candidate.version), candidate)
        ordered = [unique[position] for position in sorted(unique)]
        policy = self.prerelease_policy(name)
        preferred = self.preference(name)
        yank_ok = self._allowed_yanks.get(name)
        cutoff = self._options.exclude_newer
        status: list[str | None] = []
        for candidate in ordered:
            is_preferred = preferred is not None and candidate.version == preferred
            if (
                candidate.prerelease
                and policy == _DISALLOW
                and not (is_preferred and self._options.prerelease is not PrereleaseMode.DISALLOW)
            ):
                status.append(HIDDEN_PRERELEASE)
            elif (
                cutoff is not None
                and candidate.url is None
                and (candidate.upload_time is None or _aware(candidate.upload_time) > _aware(cutoff))
            ):
                status.append(HIDDEN_EXCLUDE_NEWER)
            elif candidate.requires_python is not None and not self._supports_python(candidate):
                status.append(UNUSABLE_REQUIRES_PYTHON)
            elif candidate.unavailable is not None:
                status.append(UNUSABLE_DISTRIBUTION)
            elif (
                candidate.yanked
                and candidate.url is None
                and not is_preferred
                and not (yank_ok is not None and candidate.version in yank_ok)
            ):
                status.append(UNUSABLE_YANKED)
            else:
                status.append(None)
        return PackageVersions(name, ordered, status)

    def _supports_python(self, candidate: Candidate) -> bool:
        # many candidates share one Requires-Python string: evaluate each string once
        text = str(candidate.requires_python)
        supported = self._python_support.get(text)
        if supported is None:
            assert candidate.requires_python is not None
            floor = python_floor(candidate.requires_python)
            supported = self._python_support[text] = floor.contains(self._python, prereleases=True)
        return supported

    # -- selection (once per decision) ----------------------------------------------------

    def select(self, versions: PackageVersions, allowed: VersionSet) -> Candidate | None:
        """The candidate to try for a package whose version must lie in ``allowed``."""
        slices = allowed.index_ranges(versions.positions)
        if not slices:
            return None
        status = versions.status
        candidates = versions.candidates
        preferred = self.preference(versions.name)
        if preferred is not None:
            index = versions.find(preferred)
            # classify() already made an installed/locked version usable where the policy allows
            if (
                index is not None
                and status[index] is None
                and allowed.contains_position(versions.positions[index])
            ):
                return candidates[index]
        highest = self._use_highest(versions.name)
        policy = self.prerelease_policy(versions.name)
        if policy == _PREFER_STABLE:
            for index in _walk(slices, highest):
                if status[index] is None and not candidates[index].prerelease:
                    return candidates[index]
        for index in _walk(slices, highest):
            if status[index] is None:
                return candidates[index]
        return None

    def next_likely(self, versions: PackageVersions, allowed: VersionSet, count: int) -> list[Version]:
        """The next few candidates selection would try in ``allowed`` (for prefetch hints)."""
        out: list[Version] = []
        slices = allowed.index_ranges(versions.positions)
        for index in _walk(slices, self._use_highest(versions.name)):
            if versions.status[index] is None:
                out.append(versions.versions[index])
                if len(out) >= count:
                    break
        return out

    def _use_highest(self, name: str) -> bool:
        mode = self._options.resolution
        if mode is ResolutionMode.HIGHEST:
            return True
        if mode is ResolutionMode.LOWEST:
            return False
        return name not in self._direct

    # -- explanations ----------------------------------------------------------------------

    def skipped(self, versions: PackageVersions, allowed: VersionSet) -> list[Skipped]:
        """Why each visible candidate inside ``allowed`` is unusable, grouped into runs.

        Called when ``select`` found nothing: every visible candidate in the set is then
        unusable, and the runs say why (yanked; ``Requires-Python`` per distinct value).
        """
        visible = versions.visible
        out: list[Skipped] = []
        run: tuple[str, str | None] | None = None
        run_first = run_last = 0
        for i, j in allowed.index_ranges(versions.positions):
            for k in range(i, j):
                reason = versions.status[k]
                if reason is None or reason in _HIDDEN:
                    continue
                candidate = versions.candidates[k]
                if reason == UNUSABLE_REQUIRES_PYTHON:
                    detail: str | None = str(candidate.requires_python)
                elif reason == UNUSABLE_DISTRIBUTION:
                    detail = candidate.unavailable
                else:
                    detail = candidate.yanked_reason
                key = (reason, detail)
                position = bisect_left(visible, candidate.version)
                if run == key and position == run_last + 1:
                    run_last = position
                    continue
                if run is not None:
                    out.append(_skipped_run(run, visible, run_first, run_last))
                run, run_first, run_last = key, position, position
        if run is not None:
            out.append(_skipped_run(run, visible, run_first, run_last))
        return out


def _skipped_run(key: tuple[str, str | None], visible: list[Version], first: int, last: int) -> Skipped:
    lower = visible[first - 1] if first > 0 else None
    upper = visible[last + 1] if last + 1 < len(visible) else None
    return Skipped(reason=key[0], versions=VersionSet.between(lower, upper), detail=key[1])


def widen(visible: list[Version], version: Version) -> VersionSet:
    """The gap around one visible version: the same set of existing versions, as one interval.

    Dependency incompatibilities of consecutive versions then merge into single ranges.
    """
    i = bisect_left(visible, version)
    if i < len(visible) and visible[i] == version:
        lower = visible[i - 1] if i > 0 else None
        upper = visible[i + 1] if i + 1 < len(visible) else None
        return VersionSet.between(lower, upper)
    return VersionSet.exact(version)


def _walk(slices: list[tuple[int, int]], highest: bool) -> Iterator[int]:
    if highest:
        for i, j in reversed(slices):
            yield from range(j - 1, i - 1, -1)
    else:
        for i, j in slices:
            yield from range(i, j)


def _aware(moment: datetime) -> datetime:
    """Compare naive datetimes as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
