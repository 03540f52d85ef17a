"""The ``Declaration``: what a script, a notebook or a project asks for, read from a file or
from an editor's unsaved text.

It is read from a PEP 723 block (script or notebook, ``engine.inline``) or from
``pyproject.toml`` (``engine.project``): requirements, ``requires-python``, where its lock
lives (``pylock.toml`` / ``pylock.<name>.toml``, or inside the notebook) and the extra
indexes named in ``[[tool.uv.index]]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from pyx_server.engine.cache import Cache
from pyx_server.engine.config import IndexSettings
from pyx_server.engine.errors import Location, ProjectNotFound, PythonNotAllowed, UnknownIndex
from pyx_server.engine.requirements import RequirementSpec, parse_requirement

#: the suffixes read as scripts or notebooks (anything else: the project around the path)
INLINE_SUFFIXES = (".py", ".ipynb", ".pyw")


@dataclass(frozen=True)
class Declaration:
    """What a script, a notebook or a project asks for."""

    kind: str  # "script" | "notebook" | "project"
    #: the script, notebook or pyproject.toml
    path: Path
    requirements: tuple[RequirementSpec, ...]
    requires_python: str | None
    lock_path: Path
    #: indexes declared in ``[[tool.uv.index]]`` (not ``explicit``), searched before the default
    indexes: tuple[str, ...] = ()
    #: the parsed ``Project`` for projects
    project: object | None = field(default=None, compare=False)
    #: ``[tool.uv.sources]`` index pins: normalized name → index URLs (``explicit`` ones included)
    pinned: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: the text this was read from when it is not the file's (an editor's unsaved buffer, or
    #: a use case's planned edit); None: the file on disk
    text: str | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"`{self.path}`"


def read_declaration(path: Path, cache: Cache | None = None) -> Declaration:
    """The declaration of a script/notebook (by suffix) or of the project holding ``path``.

    With ``cache``, a script or notebook read before, unchanged since (same size and mtime),
    is not parsed again: a notebook sync then imports neither the inline-metadata parser nor
    tomllib (about 10 ms of a 160 ms environment build).
    """
    path = Path(path).absolute()
    if cache is not None and path.suffix in INLINE_SUFFIXES:
        from pyx_server.engine.declared.memo import declaration_memo

        memo = declaration_memo(path, cache)
        if memo is not None:
            found = memo.load()
            if isinstance(found, Declaration):
                return found
            declaration = _read_declaration(path)
            memo.store(declaration)
            return declaration
    return _read_declaration(path)


def _read_declaration(path: Path) -> Declaration:
    if path.suffix in INLINE_SUFFIXES and path.is_file():
        from pyx_server.engine.inline import read_metadata

        return _inline_declaration(path, read_metadata(path))
    from pyx_server.engine.project import find_project

    project = find_project(path if path.is_dir() else path.parent)
    if project is None:
        raise ProjectNotFound(
            f"no `pyproject.toml` with a `[project]` table in `{path}` or its parents",
            hints=["create one with `pyx init`, or name a script: `pyx run script.py`"],
        )
    return _project_declaration(project)


def declaration_from_text(path: Path, text: str) -> Declaration:
    """The declaration ``text`` makes at ``path`` (a script, a notebook, or a
    ``pyproject.toml``), whatever the file on disk holds: what an editor previews."""
    path = Path(path).absolute()
    if path.suffix in INLINE_SUFFIXES:
        from pyx_server.engine.inline import parse_text

        return replace(_inline_declaration(path, parse_text(text, path)), text=text)
    from pyx_server.engine.project import project_from_text

    return replace(_project_declaration(project_from_text(text, path)), text=text)


def _inline_declaration(path: Path, meta) -> Declaration:
    from pyx_server.engine.lock import lock_path_for

    kind = "notebook" if path.suffix == ".ipynb" else "script"
    if meta is None:
        return Declaration(kind, path, (), None, lock_path_for(path))
    source = f"{path} (inline script metadata)"
    reqs = tuple(parse_requirement(d, source=source, base_dir=path.parent) for d in meta.dependencies)
    indexes = tuple(i.url for i in meta.uv_indexes if not i.explicit)
    named = {i.name: i.url for i in meta.uv_indexes if i.name}
    pinned = _pins_from_sources(
        {name: [s] if isinstance(s, dict) else list(s) for name, s in meta.uv_sources.items()}, named, path
    )
    return Declaration(kind, path, reqs, meta.requires_python, lock_path_for(path), indexes, pinned=pinned)


def _project_declaration(project) -> Declaration:
    from pyx_server.engine.lock import lock_path_for
    from pyx_server.engine.project import requirements_of

    source = f"{project.path}"
    reqs = tuple(parse_requirement(r, source=source, base_dir=project.root) for r in requirements_of(project))
    indexes = tuple(i.url for i in project.uv_indexes if not i.explicit)
    named = {i.name: i.url for i in project.uv_indexes if i.name}
    sources = {name: [{"index": s.index} if s.index else {} for s in entries] for name, entries in project.uv_sources.items()}
    pinned = _pins_from_sources(sources, named, project.path)
    rp = str(project.requires_python) if project.requires_python is not None else None
    return Declaration("project", project.path, reqs, rp, lock_path_for(project.root), indexes, project, pinned)


def _pins_from_sources(sources: dict, named: dict[str, str], where: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``name = { index = "x" }`` entries as (name, (url of index x,)) pairs."""
    from packaging.utils import canonicalize_name

    pinned = []
    for name, entries in sources.items():
        urls = []
        for entry in entries:
            index_name = entry.get("index") if isinstance(entry, dict) else None
            if index_name is None:
                continue
            if index_name not in named:
                raise UnknownIndex(
                    f"`{name}` is routed to the index `{index_name}`, which no `[[tool.uv.index]]` entry names",
                    hints=["add `[[tool.uv.index]]` with that `name` and its `url`"],
                    location=Location(str(where)),
                )
            urls.append(named[index_name])
        if urls:
            pinned.append((canonicalize_name(name), tuple(dict.fromkeys(urls))))
    return tuple(sorted(pinned))


def index_for(declaration: Declaration, base: IndexSettings) -> IndexSettings:
    """The command's index settings plus the declaration's own indexes (asked first, as uv)."""
    extra = tuple(u for u in declaration.indexes if u not in base.indexes)
    settings = replace(base, indexes=extra + base.indexes) if extra else base
    if declaration.pinned:
        settings = replace(settings, pinned=tuple(sorted({**dict(base.pinned), **dict(declaration.pinned)}.items())))
    return settings


def check_python(declaration: Declaration, interpreter) -> None:
    """Refuse an interpreter outside the declared ``requires-python``."""
    from packaging.specifiers import SpecifierSet

    if declaration.requires_python and interpreter.python_version not in SpecifierSet(declaration.requires_python):
        raise PythonNotAllowed(
            f"{declaration.label} requires Python `{declaration.requires_python}`, "
            f"but the interpreter is Python {interpreter.python_version}",
            hints=["choose another interpreter with `--python`"],
        )


__all__ = ["Declaration", "check_python", "declaration_from_text", "index_for", "read_declaration"]
