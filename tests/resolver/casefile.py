"""Loads resolver case files (``cases/*.toml``) and runs them against the in-memory provider.

The format is documented in ``README.md`` next to this file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from packaging.version import Version

from pyx_server.engine.resolver import (
    InMemoryProvider,
    PrereleaseMode,
    ResolutionImpossible,
    ResolutionMode,
    ResolverOptions,
    resolve,
)

if sys.version_info >= (3, 11):
    import tomllib

    def load_toml(path: Path) -> dict[str, Any]:
        with path.open("rb") as handle:
            return tomllib.load(handle)

else:  # pragma: no cover - Python 3.10
    import tomlkit

    def load_toml(path: Path) -> dict[str, Any]:
        return tomlkit.parse(path.read_text()).unwrap()


CASES = Path(__file__).parent / "cases"
DEFAULT_PYTHON = "3.12.1"


@dataclass
class Outcome:
    """What a case produced: a resolution (name → version) or an explanation and hints."""

    resolved: dict[str, str] | None = None
    extras: dict[str, list[str]] = field(default_factory=dict)
    via: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    explanation: str | None = None
    hints: list[str] = field(default_factory=list)
    provider: InMemoryProvider | None = None


def _datetime(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def options_from(data: dict[str, Any]) -> ResolverOptions:
    """The ``[options]`` table as ``ResolverOptions`` (every key optional)."""
    env = dict(data.get("environment", {}))
    python = Version(str(data.get("python", DEFAULT_PYTHON)))
    env.setdefault("python_full_version", str(python))
    env.setdefault("python_version", ".".join(str(p) for p in python.release[:2]))
    env.setdefault("sys_platform", "linux")
    env.setdefault("platform_system", "Linux")
    env.setdefault("os_name", "posix")
    env.setdefault("platform_machine", "x86_64")
    env.setdefault("implementation_name", "cpython")
    env.setdefault("platform_python_implementation", "CPython")
    env.setdefault("implementation_version", str(python))
    env.setdefault("platform_release", "")
    env.setdefault("platform_version", "")
    return ResolverOptions(
        environment=env,
        python=python,
        constraints=list(data.get("constraints", [])),
        overrides=list(data.get("overrides", [])),
        preferences={k: Version(str(v)) for k, v in data.get("preferences", {}).items()},
        upgrade=bool(data.get("upgrade", False)),
        upgrade_packages=frozenset(data.get("upgrade-packages", [])),
        prerelease=PrereleaseMode(data.get("prerelease", PrereleaseMode.IF_NECESSARY_OR_EXPLICIT.value)),
        resolution=ResolutionMode(data.get("resolution", ResolutionMode.HIGHEST.value)),
        exclude_newer=_datetime(data["exclude-newer"]) if "exclude-newer" in data else None,
    )


def provider_from(case: dict[str, Any]) -> InMemoryProvider:
    """The ``[index]`` and ``[urls]`` tables as an in-memory provider."""
    index = {name: {str(v): dict(r) for v, r in versions.items()} for name, versions in case.get("index", {}).items()}
    urls = {
        url: (entry["name"], str(entry["version"]), {k: v for k, v in entry.items() if k not in ("name", "version")})
        for url, entry in case.get("urls", {}).items()
    }
    return InMemoryProvider(index, urls=urls, not_found_hints=case.get("not-found-hints", {}))


def run(case: dict[str, Any]) -> Outcome:
    """Resolve a case and describe the outcome in the terms of the case format."""
    provider = provider_from(case)
    options = options_from(case.get("options", {}))
    try:
        resolution = resolve(case["requested"], provider, options)
    except ResolutionImpossible as error:
        return Outcome(explanation=error.report(), hints=list(error.hints), provider=provider)
    return Outcome(
        resolved={name: str(p.version) for name, p in resolution.items()},
        extras={name: sorted(p.extras) for name, p in resolution.items() if p.extras},
        via={name: sorted({v.name or "<requested>" for v in p.via}) for name, p in resolution.items()},
        warnings=list(resolution.warnings),
        provider=provider,
    )
