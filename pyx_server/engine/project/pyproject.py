"""Projects: ``pyproject.toml`` found, read into a typed view, and edited without disturbing it.

Reading. ``find_project`` walks up from a directory to the nearest ``pyproject.toml`` that
declares a project: a ``[project]`` table, or — as uv allows — a *virtual* project that only
has ``[dependency-groups]`` or ``[tool.uv]``. ``Project`` is the typed view the verbs, the
lock and the fronts read: name, version, ``requires-python``, dependencies, extras, PEP 735
dependency groups with ``include-group`` expanded (cycles are errors), and the ``[tool.uv]`` /
``[tool.pyx]`` tables (uv's indexes and sources as dataclasses, so a project edited by pyx
runs unchanged under uv). ``requirements_of`` gives the requirement strings to resolve,
honouring ``tool.uv.default-groups`` as uv does (``dev`` unless told otherwise).

Editing. Edits go through tomlkit so that everything outside the edited value survives byte
for byte: comments, blank lines, key order, quoting. tomlkit's own array rendering is not
used for dependency arrays: the array's original text is edited as text (entries replaced in
place, new ones appended in the array's own style — one per line with the same indentation
and trailing-comma habit if it was multi-line; inline if it was inline and stays short — and
removed entries take their line and end-of-line comment with them), then parsed back by
tomlkit and put in place of the old value. An empty array grows the way uv grows it (one
entry per line, four spaces, trailing comma), so a file edited by pyx and by uv reads alike.
Every edit validates the whole result before anything is written, and writes atomically
(temporary file + ``os.replace``, keeping the file's permissions); nothing is written on error.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement as _PackagingInvalidRequirement
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidName, NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version
from tomlkit.items import AoT, Array, InlineTable, Table

from pyx_server.engine.errors import DependencyNotFound, ProjectError
from pyx_server.engine.uvindex import UvIndex

PYPROJECT = "pyproject.toml"
#: the group uv enables when ``tool.uv.default-groups`` is not set
DEFAULT_GROUPS: tuple[str, ...] = ("dev",)
#: an inline array that would make its line longer than this becomes one entry per line
LINE_LIMIT = 88
_INDENT = "    "


# -- the typed view ---------------------------------------------------------------------------


#: ``tool.uv.sources`` keys, in the order uv writes them
_SOURCE_KEYS = tuple(
    "index git url path workspace rev tag branch subdirectory editable package marker extra group".split()
)


@dataclass(frozen=True)
class UvSource:
    """One ``tool.uv.sources`` entry for a package: where it comes from, optionally when."""

    index: str | None = None
    git: str | None = None
    url: str | None = None
    path: str | None = None
    workspace: bool | None = None
    rev: str | None = None
    tag: str | None = None
    branch: str | None = None
    subdirectory: str | None = None
    editable: bool | None = None
    package: bool | None = None
    #: a PEP 508 marker limiting the entry (uv's multi-source form)
    marker: str | None = None
    extra: str | None = None
    group: str | None = None

    @property
    def kind(self) -> str:
        """``index``, ``git``, ``url``, ``path`` or ``workspace``."""
        for key in ("index", "git", "url", "path", "workspace"):
            if getattr(self, key) is not None:
                return key
        return "unknown"

    def to_toml(self) -> dict[str, Any]:
        """The inline table uv writes for this source (keys in uv's order, unset ones left out)."""
        return {key: getattr(self, key) for key in _SOURCE_KEYS if getattr(self, key) is not None}


@dataclass(frozen=True)
class Project:
    """A ``pyproject.toml`` as pyx reads it. Requirement strings are kept as written (validated)."""

    #: the ``pyproject.toml`` file
    path: Path
    #: ``None`` for a virtual project (no ``[project]`` table)
    name: NormalizedName | None
    #: ``None`` when missing or listed in ``dynamic``
    version: Version | None
    requires_python: SpecifierSet | None
    dependencies: tuple[str, ...]
    #: extra name (normalized) -> requirements
    optional_dependencies: Mapping[str, tuple[str, ...]]
    #: group name (normalized) -> requirements, ``include-group`` expanded; uv's legacy
    #: ``tool.uv.dev-dependencies`` are part of ``dev``
    dependency_groups: Mapping[str, tuple[str, ...]]
    #: groups enabled unless asked otherwise (``tool.uv.default-groups``, else ``dev``)
    default_groups: tuple[str, ...]
    dynamic: tuple[str, ...] = ()
    uv_indexes: tuple[UvIndex, ...] = ()
    #: package name (normalized) -> its sources (several when they carry markers)
    uv_sources: Mapping[str, tuple[UvSource, ...]] = field(default_factory=dict)
    #: ``[tool.uv]`` and ``[tool.pyx]`` as plain data, for settings this view does not type
    tool_uv: Mapping[str, Any] = field(default_factory=dict)
    tool_pyx: Mapping[str, Any] = field(default_factory=dict)
    #: whether the file has a ``[project]`` table
    has_project_table: bool = True

    @property
    def root(self) -> Path:
        """The project directory (where ``.venv`` and ``pylock.toml`` live)."""
        return self.path.parent

    @property
    def is_virtual(self) -> bool:
        """A project without ``[project]``: only groups and tool settings, nothing to build."""
        return not self.has_project_table


# -- errors -----------------------------------------------------------------------------------


def _error(
    path: Path,
    message: str,
    *,
    line: int | None = None,
    hints: Sequence[str] = (),
    cls: type[ProjectError] = ProjectError,
    **context: Any,
) -> ProjectError:
    """An error whose message starts with the file (and line, when known) it is about."""
    ctx: dict[str, Any] = {"file": str(path)}
    if line is not None:
        ctx["line"] = line
    ctx.update(context)
    where = f"`{path}`" + (f" line {line}" if line is not None else "")
    return cls(f"{where}: {message}", context=ctx, hints=hints)


def _line_of(text: str | None, needle: str) -> int | None:
    """The 1-based line of the first occurrence of ``needle`` (best effort, for messages)."""
    if not text or not needle:
        return None
    at = text.find(needle)
    return None if at < 0 else text.count("\n", 0, at) + 1


# -- reading ----------------------------------------------------------------------------------


def find_project(start: Path | str) -> Project | None:
    """The nearest project at or above ``start`` (a directory or a file in it), else None.

    A ``pyproject.toml`` that declares nothing pyx can use (say only ``[tool.black]``) is
    passed over, as uv passes it over; one that is broken is an error, not a miss.
    """
    here = Path(start).absolute()
    if not here.is_dir():
        here = here.parent
    for directory in (here, *here.parents):
        candidate = directory / PYPROJECT
        if not candidate.is_file():
            continue
        text = _read(candidate)
        data = _parse(text, candidate).unwrap()
        tool = data.get("tool")
        if "project" in data or "dependency-groups" in data or (isinstance(tool, dict) and "uv" in tool):
            return project_from_text(text, candidate)
    return None


def load_project(path: Path | str) -> Project:
    """Read one ``pyproject.toml`` (a file, or a directory holding one) into a ``Project``."""
    path = Path(path)
    if path.is_dir():
        path = path / PYPROJECT
    return project_from_text(_read(path), path)


def project_from_text(text: str, path: Path | str = PYPROJECT) -> Project:
    """Parse and validate pyproject text (an editor's unsaved buffer, say); ``path`` names it."""
    path = Path(path)
    return _project_from_data(_parse(text, path).unwrap(), path, text)


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _error(path, "no such file", hints=["Create one with `pyx init`."]) from None
    except OSError as exc:
        raise _error(path, f"cannot be read: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _error(path, f"is not UTF-8 (byte {exc.start})") from None


def _parse(text: str, path: Path) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise _error(
            path,
            f"invalid TOML at line {exc.line}, column {exc.col}: {_parse_reason(exc)}",
            **{"line": exc.line, "column": exc.col},
        ) from None
    except tomlkit.exceptions.TOMLKitError as exc:  # duplicate keys and the like
        raise _error(path, f"invalid TOML: {exc}") from None


def _parse_reason(exc: tomlkit.exceptions.ParseError) -> str:
    message = str(exc)
    suffix = f" at line {exc.line} col {exc.col}"
    return message[: -len(suffix)] if message.endswith(suffix) else message


def _project_from_data(data: Mapping[str, Any], path: Path, text: str | None) -> Project:
    table = data.get("project")
    has_project = table is not None
    if has_project and not isinstance(table, dict):
        raise _error(path, "`project` must be a table")
    table = table or {}

    name: NormalizedName | None = None
    version: Version | None = None
    requires_python: SpecifierSet | None = None
    dynamic: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    optional: dict[str, tuple[str, ...]] = {}
    if has_project:
        dynamic = tuple(_string_list(table.get("dynamic", []), "project.dynamic", path))
        raw_name = table.get("name")
        if raw_name is None:
            raise _error(
                path,
                "the `[project]` table has no `name`",
                line=_line_of(text, "[project]"),
                hints=[
                    'Add `name = "..."` to `[project]`.',
                    "A project with only `[dependency-groups]` / `[tool.uv]` needs no `[project]` table.",
                ],
            )
        name = _project_name(raw_name, path, text)
        if "version" in table and "version" not in dynamic:
            raw = table["version"]
            try:
                version = Version(raw) if isinstance(raw, str) else None
            except InvalidVersion:
                version = None
            if version is None:
                raise _error(path, f"invalid `project.version` `{raw}`", line=_line_of(text, f"{raw}"))
        if "requires-python" in table:
            requires_python = parse_requires_python(table["requires-python"], path=path, text=text)
        dependencies = tuple(_requirements(table.get("dependencies", []), "project.dependencies", path, text))
        raw_optional = table.get("optional-dependencies", {})
        if not isinstance(raw_optional, dict):
            raise _error(path, "`project.optional-dependencies` must be a table")
        for extra, reqs in _normalized_keys(raw_optional, "project.optional-dependencies", path, text).items():
            optional[extra] = tuple(_requirements(reqs[1], f"project.optional-dependencies.{reqs[0]}", path, text))

    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise _error(path, "`tool` must be a table")
    uv = tool.get("uv", {})
    if not isinstance(uv, dict):
        raise _error(path, "`tool.uv` must be a table")
    pyx = tool.get("pyx", {})
    if not isinstance(pyx, dict):
        raise _error(path, "`tool.pyx` must be a table")

    raw_groups = data.get("dependency-groups", {})
    if not isinstance(raw_groups, dict):
        raise _error(path, "`dependency-groups` must be a table")
    legacy_dev = _requirements(uv.get("dev-dependencies", []), "tool.uv.dev-dependencies", path, text)
    groups = _resolve_groups(raw_groups, legacy_dev, path, text)
    default_groups = _default_groups(uv.get("default-groups"), groups, path, text)

    return Project(
        path=path,
        name=name,
        version=version,
        requires_python=requires_python,
        dependencies=dependencies,
        optional_dependencies=optional,
        dependency_groups=groups,
        default_groups=default_groups,
        dynamic=dynamic,
        uv_indexes=_uv_indexes(uv.get("index", []), path),
        uv_sources=_uv_sources(uv.get("sources", {}), path, text),
        tool_uv=uv,
        tool_pyx=pyx,
        has_project_table=has_project,
    )


def parse_requires_python(value: Any, *, path: Path | str = PYPROJECT, text: str | None = None) -> SpecifierSet:
    """``requires-python`` as a specifier set; a bare version such as ``3.12`` is not accepted."""
    path = Path(path)
    if isinstance(value, str):
        try:
            return SpecifierSet(value)
        except InvalidSpecifier:
            pass
    raise _error(
        path,
        f"invalid `requires-python` `{value}`",
        line=_line_of(text, "requires-python"),
        hints=['Write a version specifier, such as `">=3.12"`.'],
    )


def _project_name(raw: Any, path: Path, text: str | None) -> NormalizedName:
    if isinstance(raw, str):
        try:
            return canonicalize_name(raw, validate=True)
        except InvalidName:
            pass
    raise _error(
        path,
        f"invalid `project.name` `{raw}`",
        line=_line_of(text, f"{raw}"),
        hints=["A name is letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit."],
    )


def _string_list(value: Any, where: str, path: Path) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _error(path, f"`{where}` must be an array of strings")
    return value


def _requirements(value: Any, where: str, path: Path, text: str | None) -> list[str]:
    if not isinstance(value, list):
        raise _error(path, f"`{where}` must be an array of requirement strings")
    out = []
    for position, item in enumerate(value, 1):
        if not isinstance(item, str):
            raise _error(path, f"entry {position} of `{where}` is not a string: `{item}`")
        _requirement(item, path, where=where, text=text)
        out.append(item)
    return out


def _requirement(item: str | Requirement, path: Path, *, where: str, text: str | None = None) -> Requirement:
    if isinstance(item, Requirement):
        return item
    try:
        return Requirement(item)
    except _PackagingInvalidRequirement as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "not a PEP 508 requirement"
        raise _error(
            path,
            f"invalid requirement `{item}` in `{where}`: {reason}",
            line=_line_of(text, item),
            requirement=item,
        ) from None


def _normalized_keys(
    table: Mapping[str, Any], where: str, path: Path, text: str | None
) -> dict[str, tuple[str, Any]]:
    """Keys normalized as names (extras, groups), with their spelling; clashes are errors."""
    out: dict[str, tuple[str, Any]] = {}
    for key, value in table.items():
        try:
            normal = canonicalize_name(key, validate=True)
        except InvalidName:
            raise _error(path, f"invalid name `{key}` in `{where}`", line=_line_of(text, key)) from None
        if normal in out:
            raise _error(
                path,
                f"`{out[normal][0]}` and `{key}` in `{where}` are the same name once normalized",
                line=_line_of(text, key),
            )
        out[normal] = (key, value)
    return out


def _is_include(item: Any) -> bool:
    """A PEP 735 ``{include-group = "name"}`` entry."""
    return isinstance(item, dict) and set(item) == {"include-group"} and isinstance(item["include-group"], str)


def _resolve_groups(
    raw: Mapping[str, Any], legacy_dev: Sequence[str], path: Path, text: str | None
) -> dict[str, tuple[str, ...]]:
    """PEP 735: expand ``{include-group = "..."}`` entries depth first; a cycle is an error."""
    groups = _normalized_keys(raw, "dependency-groups", path, text)
    if legacy_dev:
        spelled, items = groups.get("dev", ("dev", []))
        groups["dev"] = (spelled, [*items, *legacy_dev])
    for normal, (spelled, items) in groups.items():
        if not isinstance(items, list):
            raise _error(path, f"dependency group `{spelled}` must be an array", line=_line_of(text, spelled))
    resolved: dict[str, tuple[str, ...]] = {}

    def expand(group: str, chain: tuple[str, ...]) -> tuple[str, ...]:
        if group in chain:
            cycle = " -> ".join((*chain[chain.index(group) :], group))
            raise _error(
                path,
                f"dependency group `{groups[group][0]}` includes itself: {cycle}",
                line=_line_of(text, groups[group][0]),
                hints=["Remove one of the `include-group` entries that close the cycle."],
                cycle=cycle,
            )
        if group in resolved:
            return resolved[group]
        spelled, items = groups[group]
        where = f"dependency-groups.{spelled}"
        out: list[str] = []
        for position, item in enumerate(items, 1):
            if isinstance(item, str):
                _requirement(item, path, where=where, text=text)
                out.append(item)
            elif _is_include(item):
                target = item["include-group"]
                try:
                    normal = canonicalize_name(target, validate=True)
                except InvalidName:
                    normal = None
                if normal is None or normal not in groups:
                    raise _error(
                        path,
                        f"dependency group `{spelled}` includes `{target}`, which is not defined",
                        line=_line_of(text, target),
                        hints=[f"Defined groups: {', '.join(f'`{g[0]}`' for g in groups.values())}."],
                    )
                out.extend(expand(normal, (*chain, group)))
            else:
                raise _error(
                    path,
                    f"entry {position} of `{where}` is neither a requirement string nor"
                    f" `{{include-group = \"...\"}}`: `{item}`",
                )
        resolved[group] = tuple(out)
        return resolved[group]

    for group in groups:
        expand(group, ())
    return resolved


def _default_groups(value: Any, groups: Mapping[str, Any], path: Path, text: str | None) -> tuple[str, ...]:
    """``tool.uv.default-groups``: a list of names or ``"all"``; unset means ``dev`` (if defined)."""
    if value is None:
        return tuple(g for g in DEFAULT_GROUPS if g in groups)
    if value == "all":
        return tuple(groups)
    names = _string_list(value, "tool.uv.default-groups", path) if not isinstance(value, str) else None
    if names is None:
        raise _error(path, f'`tool.uv.default-groups` must be a list of group names or `"all"`, not `{value}`')
    out = []
    for raw in names:
        normal = canonicalize_name(raw)
        if normal not in groups:
            raise _error(
                path,
                f"default group `{raw}` (from `tool.uv.default-groups`) is not defined in `[dependency-groups]`",
                line=_line_of(text, "default-groups"),
            )
        out.append(normal)
    return tuple(out)


def _uv_indexes(value: Any, path: Path) -> tuple[UvIndex, ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _error(path, "`tool.uv.index` must be an array of tables (`[[tool.uv.index]]`)")
    out = []
    for entry in value:
        url = entry.get("url")
        if not isinstance(url, str):
            raise _error(path, f"`[[tool.uv.index]]` entry `{entry.get('name', '?')}` has no `url`")
        out.append(UvIndex.from_toml(entry))
    return tuple(out)


def _uv_sources(value: Any, path: Path, text: str | None) -> dict[str, tuple[UvSource, ...]]:
    if not isinstance(value, dict):
        raise _error(path, "`tool.uv.sources` must be a table")
    out: dict[str, tuple[UvSource, ...]] = {}
    for package, (spelled, entry) in _normalized_keys(value, "tool.uv.sources", path, text).items():
        entries = entry if isinstance(entry, list) else [entry]
        sources = []
        for item in entries:
            if not isinstance(item, dict):
                raise _error(path, f"`tool.uv.sources.{spelled}` must be a table or an array of tables")
            unknown = set(item) - set(_SOURCE_KEYS)
            if unknown:
                raise _error(path, f"`tool.uv.sources.{spelled}` has unknown keys: `{', '.join(sorted(unknown))}`")
            if "marker" in item:
                try:
                    Marker(item["marker"])
                except (InvalidMarker, TypeError):
                    raise _error(
                        path,
                        f"invalid marker `{item['marker']}` in `tool.uv.sources.{spelled}`",
                        line=_line_of(text, str(item["marker"])),
                    ) from None
            sources.append(UvSource(**{key.replace("-", "_"): v for key, v in item.items()}))
        out[package] = tuple(sources)
    return out


# -- what to resolve --------------------------------------------------------------------------


def requirements_of(
    project: Project,
    *,
    groups: Iterable[str] = (),
    extras: Iterable[str] = (),
    all_groups: bool = False,
    all_extras: bool = False,
    default_groups: bool = True,
    no_groups: Iterable[str] = (),
    only_groups: bool = False,
) -> list[str]:
    """The requirement strings to resolve for this project, the way ``uv sync`` picks them.

    The project's dependencies (unless ``only_groups``), the asked extras, and the groups:
    ``default_groups`` (from ``tool.uv.default-groups``, ``dev`` by default) plus ``groups``,
    or every group with ``all_groups``, minus ``no_groups``. A requirement on the project
    itself (``me[test]`` in a group or extra) is replaced by what those extras require, with
    its marker carried over. Unknown extras or groups are errors.
    """
    extras_table, groups_table = project.optional_dependencies, project.dependency_groups
    if all_extras:
        chosen_extras = list(extras_table)
    else:
        chosen_extras = [_known(e, extras_table, "extra", "project.optional-dependencies", project) for e in extras]
    chosen_groups: list[str] = []
    if all_groups:
        chosen_groups = list(groups_table)
    else:
        if default_groups:
            chosen_groups.extend(project.default_groups)
        chosen_groups.extend(_known(g, groups_table, "group", "dependency-groups", project) for g in groups)
    skip = {_known(g, groups_table, "group", "dependency-groups", project) for g in no_groups}

    out: list[str] = []
    included: set[str] = set()
    if not only_groups:
        out.extend(project.dependencies)
        for extra in dict.fromkeys(chosen_extras):
            out.extend(extras_table[extra])
        included = {_BASE, *chosen_extras}
    for group in dict.fromkeys(chosen_groups):
        if group not in skip:
            out.extend(groups_table[group])
    return list(dict.fromkeys(_expand_self(out, project, included, frozenset())))


#: stands for the project's own dependencies in ``_expand_self``'s bookkeeping
_BASE = ""


def _known(name: str, table: Mapping[str, Any], kind: str, where: str, project: Project) -> str:
    normal = canonicalize_name(name)
    if normal not in table:
        defined = ", ".join(f"`{n}`" for n in table) or "none"
        raise _error(
            project.path,
            f"{kind} `{name}` is not defined in `{where}`",
            hints=[f"Defined: {defined}."],
        )
    return normal


def _expand_self(
    reqs: Iterable[str], project: Project, included: set[str], chain: frozenset[str]
) -> Iterable[str]:
    """Replace ``me[a,b]; marker`` by what the project and its extras a and b require, with
    the marker and-ed in. ``included`` holds what is already in unconditionally (``_BASE``
    for the project's own dependencies); ``chain`` stops self-references that loop."""
    for text in reqs:
        req = Requirement(text)
        if project.name is None or canonicalize_name(req.name) != project.name:
            yield text
            continue
        for part in (_BASE, *sorted(canonicalize_name(e) for e in req.extras)):
            if part != _BASE and part not in project.optional_dependencies:
                raise _error(project.path, f"`{text}` asks for extra `{part}`, which the project does not define")
            if part in chain or (req.marker is None and part in included):
                continue
            if req.marker is None:
                included.add(part)
            inner = project.dependencies if part == _BASE else project.optional_dependencies[part]
            for expanded in _expand_self(inner, project, included, chain | {part}):
                yield _and_marker(expanded, req.marker)


def _and_marker(text: str, marker: Marker | None) -> str:
    if marker is None:
        return text
    req = Requirement(text)
    req.marker = Marker(f"({req.marker}) and ({marker})") if req.marker is not None else marker
    return str(req)


# -- editing dependency arrays as text --------------------------------------------------------


@dataclass
class _Span:
    start: int
    end: int
    comma: int | None = None


_WS = " \t\r\n"


def _skip_string(s: str, i: int) -> int:
    """Index just past the TOML string starting at ``i`` (the text is known to be valid TOML)."""
    for quote in ('"""', "'''"):
        if s.startswith(quote, i):
            j = i + 3
            while True:
                if quote == '"""' and s[j] == "\\":
                    j += 2
                    continue
                if s.startswith(quote, j):
                    k = j + 3
                    while k < len(s) and s[k] == quote[0] and k - j < 5:
                        k += 1
                    return k
                j += 1
    if s[i] == '"':
        j = i + 1
        while s[j] != '"':
            j += 2 if s[j] == "\\" else 1
        return j + 1
    return s.index("'", i + 1) + 1


def _skip_value(s: str, i: int) -> int:
    if s[i] in "\"'":
        return _skip_string(s, i)
    if s[i] in "[{":
        depth, j = 0, i
        while True:
            c = s[j]
            if c in "\"'":
                j = _skip_string(s, j)
                continue
            if c == "#":
                j = _line_end(s, j)
                continue
            if c in "[{":
                depth += 1
            elif c in "]}":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
    j = i
    while j < len(s) and s[j] not in ",]#" and s[j] not in _WS:
        j += 1
    return j


def _line_start(s: str, i: int) -> int:
    return s.rfind("\n", 0, i) + 1


def _line_end(s: str, i: int) -> int:
    """Index of the newline ending the line holding ``i`` (or the end of the text)."""
    at = s.find("\n", i)
    return len(s) if at < 0 else at


def _scan(s: str) -> tuple[list[_Span], int]:
    """The top-level values of the array text ``s`` and the index of its closing bracket."""
    assert s.startswith("[")
    values: list[_Span] = []
    i = 1
    while True:
        c = s[i]
        if c in _WS:
            i += 1
        elif c == "#":
            i = _line_end(s, i)
        elif c == ",":
            values[-1].comma = i
            i += 1
        elif c == "]":
            return values, i
        else:
            end = _skip_value(s, i)
            values.append(_Span(i, end))
            i = end


class _ArrayText:
    """Edits one array's source text, keeping its layout; ``text`` is the result so far."""

    def __init__(self, text: str, key: str, newline: str) -> None:
        self.text = text
        self.key = key
        self.newline = newline
        self.inline = "\n" not in text

    def values(self) -> list[_Span]:
        return _scan(self.text)[0]

    def value_text(self, span: _Span) -> str:
        return self.text[span.start : span.end]

    def quote(self) -> str:
        """The quote character most entries use (``"`` on a tie or in an empty array)."""
        firsts = [self.text[span.start] for span in self.values()]
        return "'" if firsts.count("'") > firsts.count('"') else '"'

    def _splice(self, start: int, end: int, new: str) -> None:
        self.text = self.text[:start] + new + self.text[end:]

    def replace(self, index: int, literal: str) -> None:
        span = self.values()[index]
        self._splice(span.start, span.end, literal)

    def append(self, literal: str) -> None:
        values, close = _scan(self.text)
        s, nl = self.text, self.newline
        strings = [i for i, v in enumerate(values) if s[v.start] in "\"'"]
        if strings and strings[-1] != len(values) - 1:
            # after the last requirement, before trailing `{include-group = ...}` entries (as uv)
            following = values[strings[-1] + 1]
            line = _line_start(s, following.start)
            if line > 0 and s[line : following.start].strip() == "":
                at = _attached_start(s, line)
                self._splice(at, at, f"{s[line : following.start]}{literal},{nl}")
            else:
                self._splice(following.start, following.start, f"{literal}, ")
            return
        if not values and "\n" not in s:
            # `[]` grows the way uv grows it: one entry per line, trailing comma
            self.text = f"[{nl}{_INDENT}{literal},{nl}]"
            self.inline = False
            return
        if "\n" not in s:
            last = values[-1]
            if last.comma is None:
                self._splice(last.end, last.end, f", {literal}")
            else:
                self._splice(last.comma + 1, last.comma + 1, f" {literal},")
            return
        indent = self._indent(values)
        last = values[-1] if values else None
        trailing = last is None or last.comma is not None
        comma = "," if trailing else ""
        if last is not None and last.comma is None:
            self._splice(last.end, last.end, ",")
            values, close = _scan(self.text)
            last = values[-1]
        s = self.text
        close_line = _line_start(s, close)
        if close_line > 0 and s[close_line:close].strip() == "":
            self._splice(close_line, close_line, f"{indent}{literal}{comma}{nl}")
        else:
            anchor = last.comma + 1 if last is not None and last.comma is not None else 1
            self._splice(anchor, anchor, f"{nl}{indent}{literal}{comma}")

    def _indent(self, values: list[_Span]) -> str:
        s = self.text
        for span in reversed(values):
            before = s[_line_start(s, span.start) : span.start]
            if before.strip() == "" and _line_start(s, span.start) > 0:
                return before
        for line in s.splitlines()[1:]:
            stripped = line.lstrip(" \t")
            if stripped.startswith("#"):
                return line[: len(line) - len(stripped)]
        return _INDENT

    def remove(self, index: int) -> None:
        values, close = _scan(self.text)
        s = self.text
        span = values[index]
        start_line = _line_start(s, span.start)
        end_line = _line_end(s, span.end)
        following = values[index + 1].start if index + 1 < len(values) else close
        alone = (
            start_line > 0
            and s[start_line : span.start].strip() == ""
            and following > end_line
            and end_line < len(s)
        )
        if alone:
            # the entry's whole line goes, with its end-of-line comment
            self._splice(start_line, end_line + 1, "")
            if index == len(values) - 1 and span.comma is None and index > 0:
                previous = values[index - 1]
                if previous.comma is not None:
                    self._splice(previous.comma, previous.comma + 1, "")
        elif index > 0 and values[index - 1].comma is not None:
            # from the previous entry's comma: the entries after keep their own layout
            self._splice(values[index - 1].comma, span.end, "")
        elif index + 1 < len(values):
            self._splice(span.start, values[index + 1].start, "")
        else:
            self._splice(span.start, span.comma + 1 if span.comma is not None else span.end, "")
        if not _scan(self.text)[0] and "#" not in self.text:
            self.text = "[]"

    def finish(self) -> str:
        """The edited text; an inline array that grew too long goes one entry per line."""
        if self.inline and "\n" not in self.text and len(self.key) + 3 + len(self.text) > LINE_LIMIT:
            nl = self.newline
            body = "".join(f"{_INDENT}{self.value_text(v)},{nl}" for v in self.values())
            self.text = f"[{nl}{body}]"
        return self.text


def _toml_string(text: str, quote: str) -> str:
    """A TOML string literal for ``text``: a literal string when the array uses them and can."""
    if quote == "'" and "'" not in text and "\n" not in text:
        return f"'{text}'"
    return tomlkit.string(text).as_string()


def format_requirement(req: Requirement, *, quote: str = '"') -> str:
    """How pyx writes a requirement: packaging's normal form; inside ``"…"`` strings the
    marker uses single quotes (as uv writes it) so nothing needs escaping."""
    text = str(req)
    if quote == '"' and req.marker is not None:
        marker = str(req.marker)
        swapped = marker.replace('"', "'")
        if "'" not in marker and text.endswith(marker) and str(Marker(swapped)) == marker:
            text = text[: -len(marker)] + swapped
    return text


def _merge(old: Requirement, new: Requirement) -> Requirement:
    """uv's update rule: extras are united, a new version or URL replaces the old one, the
    marker is kept unless a new one is given."""
    merged = Requirement(str(old))
    merged.extras = set(old.extras) | set(new.extras)
    if new.url:
        merged.url = new.url
        merged.specifier = SpecifierSet()
    elif str(new.specifier):
        merged.specifier = new.specifier
        merged.url = None
    if new.marker is not None:
        merged.marker = new.marker
    return merged


def _same_marker(a: Requirement, b: Requirement) -> bool:
    return (a.marker is None and b.marker is None) or (
        a.marker is not None and b.marker is not None and str(a.marker) == str(b.marker)
    )


def _parse_array(text: str, newline: str) -> Array:
    return tomlkit.parse(f"x = {text}{newline}")["x"]


def _add_to_array(
    container: Any, key: str, reqs: Sequence[Requirement], newline: str, where: str, path: Path
) -> None:
    """Add or update ``reqs`` in the array ``container[key]`` (uv's matching: name and marker)."""
    item = container[key]
    if not isinstance(item, Array):
        raise _error(path, f"`{where}` must be an array")
    edit = _ArrayText(item.as_string(), key, newline)
    for req in reqs:
        name = canonicalize_name(req.name)
        entries = item.unwrap() if edit.text == item.as_string() else _parse_array(edit.text, newline).unwrap()
        matches = []
        for position, entry in enumerate(entries):
            if isinstance(entry, str):
                existing = Requirement(entry)
                if canonicalize_name(existing.name) == name and _same_marker(existing, req):
                    matches.append((position, existing))
        if len(matches) > 1:
            raise _error(
                path,
                f"`{req.name}` appears {len(matches)} times in `{where}` with the same marker; which one to"
                " replace is ambiguous",
                hints=["Remove the duplicates, then add again."],
            )
        if matches:
            position, existing = matches[0]
            span = edit.values()[position]
            quote = edit.text[span.start] if edit.text[span.start] in "\"'" else '"'
            merged = _merge(existing, req)
            if str(merged) != str(existing):
                edit.replace(position, _toml_string(format_requirement(merged, quote=quote), quote))
        else:
            quote = edit.quote()
            edit.append(_toml_string(format_requirement(req, quote=quote), quote))
    _put_array(container, key, item, edit, newline)


def _put_array(container: Any, key: str, item: Array, edit: _ArrayText, newline: str) -> None:
    new = edit.finish()
    if new != item.as_string():
        container[key] = _parse_array(new, newline)


def _remove_from_array(container: Any, key: str, names: Sequence[NormalizedName], newline: str) -> set[str]:
    """Remove every entry naming one of ``names``; the names actually found."""
    item = container[key]
    if not isinstance(item, Array):
        return set()
    edit = _ArrayText(item.as_string(), key, newline)
    found: set[str] = set()
    for position in reversed(range(len(item))):
        entry = item[position]
        if isinstance(entry, str):
            name = canonicalize_name(Requirement(str(entry)).name)
            if name in names:
                edit.remove(position)
                found.add(name)
    _put_array(container, key, item, edit, newline)
    return found


# -- editing: the public functions ------------------------------------------------------------


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _target(group: str | None, optional: str | None, path: Path) -> tuple[str, str | None]:
    """(``dependencies`` | ``group`` | ``optional``, normalized name), validating the name."""
    if group is not None and optional is not None:
        raise _error(path, "a dependency goes in a group or an extra, not both")
    if group is None and optional is None:
        return "dependencies", None
    kind, name = ("group", group) if group is not None else ("optional", optional)
    try:
        return kind, canonicalize_name(name, validate=True)
    except InvalidName:
        label = "group" if kind == "group" else "extra"
        raise _error(path, f"invalid {label} name `{name}`") from None


def _key_for(table: Mapping[str, Any], normal: str) -> str | None:
    for key in table:
        with contextlib.suppress(InvalidName):
            if canonicalize_name(key, validate=True) == normal:
                return key
    return None


def _ensure_table(text: str, parts: tuple[str, ...], key: str, path: Path) -> str:
    """The text with a ``[parts]`` section holding ``key = []`` added when the table is missing
    (after its family's sections, one blank line around it, as uv places new tables)."""
    node: Any = _parse(text, path)
    for depth, part in enumerate(parts, 1):
        if isinstance(node, InlineTable):
            raise _error(
                path,
                f"`{'.'.join(parts[: depth - 1])}` is an inline table; pyx cannot add `{part}` to it",
                hints=["Write it as a `[table]` section."],
            )
        if part not in node:
            break
        node = node[part]
    else:
        return text
    nl = _newline(text)
    block = f"[{_dotted(parts)}]{nl}{_key(key)} = []{nl}"
    return _insert_block(text, _block_position(text, parts), block, nl)


def _legacy_dev_updates(text: str, reqs: Sequence[Requirement], path: Path) -> list[Requirement]:
    """The requirements uv would update in ``tool.uv.dev-dependencies`` rather than in the
    ``dev`` group: those declared there and not in ``[dependency-groups] dev``."""
    data = _parse(text, path).unwrap()
    legacy = data.get("tool", {}).get("uv", {}).get("dev-dependencies")
    if not isinstance(legacy, list):
        return []
    groups = data.get("dependency-groups", {})
    key = _key_for(groups, "dev")
    in_group = {canonicalize_name(Requirement(r).name) for r in (groups.get(key, []) if key else []) if isinstance(r, str)}
    in_legacy = {canonicalize_name(Requirement(r).name) for r in legacy}
    return [r for r in reqs if canonicalize_name(r.name) in in_legacy - in_group]


def add_dependencies_to_text(
    text: str,
    requirements: Sequence[str | Requirement],
    *,
    group: str | None = None,
    optional: str | None = None,
    path: Path | str = PYPROJECT,
) -> str:
    """The pyproject text with ``requirements`` added (pure: an editor can apply the result)."""
    path = Path(path)
    original = text
    project = project_from_text(text, path)
    kind, target = _target(group, optional, path)
    reqs = [_requirement(r, path, where="the requirements to add") for r in requirements]
    nl = _newline(text)

    if kind == "group":
        legacy = _legacy_dev_updates(text, reqs, path) if target == "dev" else []
        reqs = [r for r in reqs if r not in legacy]
        if legacy:
            doc = _parse(text, path)
            _add_to_array(doc["tool"]["uv"], "dev-dependencies", legacy, nl, "tool.uv.dev-dependencies", path)
            text = tomlkit.dumps(doc)
            if not reqs:
                return _finish(doc, original, path)
        text = _ensure_table(text, ("dependency-groups",), target, path)
        doc = _parse(text, path)
        container = doc["dependency-groups"]
        key = _key_for(container, target) or target
        where = f"dependency-groups.{key}"
    elif not project.has_project_table:
        raise _error(
            path,
            "has no `[project]` table to add dependencies to",
            hints=["Add them to a dependency group instead (`--group dev`)", "or run `pyx init` to make a project."],
        )
    elif kind == "optional":
        text = _ensure_table(text, ("project", "optional-dependencies"), target, path)
        doc = _parse(text, path)
        container = doc["project"]["optional-dependencies"]
        key = _key_for(container, target) or target
        where = f"project.optional-dependencies.{key}"
    else:
        if "dependencies" in project.dynamic:
            raise _error(
                path,
                "`dependencies` is listed in `project.dynamic`: the build backend computes it, pyx cannot edit it",
            )
        for req in reqs:
            if canonicalize_name(req.name) == project.name:
                raise _error(path, f"`{req}` names the project itself; a project cannot depend on itself")
        doc = _parse(text, path)
        container, key, where = doc["project"], "dependencies", "project.dependencies"
    if key not in container:
        container[key] = _parse_array("[]", nl)
    _add_to_array(container, key, reqs, nl, where, path)
    return _finish(doc, original, path)


def _finish(doc: tomlkit.TOMLDocument, original: str, path: Path) -> str:
    new = tomlkit.dumps(doc)
    if new != original:
        project_from_text(new, path)  # the edit must leave a valid project
    return new


def remove_dependencies_from_text(
    text: str,
    names: Sequence[str],
    *,
    group: str | None = None,
    optional: str | None = None,
    path: Path | str = PYPROJECT,
) -> str:
    """The pyproject text with every entry for ``names`` removed; naming one that is not
    declared there is an error (which says where it is declared, if anywhere)."""
    path = Path(path)
    project = project_from_text(text, path)
    kind, target = _target(group, optional, path)
    wanted = []
    for name in names:
        try:
            wanted.append(canonicalize_name(name if _is_name(name) else Requirement(name).name, validate=True))
        except (InvalidName, _PackagingInvalidRequirement):
            raise _error(path, f"invalid package name `{name}`") from None
    doc = _parse(text, path)
    nl = _newline(text)
    found: set[str] = set()
    if kind == "group":
        where = f"dependency-groups.{target}"
        groups = doc.get("dependency-groups", {})
        key = _key_for(groups, target)
        defined = key is not None or (target == "dev" and "dev-dependencies" in project.tool_uv)
        if not defined:
            raise _error(
                path, f"dependency group `{group}` is not defined", cls=DependencyNotFound, hints=_group_hints(project)
            )
        if key is not None:
            where = f"dependency-groups.{key}"
            found |= _remove_from_array(groups, key, wanted, nl)
        if target == "dev" and "dev-dependencies" in project.tool_uv:
            found |= _remove_from_array(doc["tool"]["uv"], "dev-dependencies", wanted, nl)
    elif kind == "optional":
        extras = doc["project"].get("optional-dependencies", {}) if project.has_project_table else {}
        key = _key_for(extras, target)
        if key is None:
            raise _error(
                path, f"extra `{optional}` is not defined in `project.optional-dependencies`", cls=DependencyNotFound
            )
        where = f"project.optional-dependencies.{key}"
        found |= _remove_from_array(extras, key, wanted, nl)
    else:
        where = "project.dependencies"
        if project.has_project_table and "dependencies" in doc["project"]:
            found |= _remove_from_array(doc["project"], "dependencies", wanted, nl)
    missing = [n for n, w in zip(names, wanted, strict=True) if w not in found]
    if missing:
        listed = ", ".join(f"`{n}`" for n in missing)
        raise _error(
            path,
            f"{listed} {'is' if len(missing) == 1 else 'are'} not declared in `{where}`",
            cls=DependencyNotFound,
            hints=_elsewhere_hints(project, [canonicalize_name(n) for n in missing]),
            missing=", ".join(missing),
        )
    return _finish(doc, text, path)


def _is_name(text: str) -> bool:
    try:
        canonicalize_name(text, validate=True)
    except InvalidName:
        return False
    return True


def _group_hints(project: Project) -> list[str]:
    if not project.dependency_groups:
        return []
    return [f"Defined groups: {', '.join(f'`{g}`' for g in project.dependency_groups)}."]


def _elsewhere_hints(project: Project, names: Sequence[str]) -> list[str]:
    """Where else the missing names are declared, so the user can repeat with the right flag."""
    hints = []
    places: list[tuple[str, tuple[str, ...]]] = [("`project.dependencies`", project.dependencies)]
    places += [(f"the `{e}` extra (`--optional {e}`)", r) for e, r in project.optional_dependencies.items()]
    places += [(f"the `{g}` group (`--group {g}`)", r) for g, r in project.dependency_groups.items()]
    for name in names:
        for label, reqs in places:
            if any(canonicalize_name(Requirement(r).name) == name for r in reqs):
                hints.append(f"`{name}` is declared in {label}.")
                break
    return hints


def add_dependencies(
    path: Path | str,
    requirements: Sequence[str | Requirement],
    *,
    group: str | None = None,
    optional: str | None = None,
) -> Project:
    """Add (or update in place) requirements in ``[project] dependencies``, a dependency group
    or an extra of the ``pyproject.toml`` at ``path``; returns the project as written."""
    return _edit(
        path, lambda text, p: add_dependencies_to_text(text, requirements, group=group, optional=optional, path=p)
    )


def remove_dependencies(
    path: Path | str,
    names: Sequence[str],
    *,
    group: str | None = None,
    optional: str | None = None,
) -> Project:
    """Remove every entry for ``names`` from the dependencies, a group or an extra. If one of
    them is not there, nothing is written and ``DependencyNotFound`` names it."""
    return _edit(
        path, lambda text, p: remove_dependencies_from_text(text, names, group=group, optional=optional, path=p)
    )


def set_tool_value(path: Path | str, dotted_key: str | Sequence[str], value: Any) -> Project:
    """Set (or, with ``None``, remove) a value under ``[tool]``: ``tool.uv.sources.torch``,
    ``tool.uv.index``, ``tool.pyx.variant``… Give the key as a sequence when a part holds a dot.

    Shapes follow how uv writes its tables: a mapping at ``tool.x.y`` becomes a ``[table]``
    and a list of mappings there an array of tables (``[[tool.uv.index]]``); deeper mappings
    are inline tables (``torch = { index = "cu121" }``). A value that exists keeps its shape.
    """
    return _edit(path, lambda text, p: set_tool_value_in_text(text, dotted_key, value, path=p))


def set_tool_value_in_text(
    text: str, dotted_key: str | Sequence[str], value: Any, *, path: Path | str = PYPROJECT
) -> str:
    """``set_tool_value`` on text (pure)."""
    path = Path(path)
    parts = tuple(dotted_key.split(".")) if isinstance(dotted_key, str) else tuple(dotted_key)
    if len(parts) < 2 or parts[0] != "tool" or not all(parts):
        raise _error(path, f"`{'.'.join(parts)}` is not a key under `[tool]`")
    project_from_text(text, path)
    value = _plain(value)
    doc = _parse(text, path)
    nl = _newline(text)

    # the deepest existing table on the way to the key
    container: Any = doc
    found = 0
    for part in parts[:-1]:
        if part not in container:
            break
        container = container[part]
        if not isinstance(container, (Table, InlineTable)) and not hasattr(container, "keys"):
            raise _error(path, f"`{'.'.join(parts[: found + 1])}` is not a table")
        found += 1
    parent_exists = found == len(parts) - 1
    existing = container[parts[-1]] if parent_exists and parts[-1] in container else None
    headers = [h for h in _headers(text) if h.path[: len(parts)] == parts]

    if value is None:
        if existing is None:
            return text
        if headers:
            return _finish_text(_remove_sections(text, headers, nl), text, path)
        del container[parts[-1]]
        return _finish(doc, text, path)

    wants_header = not isinstance(container, InlineTable) and not isinstance(existing, (InlineTable, Array)) and (
        isinstance(existing, (Table, AoT))
        or (len(parts) <= 3 and (isinstance(value, Mapping) or _is_table_list(value)))
    )
    if wants_header:
        block = _render_blocks(parts, value, nl)
        if existing is not None and not headers:  # an inline or dotted value becomes a table
            del container[parts[-1]]
            text = tomlkit.dumps(doc)
        if headers:
            at = _attached_start(text, headers[0].start)
            new = _remove_sections(text, headers, nl)
            return _finish_text(_insert_block(new, min(at, len(new)), block, nl), text, path)
        return _finish_text(_insert_block(text, _block_position(text, parts), block, nl), text, path)

    rendered = _render_inline(value, nl)
    if parent_exists:
        container[parts[-1]] = tomlkit.parse(f"x = {rendered}{nl}")["x"]
        return _finish(doc, text, path)
    header = parts[:-1]
    block = f"[{_dotted(header)}]{nl}{_key(parts[-1])} = {rendered}{nl}"
    return _finish_text(_insert_block(text, _block_position(text, header), block, nl), text, path)


def _plain(value: Any) -> Any:
    """``UvIndex`` / ``UvSource`` as the tables uv writes; sequences as lists."""
    if isinstance(value, (UvIndex, UvSource)):
        return value.to_toml()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _finish_text(new: str, original: str, path: Path) -> str:
    if new != original:
        project_from_text(new, path)
    return new


def add_uv_index(path: Path | str, index: UvIndex) -> Project:
    """Declare ``index`` in ``[[tool.uv.index]]`` as ``uv add --index`` does: an entry with the
    same name (or URL) is replaced, and the index goes first (the first index wins). Other
    entries keep their text, comments included."""
    return _edit(path, lambda text, p: add_uv_index_to_text(text, index, path=p))


def add_uv_index_to_text(text: str, index: UvIndex, *, path: Path | str = PYPROJECT) -> str:
    """``add_uv_index`` on text (pure)."""
    p = Path(path)
    project = project_from_text(text, p)
    if project.uv_indexes and project.uv_indexes[0] == index and not any(
        _same_index(i, index) for i in project.uv_indexes[1:]
    ):
        return text
    key = ("tool", "uv", "index")
    sections = [h for h in _headers(text) if h.path == key]
    if len(sections) != len(project.uv_indexes):  # written inline: `index = [...]`
        others = [i for i in project.uv_indexes if not _same_index(i, index)]
        return set_tool_value_in_text(text, key, [index, *others], path=p)
    nl = _newline(text)
    block = _render_blocks(key, [index.to_toml()], nl)
    if not sections:
        return _finish_text(_insert_block(text, _block_position(text, key), block, nl), text, p)
    # the new entry goes where the first one starts; removals happen at or after it
    at = _attached_start(text, sections[0].start)
    replaced = [h for h, i in zip(sections, project.uv_indexes, strict=True) if _same_index(i, index)]
    new = _remove_sections(text, replaced, nl) if replaced else text
    return _finish_text(_insert_block(new, min(at, len(new)), block, nl), text, p)


def _same_index(a: UvIndex, b: UvIndex) -> bool:
    return a.same_index(b)


def set_uv_source(path: Path | str, package: str, sources: UvSource | Sequence[UvSource] | None) -> Project:
    """Set ``tool.uv.sources.<package>`` (replacing an entry spelled differently), or remove it
    with ``None``: how an index or GPU-variant choice is recorded so that uv honours it too."""
    return _edit(path, lambda text, p: set_uv_source_in_text(text, package, sources, path=p))


def set_uv_source_in_text(
    text: str, package: str, sources: UvSource | Sequence[UvSource] | None, *, path: Path | str = PYPROJECT
) -> str:
    """``set_uv_source`` on text (pure)."""
    p = Path(path)
    try:
        normal = canonicalize_name(package, validate=True)
    except InvalidName:
        raise _error(p, f"invalid package name `{package}`") from None
    if isinstance(sources, UvSource):
        value: Any = sources.to_toml()
    elif sources is not None:
        value = [s.to_toml() for s in sources]
        value = value[0] if len(value) == 1 else value
    else:
        value = None
    table = _parse(text, p).unwrap().get("tool", {}).get("uv", {}).get("sources", {})
    key = _key_for(table, normal) if isinstance(table, dict) else None
    if key is not None and key != normal and value is not None:
        text = set_tool_value_in_text(text, ("tool", "uv", "sources", key), None, path=p)
        key = None
    return set_tool_value_in_text(text, ("tool", "uv", "sources", key or normal), value, path=p)


# -- tables as text: where headers are, inserting and removing whole sections ----------------


@dataclass(frozen=True)
class _Header:
    #: offset of the header line
    start: int
    path: tuple[str, ...]
    array: bool


def _headers(text: str) -> list[_Header]:
    """Every ``[table]`` / ``[[array]]`` header line of valid TOML text, in order.

    Walks the top-level lines, stepping over each value with the same scanner the array
    editor uses, so a line starting with ``[`` inside a multi-line string or array is not
    taken for a header.
    """
    out = []
    i, n = 0, len(text)
    while i < n:
        j = i
        while j < n and text[j] in " \t":
            j += 1
        if j >= n:
            break
        c = text[j]
        if c in "\r\n#":
            i = _line_end(text, j) + 1
            continue
        if c == "[":
            end = _line_end(text, j)
            node: Any = tomlkit.parse(text[j:end]).unwrap()
            path: list[str] = []
            array = False
            while isinstance(node, dict) and len(node) == 1:
                key, node = next(iter(node.items()))
                path.append(key)
                if isinstance(node, list):
                    array = True
                    break
            out.append(_Header(i, tuple(path), array))
            i = end + 1
            continue
        k = j
        while text[k] != "=":
            k = _skip_string(text, k) if text[k] in "\"'" else k + 1
        k += 1
        while text[k] in " \t":
            k += 1
        i = _line_end(text, _skip_value(text, k)) + 1
    return out


def _attached_start(text: str, start: int) -> int:
    """Where the comment lines directly above a header (part of it, to a reader) begin."""
    while start > 0:
        previous = _line_start(text, start - 1)
        if text[previous:start].strip().startswith("#"):
            start = previous
        else:
            break
    return start


def _section_end(text: str, headers: Sequence[_Header], header: _Header) -> int:
    later = [h.start for h in headers if h.start > header.start]
    return _attached_start(text, later[0]) if later else len(text)


def _remove_sections(text: str, sections: Sequence[_Header], newline: str) -> str:
    """Remove whole sections (header, body, comments attached above); last first, so the
    offsets of earlier ones hold. A removal reaching the end leaves one final newline."""
    for header in sorted(sections, key=lambda h: h.start, reverse=True):
        end = _section_end(text, _headers(text), header)
        start = _attached_start(text, header.start)
        if end >= len(text):
            head = text[:start].rstrip("\r\n")
            text = head + newline if head else ""
        else:
            text = text[:start] + text[end:]
    return text


def _block_position(text: str, path: Sequence[str]) -> int:
    """Where a new section for ``path`` goes: after the last section of its closest family
    (``[tool.uv.sources]`` after the ``[tool.uv…]`` sections), else at the end."""
    headers = _headers(text)
    for length in range(len(path), 0, -1):
        family = [h for h in headers if h.path[:length] == tuple(path[:length])]
        if family:
            return _section_end(text, headers, family[-1])
    return len(text)


def _insert_block(text: str, at: int, block: str, newline: str) -> str:
    """Insert a section at ``at`` with one blank line on either side."""
    before, after = text[:at], text[at:]
    if before and not before.endswith("\n"):
        before += newline
    if before.strip() and not before.endswith(("\n\n", "\n\r\n")):
        before += newline
    if after.strip():
        block += newline
    else:
        after = ""
    return before + block + after


def _render_blocks(parts: Sequence[str], value: Any, newline: str) -> str:
    """``[a.b]`` / ``[[a.b]]`` sections for a mapping / list of mappings, one blank line apart."""
    tables = value if isinstance(value, list) else [value]
    brackets = ("[[", "]]") if isinstance(value, list) else ("[", "]")
    blocks = []
    for table in tables:
        lines = [f"{brackets[0]}{_dotted(parts)}{brackets[1]}"]
        lines += [f"{_key(k)} = {_render_inline(v, newline)}" for k, v in table.items()]
        blocks.append(newline.join(lines) + newline)
    return newline.join(blocks)


def _render_inline(value: Any, newline: str) -> str:
    """A value as uv formats it: ``{ a = 1 }`` tables, several tables one per line."""
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_render_inline(v, newline)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        inner = [_render_inline(v, newline) for v in value]
        if _is_table_list(value) and len(value) > 1:
            return "[" + newline + "".join(f"{_INDENT}{v},{newline}" for v in inner) + "]"
        return "[" + ", ".join(inner) + "]"
    return tomlkit.item(value).as_string()


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else tomlkit.string(key).as_string()


def _dotted(parts: Sequence[str]) -> str:
    return ".".join(_key(p) for p in parts)


def init_project(
    directory: Path | str,
    *,
    name: str | None = None,
    requires_python: str | None = None,
) -> Path:
    """Write the minimal ``pyproject.toml`` ``uv init --bare`` writes; refuses to overwrite one."""
    target, text = new_project_text(directory, name=name, requires_python=requires_python)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_new(target, text)
    return target


def new_project_text(
    directory: Path | str,
    *,
    name: str | None = None,
    requires_python: str | None = None,
    python_version: tuple[int, int] | None = None,
) -> tuple[Path, str]:
    """Where the new ``pyproject.toml`` goes and its text (pure but for checking that none exists).

    ``name`` defaults to the directory's name (spaces become ``-``), normalized as uv does;
    ``requires_python`` defaults to ``>=`` the running interpreter's ``major.minor``, and a
    bare version (``3.12``) means ``>=3.12``.
    """
    directory = Path(directory).absolute()
    target = directory / PYPROJECT
    if target.exists():
        raise _error(
            target,
            f"a project is already initialized in `{directory}` (`pyproject.toml` exists)",
            hints=["Edit the existing file, or choose another directory."],
        )
    if name is None:
        raw = directory.name.strip().replace(" ", "-")
        try:
            normal = canonicalize_name(raw, validate=True)
        except InvalidName:
            raise _error(
                target,
                f"the directory name `{directory.name}` is not a valid package name",
                hints=["Give a name explicitly (`--name`)."],
            ) from None
    else:
        try:
            normal = canonicalize_name(name, validate=True)
        except InvalidName:
            raise _error(target, f"invalid project name `{name}`") from None
    if requires_python is None:
        major, minor = python_version or sys.version_info[:2]
        spec = f">={major}.{minor}"
    else:
        spec = requires_python.strip()
        try:
            version = Version(spec)
        except InvalidVersion:
            parse_requires_python(spec, path=target)
        else:
            spec = f">={version.major}.{version.minor}"
    text = (
        "[project]\n"
        f'name = "{normal}"\n'
        'version = "0.1.0"\n'
        f"requires-python = {tomlkit.string(spec).as_string()}\n"
        "dependencies = []\n"
    )
    project_from_text(text, target)
    return target, text


# -- writing ----------------------------------------------------------------------------------


def _edit(path: Path | str, change: Callable[[str, Path], str]) -> Project:
    path = Path(path)
    if path.is_dir():
        path = path / PYPROJECT
    text = _read(path)
    new = change(text, path)
    project = project_from_text(new, path)
    if new != text:
        from pyx_server.engine.edits import write_atomic

        write_atomic(path, new.encode("utf-8"))
    return project


def _chmod_default(path: str) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _write_new(path: Path, text: str) -> None:
    """Create ``path`` atomically, failing (not overwriting) if it appeared meanwhile."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
        _chmod_default(tmp)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise _error(path, "a `pyproject.toml` appeared while it was being written") from None
        except OSError:  # no hard links here: exclusive create instead
            with open(path, "xb") as f:
                f.write(text.encode("utf-8"))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
