"""What the declarative use cases share: which declaration a request names, its current text,
the lock that serialises its edits, the interpreter, and the project's ``.venv``.

A target is a script (``.py``), a notebook (``.ipynb``), a ``pyproject.toml`` or a directory
inside a project; None means the project around the context's directory. A front that owns
an unsaved document passes its ``text``: the declaration is read from it, not from the disk.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from pyx_server.engine.api.context import Context
from pyx_server.engine.errors import UsageError

#: what a target is, by suffix; anything else is looked up as a project
INLINE_SUFFIXES = (".py", ".ipynb", ".pyw")


@dataclass(frozen=True)
class Current:
    """A declaration as it stands: parsed, with the text it was parsed from and the encoding
    that text is saved in (a script may declare another than UTF-8)."""

    declaration: object  # engine.declared.Declaration
    text: str
    encoding: str
    #: whether ``text`` came from the caller (an editor's buffer) rather than the disk
    from_caller: bool


def target_path(ctx: Context, target: str | os.PathLike[str] | None, *, text: str | None = None) -> Path:
    """The absolute path a target names: the script or notebook, or the ``pyproject.toml`` of
    the project around it (an error when there is none)."""
    path = ctx.cwd if target is None else ctx.path(target)
    if path.suffix in INLINE_SUFFIXES or path.name == "pyproject.toml":
        if text is None and not path.is_file():
            raise UsageError(f"`{target}` does not exist", context={"path": path})
        return path
    if text is not None:
        raise UsageError(f"`{path}` is a directory: name the `pyproject.toml` the text belongs to",
                         context={"path": path})
    from pyx_server.engine.declared import read_declaration

    return read_declaration(path).path


def read_current(path: Path, text: str | None = None) -> Current:
    """The declaration at ``path`` from ``text`` (a caller's buffer) or from the file."""
    from pyx_server.engine.declared import declaration_from_text

    if text is not None:
        return Current(declaration_from_text(path, text), text, "utf-8", True)
    if path.suffix in INLINE_SUFFIXES:
        from pyx_server.engine.inline.files import read_text

        text, encoding = read_text(path)
    else:
        try:
            text, encoding = path.read_text(encoding="utf-8"), "utf-8"
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read `{path}`: {exc}", context={"path": path}) from exc
    return Current(declaration_from_text(path, text), text, encoding, False)


def declaration_lock_file(ctx: Context, path: Path) -> Path:
    """The lock file that serialises edits of the declaration at ``path`` (and of its lock):
    in the cache, keyed by the declaration's real path, never beside the user's file."""
    real = os.path.realpath(path)
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return ctx.cache.root / ".locks" / "declarations" / f"{digest}.lock"


def hold_declaration(ctx: Context, path: Path, reporter):
    """``async with hold_declaration(…):`` the read-modify-write of a declaration and its lock."""
    from pyx_server.engine.locks import hold

    return hold(declaration_lock_file(ctx, path), what=f"`{path}`", reporter=reporter, wait=ctx.wait)


def interpreter(ctx: Context):
    """The interpreter the request asks for (``ctx.python``), else the first on the context's PATH."""
    from pyx_server.engine.envs.interpreter import find_python_on_path, query_interpreter

    request = ctx.python
    if request is not None and (os.sep in request or request.startswith(("~", "."))):
        request = str(ctx.path(request))
    return query_interpreter(find_python_on_path(request, cache=ctx.cache, path_env=ctx.env.get("PATH")), ctx.cache)


def project_venv(ctx: Context, declaration, *, create: bool = True):
    """The project's ``.venv`` (created when missing and ``create``; else None when missing);
    returns ``(environment, created)``."""
    from pyx_server.engine.envs.environment import open_venv

    root = declaration.path.parent / ".venv"
    if (root / "pyvenv.cfg").is_file():
        return open_venv(root, cache=ctx.cache), False
    if not create:
        return None, False
    from pyx_server.engine.envs.venv import create_venv

    return create_venv(root, interpreter(ctx), cache=ctx.cache), True


def declaration_edit(current: Current, new_text: str):
    """The ``FileEdit`` giving the declaration ``new_text``, saved in its own encoding."""
    from pyx_server.engine.edits import FileEdit

    path = current.declaration.path
    if current.encoding == "utf-8":
        return FileEdit.of_text(path, new_text, current.text)
    from pyx_server.engine.inline.files import encode

    return FileEdit(path, new_text, encode(path, new_text, current.encoding), current.text)


def combine(current: Current, edits: list):
    """One edit per file: a notebook whose lock lives inside it gets one edit holding both its
    new declaration and its lock, saved in its own encoding."""
    from pyx_server.engine.edits import FileEdit

    path = current.declaration.path
    out = []
    decl_text = None
    for edit in edits:
        if edit.path == path:
            decl_text = edit.new_text
        else:
            out.append(edit)
    if decl_text is not None and decl_text != current.text:
        out.insert(0, declaration_edit(current, decl_text))
    return [e for e in out if e.changes if isinstance(e, FileEdit)]


async def stored_environment(ctx: Context, declaration, interpreter, reporter, *, with_requirements=(),
                             locked: bool = False, frozen: bool = False):
    """The environment-store environment of a script or notebook. Reading its lock and building
    the environment take no lock on the file (the environment is keyed by its content); when
    the lock must be written first (missing or stale), that happens under the declaration's
    lock, so it never races an ``add``."""
    from pyx_server.engine.declared import script_environment
    from pyx_server.engine.declared.locking import NeedsRelock

    options = dict(index=ctx.index_settings(), cache=ctx.cache, with_requirements=with_requirements, locked=locked,
                   frozen=frozen, reporter=reporter, store=ctx.data_dir(), wait=ctx.wait)
    try:
        return await script_environment(declaration, interpreter, relock=False, **options)
    except NeedsRelock:
        pass
    from pyx_server.engine.declared import read_declaration

    async with hold_declaration(ctx, declaration.path, reporter):
        declaration = read_declaration(declaration.path)  # as it is now that edits wait
        return await script_environment(declaration, interpreter, **options)
