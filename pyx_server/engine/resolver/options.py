"""The knobs of one resolution (``--prerelease``, ``--resolution``, constraints, overrides…), as data.

Flag spellings follow uv's where the meaning is the same; ``--pre`` (pip's spelling) is
``PrereleaseMode.ALLOW``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from packaging.requirements import Requirement
from packaging.version import Version

__all__ = ["PrereleaseMode", "ResolutionMode", "ResolverOptions"]


class PrereleaseMode(str, Enum):
    """When a pre-release may be chosen (PEP 440 leaves the policy to the installer).

    * ``allow``: pre-releases compete with final releases by version (pip's ``--pre``).
    * ``disallow``: never.
    * ``if-necessary``: only once no final release in the allowed range is left; PEP 440's
      "no final release satisfies the specifier".
    * ``explicit``: only for packages the user named with a pre-release specifier
      (``a>=2.0b1`` as a requirement or constraint), and there only once no final release in
      range is left. Never otherwise.
    * ``if-necessary-or-explicit`` (default): a final release in range first, for every
      package; a pre-release when none is left (PEP 440's "no final release satisfies the
      specifier"). A pre-release specifier allows pre-releases but does not make them win
      over a final release in range (uv's rule; pip's ``--pre`` is ``allow``).

    In every mode but ``disallow``, an installed or locked pre-release (a preference) is kept.
    """

    ALLOW = "allow"
    DISALLOW = "disallow"
    IF_NECESSARY = "if-necessary"
    EXPLICIT = "explicit"
    IF_NECESSARY_OR_EXPLICIT = "if-necessary-or-explicit"


class ResolutionMode(str, Enum):
    """Which version to try first: the newest (default), the oldest, or the oldest only for
    the packages the user asked for directly (to test lower bounds of direct requirements)."""

    HIGHEST = "highest"
    LOWEST = "lowest"
    LOWEST_DIRECT = "lowest-direct"


@dataclass(frozen=True)
class ResolverOptions:
    """Everything but the requirements and the provider.

    ``environment`` is the PEP 508 marker environment of the target interpreter (default: the
    running one); ``python`` is the target's full version, the one ``Requires-Python`` is
    checked against (default: the environment's ``python_full_version``).

    ``constraints`` restrict the versions of a package if something requires it, but never add
    it. ``overrides`` replace every requirement on their package, wherever it appears.
    ``preferences`` are installed or locked versions, tried first (even a pre-release, even a
    yanked one) unless ``upgrade`` is set or the package is in ``upgrade_packages``.
    ``exclude_newer`` ignores every index candidate uploaded after it (and those without an
    upload time), for reproducible resolutions.
    """

    environment: Mapping[str, str] | None = None
    python: Version | None = None
    constraints: Sequence[Requirement | str] = ()
    overrides: Sequence[Requirement | str] = ()
    preferences: Mapping[str, Version] = field(default_factory=dict)
    upgrade: bool = False
    upgrade_packages: frozenset[str] = frozenset()
    prerelease: PrereleaseMode = PrereleaseMode.IF_NECESSARY_OR_EXPLICIT
    resolution: ResolutionMode = ResolutionMode.HIGHEST
    exclude_newer: datetime | None = None
