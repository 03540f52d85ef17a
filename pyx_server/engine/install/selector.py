"""Pure: choose the one file to install for a requirement, from the files an index lists.

Used where no resolution is needed (exact pins, ``--no-deps``): among the files whose version
the specifier admits, skip yanked ones (unless pinned exactly, PEP 592), those whose
``Requires-Python`` excludes the interpreter, and wheels whose tags it does not support;
take the highest version (pre-releases only when the specifier names one, ``--pre`` is set,
or nothing else fits — PEP 440), then the best-ranked tag. When nothing fits, the error says
which of those rules removed what.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.version import Version

from pyx_server.engine.errors import NoMatchingDistribution


@dataclass(frozen=True)
class Candidate:
    """A file chosen for a requirement, with the rank of its best tag (lower is better)."""

    file: object  # pyx_server.engine.index.simple.DistFile (kept structural: selection is pure)
    version: Version
    tag_rank: int


def select_file(
    name: str,
    files: Sequence,
    specifier: SpecifierSet,
    *,
    python_version: Version,
    tag_rank: Callable[[Iterable[Tag]], int | None],
    allowed_hashes: dict[str, tuple[str, ...]] | None = None,
    prereleases: bool = False,
    requirement_text: str | None = None,
    allow_sdist: bool = False,
) -> Candidate:
    """The best file for ``specifier`` among ``files`` (``DistFile``-like records).

    ``tag_rank`` maps a wheel's tags to the interpreter's priority for them (None: unsupported).
    ``allowed_hashes`` (``--hash`` / ``--require-hashes``) restricts to files with a matching
    digest when the index states one.
    """
    shown = requirement_text or f"{name}{specifier}"
    exact = any(s.operator in ("==", "===") and not s.version.endswith(".*") for s in specifier)
    seen_versions: set[Version] = set()
    reasons: dict[str, list[str]] = {"yanked": [], "python": [], "tags": [], "sdist": [], "hash": []}
    finals: list[Candidate] = []
    pres: list[Candidate] = []
    admitted: dict[Version, bool] = {}  # pages list many files per version: test each version once
    for f in files:
        version = f.version
        ok = admitted.get(version)
        if ok is None:
            ok = admitted[version] = specifier.contains(version, prereleases=True)
            seen_versions.add(version)
        if not ok:
            continue
        if f.yanked and not exact:
            reasons["yanked"].append(f.filename)
            continue
        if f.requires_python and not _python_ok(f.requires_python, python_version):
            reasons["python"].append(f"{f.filename} (Requires-Python {f.requires_python})")
            continue
        if not f.is_wheel:
            if not allow_sdist:
                reasons["sdist"].append(f.filename)
                continue
            rank = _SDIST_RANK  # built when no wheel of the version fits
        else:
            rank = tag_rank(f.tags)
        if rank is None:
            reasons["tags"].append(f.filename)
            continue
        if allowed_hashes and not _hash_ok(f.hashes, allowed_hashes):
            reasons["hash"].append(f.filename)
            continue
        candidate = Candidate(f, version, rank)
        (pres if version.is_prerelease else finals).append(candidate)
    pool = finals + pres if prereleases else (finals or pres)
    if pool:
        return max(pool, key=lambda c: (c.version, -c.tag_rank))
    raise _no_match(name, shown, specifier, seen_versions, reasons, python_version)


#: an sdist ranks after every wheel of its version
_SDIST_RANK = 1 << 30


def _python_ok(requires_python: str, python_version: Version) -> bool:
    """Whether the Python meets the file's Requires-Python floor (upper bounds are not honoured,
    as in resolution: see ``resolver.python``)."""
    from pyx_server.engine.resolver.python import python_floor

    try:
        return python_floor(requires_python).contains(python_version, prereleases=True)
    except InvalidSpecifier:
        return True  # pip and uv ignore an unparsable Requires-Python rather than fail


def _hash_ok(file_hashes, allowed: dict[str, tuple[str, ...]]) -> bool:
    known = [(algo, digest) for algo, digest in file_hashes.items() if algo in allowed]
    if not known:
        return True  # the index states no comparable digest: verified after download
    return any(digest.lower() in allowed[algo] for algo, digest in known)


def _no_match(
    name: str,
    shown: str,
    specifier: SpecifierSet,
    seen: set[Version],
    reasons: dict[str, list[str]],
    python_version: Version,
) -> NoMatchingDistribution:
    hints: list[str] = []
    if not seen:
        message = f"`{name}` is listed on the index but has no files"
    elif not any(specifier.contains(v, prereleases=True) for v in seen):
        available = ", ".join(str(v) for v in sorted(seen)[-8:])
        message = f"no version of `{name}` matches `{shown}`"
        hints.append(f"available versions: {available}")
    else:
        message = f"no file of `{name}` that matches `{shown}` can be installed here"
        if reasons["tags"]:
            hints.append(
                "wheels exist only for other platforms or Python versions: "
                + ", ".join(sorted(reasons["tags"])[:4])
            )
        if reasons["python"]:
            hints.append(
                f"some versions need another Python than {python_version}: "
                + ", ".join(reasons["python"][:3])
            )
        if reasons["yanked"]:
            hints.append(f"yanked files are skipped unless pinned with `==`: {', '.join(reasons['yanked'][:3])}")
        if reasons["sdist"]:
            hints.append(
                "only source distributions are available for some versions, and pyx cannot build "
                "from source yet: " + ", ".join(reasons["sdist"][:3])
            )
        if reasons["hash"]:
            hints.append("no file matches the hashes you gave: " + ", ".join(reasons["hash"][:3]))
    return NoMatchingDistribution(message, context={"package": name, "requirement": shown}, hints=hints)


class PinnedVersions:
    """The versions an exact pin admits (``==1.0`` admits ``1.0+cpu``), as a hashable container."""

    __slots__ = ("specifier", "_seen")

    def __init__(self, specifier) -> None:
        self.specifier = specifier
        self._seen: dict[Version, bool] = {}

    def __contains__(self, version: object) -> bool:
        answer = self._seen.get(version)  # type: ignore[arg-type]
        if answer is None:
            answer = self._seen[version] = self.specifier.contains(version, prereleases=True)  # type: ignore[index]
        return answer

    def __hash__(self) -> int:
        return hash(str(self.specifier))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PinnedVersions) and str(other.specifier) == str(self.specifier)
