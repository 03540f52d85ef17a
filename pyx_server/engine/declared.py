"""Environments for what a script, a notebook or a project declares: lock, sync, run.

A ``Declaration`` is read from a PEP 723 block (script or notebook, ``engine.inline``) or from
``pyproject.toml`` (``engine.project``): requirements, ``requires-python``, the lock beside it
(``pylock.toml`` / ``pylock.<name>.toml``, ``engine.lock``) and the extra indexes named in
``[[tool.uv.index]]``. On top of it:

* ``lock``    resolves the declaration and writes its PEP 751 lock;
* ``pins``    what a lock says to install on an interpreter (``--locked`` refuses a stale
              lock, ``--frozen`` takes it as it is, otherwise a stale lock is rewritten);
* ``script_environment``  the environment-store environment for a script or notebook
              (complete environments are reused without resolving);
* ``project_sync``        the project's own ``.venv``, synced exactly.

Known limit: ``[tool.uv.sources]`` pinning a package to one named index is read but not yet
applied (every declared index is searched); the GPU-variant issue brings per-package indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.specifiers import SpecifierSet

from pyx_server.engine.cache import Cache
from pyx_server.engine.config import IndexSettings
from pyx_server.engine.errors import Hint, Location, LockFileError, ProjectNotFound, PyxError, PythonNotAllowed, StaleLock, UnknownIndex
from pyx_server.engine.progress import Reporter
from pyx_server.engine.requirements import RequirementSpec, parse_requirement


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
    if cache is not None and path.suffix in (".py", ".ipynb", ".pyw"):
        memo = _declaration_memo(path, cache)
        if memo is not None:
            found = memo.load()
            if isinstance(found, Declaration):
                return found
            declaration = _read_declaration(path)
            memo.store(declaration)
            return declaration
    return _read_declaration(path)


def _read_declaration(path: Path) -> Declaration:
    from pyx_server.engine.lock import lock_path_for

    if path.suffix in (".py", ".ipynb", ".pyw") and path.is_file():
        from pyx_server.engine.inline import read_metadata

        meta = read_metadata(path)
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
    from pyx_server.engine.project.pyproject import find_project, requirements_of

    project = find_project(path if path.is_dir() else path.parent)
    if project is None:
        raise ProjectNotFound(
            f"no `pyproject.toml` with a `[project]` table in `{path}` or its parents",
            hints=["create one with `pyx init`, or name a script: `pyx run script.py`"],
        )
    source = f"{project.path}"
    reqs = tuple(parse_requirement(r, source=source, base_dir=project.root) for r in requirements_of(project))
    indexes = tuple(i.url for i in project.uv_indexes if not getattr(i, "explicit", False))
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


def read_current_lock(declaration: Declaration, cache: Cache | None = None):
    """The declaration's lock: inside the notebook (``metadata.pyx.pylock``), else the file beside it.

    With ``cache``, a lock read before is not parsed again.
    """
    from pyx_server.engine.lock import loads_lock, read_lock

    if declaration.kind == "notebook":
        from pyx_server.engine.inline.nbmeta import read_lock_text

        text = read_lock_text(declaration.path)
        if text is not None:
            try:
                return loads_lock(text, source=str(declaration.path), cache=cache)
            except LockFileError as error:
                # the lock's lines are not the notebook's: point at the notebook, name the key
                error.message = f"the lock kept in `metadata.pyx.pylock`: {error.message}"
                error.args = (error.message,)
                error.location = Location(str(declaration.path))
                raise
    if declaration.lock_path.is_file():
        return read_lock(declaration.lock_path, cache=cache)
    return None


def has_lock(declaration: Declaration) -> bool:
    if declaration.lock_path.is_file():
        return True
    if declaration.kind == "notebook":
        from pyx_server.engine.inline.nbmeta import read_lock_text

        return read_lock_text(declaration.path) is not None
    return False


def write_current_lock(declaration: Declaration, locked) -> str:
    """Store the lock where it reproduces best; returns where (for messages).

    A notebook keeps it in its own metadata, so the notebook alone is enough to reproduce its
    environment; when its JSON layout cannot be rewritten faithfully, the lock goes beside it.
    Scripts and projects get ``pylock.<name>.toml`` / ``pylock.toml``.
    """
    from pyx_server.engine.lock import dumps_lock, write_lock

    if declaration.kind == "notebook":
        from pyx_server.engine.inline.nbmeta import write_lock_text

        if write_lock_text(declaration.path, dumps_lock(locked)):
            if declaration.lock_path.is_file():
                declaration.lock_path.unlink()  # one lock, in one place
            return f"{declaration.path.name} (metadata.pyx.pylock)"
    write_lock(locked, declaration.lock_path)
    return str(declaration.lock_path)


def index_for(declaration: Declaration, base: IndexSettings) -> IndexSettings:
    """The command's index settings plus the declaration's own indexes (asked first, as uv)."""
    extra = tuple(u for u in declaration.indexes if u not in base.indexes)
    settings = replace(base, indexes=extra + base.indexes) if extra else base
    if declaration.pinned:
        settings = replace(settings, pinned=tuple(sorted({**dict(base.pinned), **dict(declaration.pinned)}.items())))
    return settings


def check_python(declaration: Declaration, interpreter) -> None:
    """Refuse an interpreter outside the declared ``requires-python``."""
    if declaration.requires_python and interpreter.python_version not in SpecifierSet(declaration.requires_python):
        raise PythonNotAllowed(
            f"{declaration.label} requires Python `{declaration.requires_python}`, "
            f"but the interpreter is Python {interpreter.python_version}",
            hints=["choose another interpreter with `--python`"],
        )


async def lock(
    declaration: Declaration,
    interpreter,
    *,
    index: IndexSettings,
    cache: Cache,
    reporter: Reporter | None = None,
    upgrade: bool = False,
):
    """Resolve the declaration and write its lock; returns ``(Lock, path)``."""
    from pyx_server.engine.install.builds import BuildSupport
    from pyx_server.engine.lock import lock_from_resolution
    from pyx_server.engine.index.resolve import ResolveOptions, resolve_requirements

    check_python(declaration, interpreter)
    preferences = {}
    if not upgrade:
        try:
            current = read_current_lock(declaration)
        except PyxError:
            current = None
        if current is not None:
            preferences = {p.name: p.version for p in current.packages if p.version is not None}
    settings = index_for(declaration, index)
    build = BuildSupport(settings, cache, interpreter, reporter)
    result = await resolve_requirements(
        list(declaration.requirements),
        interpreter,
        index=settings,
        cache=cache,
        options=ResolveOptions(upgrade=upgrade),
        preferences=preferences,
        reporter=reporter,
        sdist_metadata=build.metadata,
    )
    locked = lock_from_resolution(
        result,
        requires_python=declaration.requires_python,
        requirements=declaration.requirements,
        lock_dir=declaration.lock_path.parent,
        editable=[r.name for r in declaration.requirements if r.editable],
    )
    where = write_current_lock(declaration, locked)
    return locked, where


async def pins(
    declaration: Declaration,
    interpreter,
    *,
    index: IndexSettings,
    cache: Cache,
    locked: bool = False,
    frozen: bool = False,
    reporter: Reporter | None = None,
    relock_missing: bool = True,
) -> tuple[list[RequirementSpec], dict] | None:
    """The exact requirements (and their files) the lock gives for ``interpreter``.

    None when there is no lock and ``relock_missing`` is false. A stale lock is an error with
    ``locked``, used as is with ``frozen``, and rewritten otherwise.
    """
    path = declaration.lock_path
    memo = _pins_memo(declaration, interpreter, frozen, cache)
    if memo is not None:
        found = memo.load()
        if found is not None:
            return found
    from pyx_server.engine.lock import is_stale, select_for_environment, to_dist_file

    current = read_current_lock(declaration, cache)
    if current is None:
        if locked or frozen:
            raise StaleLock(
                f"{declaration.label} has no lock, and `--{'locked' if locked else 'frozen'}` needs one",
                hints=[Hint("create it with `pyx lock`", "lock")],
            )
        if not relock_missing:
            return None
        current, _ = await lock(declaration, interpreter, index=index, cache=cache, reporter=reporter)
    else:
        if not frozen:
            reason = is_stale(current, declaration.requirements, declaration.requires_python,
                              marker_environment=interpreter.markers)
            if reason is not None:
                if locked:
                    raise StaleLock(
                        f"the lock of {declaration.label} is out of date: {reason}",
                        hints=[Hint("run `pyx lock` to update it, or drop `--locked`", "lock")],
                    )
                current, _ = await lock(declaration, interpreter, index=index, cache=cache, reporter=reporter)
    from packaging.requirements import Requirement

    specs: list[RequirementSpec] = []
    files: dict = {}
    for package, file in select_for_environment(current, interpreter.markers, interpreter.tag_priority()):
        hashes = {algo: (digest,) for algo, digest in (file.hashes.items() if file else ())}
        specs.append(RequirementSpec(Requirement(f"{package.name}=={package.version}"), f"{path.name}", hashes))
        if file is not None:
            files[package.name] = to_dist_file(package, file, path.parent)
    if memo is not None:
        memo = _pins_memo(declaration, interpreter, frozen, cache)  # the lock may have been rewritten
        if memo is not None:
            memo.store((specs, files))
    return specs, files


class _Memo:
    """One pickled value in the cache's ``locks-v1`` bucket; unreadable is a miss (see ``lock.read``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self):
        import pickle

        try:
            with open(self.path, "rb") as f:
                return pickle.loads(f.read())
        except Exception:  # noqa: BLE001 - a corrupt or foreign memo is a miss
            return None

    def store(self, value) -> None:
        import pickle

        from pyx_server.engine.cache import atomic_write_bytes

        try:
            atomic_write_bytes(self.path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        except (OSError, pickle.PicklingError, TypeError, AttributeError):
            pass  # only a shortcut


def _pins_memo(declaration: Declaration, interpreter, frozen: bool, cache: Cache | None) -> _Memo | None:
    """Where the pins of this lock for this interpreter are kept, once computed.

    Building an environment from a lock spent 40 ms choosing each package's wheel among
    every platform's (and importing the lock model to do it) before linking a file. The
    answer is a function of the lock's text, the declaration (staleness), the interpreter's
    markers and tags and this code, so it is kept under a key made of all of them.
    """
    if cache is None:
        return None
    import hashlib
    import json

    if declaration.kind == "notebook":
        from pyx_server.engine.inline.nbmeta import read_lock_text

        try:
            text = read_lock_text(declaration.path)
        except (OSError, ValueError):
            text = None
    else:
        text = None
    if text is None:
        try:
            text = declaration.lock_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    key = json.dumps({
        "lock": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "lock_path": str(declaration.lock_path),
        "requirements": sorted(str(r.requirement) for r in declaration.requirements),
        "requires_python": declaration.requires_python,
        "frozen": frozen,
        "markers": interpreter.markers,
        "tags": hashlib.sha256("\n".join(interpreter.tags).encode()).hexdigest(),
        "code": _code_digest(),
    }, sort_keys=True)
    from pyx_server.engine.cache import Bucket

    name = hashlib.sha256(key.encode()).hexdigest()[:32]
    return _Memo(cache.root / Bucket.LOCKS.value / f"pins-{name}.pickle")


def _declaration_memo(path: Path, cache: Cache) -> _Memo | None:
    """Where the declaration of the script or notebook ``path`` is kept, keyed by its size and
    mtime and by the code that reads it; None when it cannot be looked at."""
    import hashlib

    try:
        stat = path.stat()
    except OSError:
        return None
    from pyx_server.engine.cache import Bucket

    key = f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0{_code_digest()}"
    name = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return _Memo(cache.root / Bucket.LOCKS.value / f"declaration-{name}.pickle")


_CODE: list[str] = []


def _code_digest() -> str:
    """A digest of the modules whose objects a memo holds or whose choices it records (pins:
    the lock's selection; declarations: the inline-metadata reader)."""
    if not _CODE:
        import hashlib

        from pyx_server.engine import requirements

        from pyx_server.engine.index import simple

        digest = hashlib.sha256()
        engine = Path(__file__).parent
        lock_dir = engine / "lock"
        inline = [engine / "inline" / f"{name}.py" for name in ("block", "document", "files", "model", "notebook")]
        for module_file in (__file__, requirements.__file__, simple.__file__, lock_dir / "select.py", lock_dir / "model.py",
                            *inline):
            with open(module_file, "rb") as f:
                digest.update(f.read())
        _CODE.append(digest.hexdigest()[:16])
    return _CODE[0]


def _script_key_parts(declaration: Declaration, settings: IndexSettings, with_requirements, locked_pins):
    requirements = list(declaration.requirements) + list(with_requirements)
    return requirements, _key_extra(settings), locked_pins


def _key_extra(settings: IndexSettings) -> dict:
    """What, beyond the requirements, decides a stored environment: which indexes serve it."""
    return {"indexes": list(settings.indexes), "pinned": [[name, list(urls)] for name, urls in settings.pinned]}


def existing_script_environment(
    declaration: Declaration, interpreter, *, index: IndexSettings, store: Path | None = None
) -> Path | None:
    """The complete stored environment of an unlocked script, if there is one: no resolution,
    no event loop, no network (what makes ``pyx run`` instant when nothing changed)."""
    from pyx_server.engine.envs.store import MARKER, environment_root

    if has_lock(declaration):
        return None
    settings = index_for(declaration, index)
    requirements, extra, _ = _script_key_parts(declaration, settings, (), None)
    root = environment_root(requirements, interpreter, requires_python=declaration.requires_python,
                            extra_key=extra, locked=False, store=store)
    marker = root / MARKER
    if not marker.is_file():
        return None
    try:
        import os

        os.utime(marker)
    except OSError:
        pass
    return root


def run_inputs(declaration: Declaration, interpreter, cwd: Path | None = None) -> list[Path]:
    """The files whose change can change which environment a script runs in (present or not):
    its lock, pip's configuration, pyenv's version files and the interpreter. The script's
    own metadata is compared separately; see ``runstamp``."""
    from pyx_server.engine.config import pip_config_candidates
    from pyx_server.engine.envs.interpreter import discovery_files

    interpreters = {Path(interpreter.sys_executable), Path(interpreter.executable)}
    return [declaration.lock_path, *pip_config_candidates(), *discovery_files(cwd), *sorted(interpreters)]


async def script_environment(
    declaration: Declaration,
    interpreter,
    *,
    index: IndexSettings,
    cache: Cache,
    with_requirements: Sequence[RequirementSpec] = (),
    locked: bool = False,
    frozen: bool = False,
    reporter: Reporter | None = None,
):
    """The stored environment for a script or notebook (``envstore.StoredEnvironment``)."""
    from pyx_server.engine.envs.store import ensure_environment

    check_python(declaration, interpreter)
    settings = index_for(declaration, index)
    requirements = list(declaration.requirements) + list(with_requirements)
    locked_pins = None
    if has_lock(declaration) or locked or frozen:
        found = await pins(declaration, interpreter, index=settings, cache=cache, locked=locked, frozen=frozen,
                           reporter=reporter)
        if found is not None:
            locked_pins = found[0] + list(with_requirements)
    return await ensure_environment(
        requirements,
        interpreter,
        index=settings,
        cache=cache,
        requires_python=declaration.requires_python,
        pins=locked_pins,
        extra_key=_key_extra(settings),
        reporter=reporter,
    )


async def project_sync(
    declaration: Declaration,
    env,
    *,
    index: IndexSettings,
    cache: Cache,
    locked: bool = False,
    frozen: bool = False,
    reporter: Reporter | None = None,
):
    """Make the project's environment match its lock exactly (locking first when needed)."""
    from pyx_server.engine.install.operations import InstallOptions, install

    check_python(declaration, env.interpreter)
    settings = index_for(declaration, index)
    specs, files = await pins(declaration, env.interpreter, index=settings, cache=cache, locked=locked,
                              frozen=frozen, reporter=reporter)
    own = project_itself(declaration)
    if own is not None:
        specs = [s for s in specs if s.name != own.name] + [own]
    options = InstallOptions(exact=True)
    return await install(specs, env, index=settings, cache=cache, options=options, reporter=reporter, files=files)


def project_itself(declaration: Declaration) -> RequirementSpec | None:
    """The project as an editable requirement, when it is a package (as ``uv sync`` installs it).

    A project is a package when its ``pyproject.toml`` has a ``[build-system]`` table and
    ``tool.uv.package`` is not false (``uv init --bare`` writes neither: a virtual project).
    """
    project = declaration.project
    if project is None or getattr(project, "is_virtual", True) or project.name is None:
        return None
    if getattr(project, "tool_uv", {}).get("package") is False:
        return None
    from pyx_server.engine.build.source import load_toml

    try:
        data = load_toml(declaration.path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - the project was read already; no build table means no package
        return None
    if not isinstance(data.get("build-system"), dict) and project.tool_uv.get("package") is not True:
        return None
    from packaging.requirements import Requirement

    root = declaration.path.parent
    return RequirementSpec(Requirement(f"{project.name} @ {root.as_uri()}"), str(declaration.path), {}, root,
                           editable=True)


async def route_gpu_packages(
    declaration: Declaration,
    requirements: Sequence[str],
    *,
    cache: Cache,
    torch_backend: str | None = None,
    readers=None,
    env=None,
    tags: Sequence[str] | None = None,
    reporter: Reporter | None = None,
):
    """Record where the PyTorch family comes from for this machine, before it is locked.

    Detects the accelerator (with the GPUs' compute capabilities), chooses the variant — the
    newest this machine runs among those the variant index offers for the newest version of the
    first family member, judged by the index's PEP 825 variant metadata where it has some — and
    writes uv's ``[[tool.uv.index]]`` + ``[tool.uv.sources]`` entries into the script, notebook
    or project, so ``uv run`` installs the same build. ``tags`` are the target interpreter's
    (default: pyx's own). Returns the ``Choice``, whose ``warnings`` the front shows (None when
    nothing in ``requirements`` is in the family).

    The variant index is ``PYX_TORCH_INDEX_URL``, else the one the file already routes the
    family to; without either nothing can be routed: ``TorchIndexNotConfigured`` says what to set.
    """
    from packaging.requirements import Requirement

    from pyx_server.engine.gpu import choose_variant, detect, is_torch_family, torch_index_base, torch_routing
    from pyx_server.engine.gpu.listing import choose_from_listing, discover_variants, list_variants

    family = [r for r in requirements if is_torch_family(Requirement(r).name)]
    if not family:
        return None
    recorded = [url for name, urls in declaration.pinned if is_torch_family(name) for url in urls]
    base = torch_index_base(env, recorded)
    from pyx_server.engine.loop import to_thread

    accelerator = await to_thread(lambda: detect(readers, torch_backend=torch_backend))
    requirement = Requirement(family[0])
    pinned = [s.version for s in requirement.specifier if s.operator in ("==", "===") and "*" not in s.version]
    try:
        infos = await list_variants(requirement.name, pinned[0] if pinned else None, accelerator, base_url=base,
                                    cache=cache, tags=tags, env=env, reporter=reporter)
        choice = choose_from_listing(accelerator, infos)
    except PyxError:
        try:  # the package's pages could not be read: which variants exist is still worth knowing
            offered = await discover_variants(base, cache, env=env)
        except PyxError:
            offered = None  # the table alone decides; the lock step will say if the index lacks it
        choice = choose_variant(accelerator, offered)
    routing = torch_routing(accelerator, choice, family, base_url=base, env=env)
    if not routing:
        return choice
    index_entry = routing["index"][0]
    if declaration.kind == "project":
        from pyx_server.engine.project.pyproject import UvIndex, UvSource, add_uv_index, set_uv_source

        add_uv_index(declaration.path, UvIndex(url=index_entry["url"], name=index_entry["name"], explicit=True))
        for name, source in routing["sources"].items():
            set_uv_source(declaration.path, name, UvSource(index=source["index"], marker=source.get("marker")))
    else:
        from pyx_server.engine.inline import read_metadata, set_tool_table

        meta = read_metadata(declaration.path)
        existing = list(meta.uv.get("index", [])) if meta is not None else []
        # a new choice replaces the previous variant index (pyx names them all `pytorch-…`)
        indexes = [dict(i) for i in existing if not str(i.get("name", "")).startswith("pytorch-")]
        indexes = [index_entry, *indexes]
        set_tool_table(declaration.path, "uv.index", indexes)
        sources = dict(meta.uv.get("sources", {})) if meta is not None else {}
        sources.update(routing["sources"])
        set_tool_table(declaration.path, "uv.sources", sources)
    return choice
