"""Adding and removing dependencies (``[project] dependencies``, extras, dependency groups).

Each edit has a pure form on text (``…_to_text`` / ``…_from_text``: what an editor previews
and what the use cases write together with the lock) and a form that edits the file. Every
edit validates the whole result before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tomlkit
from packaging.requirements import InvalidRequirement as _PackagingInvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import InvalidName, canonicalize_name
from tomlkit.items import InlineTable

from pyx_server.engine.errors import DependencyNotFound
from pyx_server.engine.project.arrays import _add_to_array, _parse_array, _remove_from_array
from pyx_server.engine.project.files import _edit
from pyx_server.engine.project.model import PYPROJECT, Project, _error
from pyx_server.engine.project.reading import _parse, _requirement, project_from_text
from pyx_server.engine.project.tomltext import _block_position, _dotted, _finish, _insert_block, _key, _key_for, _newline


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
            "the file has no `[project]` table to add dependencies to",
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
