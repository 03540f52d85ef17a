"""Finding and reading projects: ``find_project`` walks up to the nearest ``pyproject.toml``
that declares a project (a ``[project]`` table, or — as uv allows — a *virtual* project that
only has ``[dependency-groups]`` or ``[tool.uv]``), and the file is checked into a ``Project``.
``requirements_of`` gives the requirement strings to resolve, honouring
``tool.uv.default-groups`` as uv does (``dev`` unless told otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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

from pyx_server.engine.project.model import DEFAULT_GROUPS, PYPROJECT, Project, UvSource, _SOURCE_KEYS, _error, _line_of
from pyx_server.engine.uvindex import UvIndex


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
        raise _error(path, f"`{path}` does not exist", hints=["Create one with `pyx init`."]) from None
    except OSError as exc:
        raise _error(path, f"`{path}` cannot be read: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _error(path, f"the file is not UTF-8 (byte {exc.start})") from None


def _parse(text: str, path: Path) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise _error(
            path,
            f"invalid TOML: {_parse_reason(exc)}",
            line=exc.line,
            column=exc.col,
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
        line = _line_of(text, where.rsplit(".", 1)[-1])
        raise _error(path, f"`{where}` must be an array of requirement strings", line=line)
    out = []
    for position, item in enumerate(value, 1):
        if not isinstance(item, str):
            line = _line_of(text, where.rsplit(".", 1)[-1])
            raise _error(path, f"entry {position} of `{where}` is not a string: `{item}`", line=line)
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
