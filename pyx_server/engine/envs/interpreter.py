"""Facts about a target interpreter (version, tags, markers, scheme), learned once and cached.

pyx installs into interpreters other than the one it runs on, so everything that depends on
the target (supported wheel tags, the PEP 508 marker environment, the install scheme) is
asked of the target itself: it runs one small script, with no third-party import but
``packaging``. pyx lends the target its own copy of ``packaging``, loaded by file location
rather than by putting pyx's site-packages on the child's ``sys.path`` (so nothing else of
pyx's can shadow the target's modules), which also means tags and markers are computed by
the same ``packaging`` that later matches them. Only when that copy cannot run on the target
(a Python older than it supports) does the child fall back to a ``packaging`` of its own, else
to the one vendored in its pip, else in the pip wheel its ``ensurepip`` bundles: every
CPython carries a ``packaging`` made for it, so old targets need nothing installed.

The answer is cached in ``interpreter-v1/`` under a key made of the path as given, the path
it resolves to, that file's mtime and size, and pyx's ``packaging`` version: upgrading the
interpreter in place changes the key, and a cached query reads one small JSON file and
spawns nothing (the CLI's no-op fast path depends on it). Wrapper scripts that pick an
interpreter at run time (pyenv shims) are not cached under their own path, since their
answer depends on the working directory; the real executable they led to is.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import packaging
from packaging.markers import Marker
from packaging.tags import Tag, parse_tag
from packaging.version import Version

from pyx_server.engine.cache import Bucket, Cache, atomic_write_json, digest, read_json
from pyx_server.engine.envs.discovery import (  # noqa: F401 - re-exported: callers import them from here
    VersionRequest,
    discovery_files,
    find_python_on_path,
    parse_version_request,
)
from pyx_server.engine.errors import Hint, InterpreterError
from pyx_server.engine.install.scheme import Scheme

#: bump when the shape of a cached answer changes (the bucket itself is ``interpreter-v1``)
_FORMAT = 1
_MARKER = "--pyx-interpreter-info--"
_QUERY_TIMEOUT = 60.0
_PLACEHOLDER = "/__pyx_venv_root__"

# Runs inside the target interpreter: keep it compatible with old Pythons (no f-strings with
# ``=``, no walrus, no ``match``) and free of third-party imports other than packaging.
_QUERY_SCRIPT = r"""
import json, os, struct, sys, sysconfig

def _load_packaging(directory):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "packaging", os.path.join(directory, "__init__.py"),
        submodule_search_locations=[directory])
    module = importlib.util.module_from_spec(spec)
    sys.modules["packaging"] = module
    try:
        spec.loader.exec_module(module)
        import packaging.tags, packaging.markers
        return "pyx"
    except Exception:
        for name in list(sys.modules):
            if name == "packaging" or name.startswith("packaging."):
                del sys.modules[name]
    import packaging.tags, packaging.markers
    return "target"

def _pip_packaging():
    # pip's vendored packaging: of an installed pip, else of the pip wheel ensurepip bundles.
    # Every CPython carries a pip (and in it a packaging) made for that Python, so a target
    # older than pyx's packaging supports (3.9 and 3.8 for packaging 26) still answers.
    try:
        from pip._vendor.packaging import markers, tags
        return "pip", markers, tags
    except Exception:
        pass
    import glob
    try:
        import ensurepip
    except Exception:
        raise SystemExit("no packaging for this Python: neither pip nor ensurepip is present")
    bundled = sorted(glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl")))
    for wheel in reversed(bundled):
        sys.path.insert(0, wheel)
        for name in list(sys.modules):
            if name == "pip" or name.startswith("pip."):
                del sys.modules[name]
        try:
            from pip._vendor.packaging import markers, tags
            return "ensurepip", markers, tags
        except Exception:
            sys.path.remove(wheel)
    raise SystemExit("no packaging for this Python: pyx's, the target's and pip's all failed to load")

try:
    source = _load_packaging(sys.argv[1])
    import packaging
    from packaging import markers, tags
    packaging_version = packaging.__version__
except Exception:
    for name in list(sys.modules):
        if name == "packaging" or name.startswith("packaging."):
            del sys.modules[name]
    source, markers, tags = _pip_packaging()
    packaging_version = getattr(sys.modules.get(markers.__name__.rpartition(".")[0]), "__version__", "unknown")

prefix = sys.prefix
base_prefix = getattr(sys, "base_prefix", sys.prefix)
is_venv = prefix != base_prefix

def _inside(path, root):
    try:
        return os.path.commonpath([os.path.abspath(path), os.path.abspath(root)]) == os.path.abspath(root)
    except ValueError:
        return False

def _venv_cfg():
    cfg = {}
    try:
        with open(os.path.join(prefix, "pyvenv.cfg")) as f:
            for line in f:
                key, sep, value = line.partition("=")
                if sep:
                    cfg[key.strip().lower()] = value.strip()
    except OSError:
        pass
    return cfg

base_executable = getattr(sys, "_base_executable", None)
if is_venv and (not base_executable or _inside(base_executable, prefix)):
    # Pythons before 3.11 report the venv's own python here: find the base via pyvenv.cfg.
    base_executable = None
    cfg = _venv_cfg()
    if cfg.get("executable") and os.path.isfile(cfg["executable"]):
        base_executable = cfg["executable"]
    elif cfg.get("home"):
        names = ["python%d.%d" % sys.version_info[:2], "python%d" % sys.version_info[0], "python"]
        for name in names:
            candidate = os.path.join(cfg["home"], name)
            if os.path.isfile(candidate):
                base_executable = candidate
                break
elif not is_venv:
    base_executable = sys.executable

if "venv" in sysconfig.get_scheme_names():
    venv_scheme = "venv"
elif os.name == "nt":
    venv_scheme = "nt"
else:
    venv_scheme = "posix_prefix"
placeholder = sys.argv[2]
venv_vars = {"base": placeholder, "platbase": placeholder,
             "installed_base": placeholder, "installed_platbase": placeholder}

info = {
    "sys_executable": sys.executable,
    "sys_prefix": prefix,
    "base_prefix": base_prefix,
    "base_executable": base_executable,
    "version": list(sys.version_info[:3]),
    "implementation": sys.implementation.name,
    "gil_disabled": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "markers": dict(markers.default_environment()),
    "tags": [str(tag) for tag in tags.sys_tags()],
    "paths": sysconfig.get_paths(),
    "venv_paths": sysconfig.get_paths(scheme=venv_scheme, vars=venv_vars),
    "pointer_bits": struct.calcsize("P") * 8,
    "platform": sys.platform,
    "packaging": [source, packaging_version],
}
sys.stdout.write("\n" + sys.argv[3] + json.dumps(info) + "\n")
sys.stdout.flush()
"""


@dataclass(frozen=True)
class Interpreter:
    """What pyx needs to know about a target interpreter; built by ``query_interpreter``."""

    #: as given (in a venv: ``venv/bin/python``, not resolved through symlinks)
    executable: Path
    sys_executable: str
    sys_prefix: Path
    base_prefix: Path
    #: the interpreter a venv made from this one must point at (never another venv)
    base_executable: Path | None
    version: tuple[int, int, int]
    implementation: str
    gil_disabled: bool
    #: the PEP 508 marker environment, as ``packaging.markers.default_environment()`` gives it
    markers: dict[str, str] = field(hash=False, repr=False)
    #: supported wheel tags, best first, as ``packaging.tags.sys_tags()`` orders them
    tags: tuple[str, ...] = field(repr=False)
    scheme: Scheme = field(repr=False)
    #: the install scheme of a venv made from this interpreter, relative to the venv root
    venv_layout: Scheme = field(repr=False, default=Scheme(Path(), Path(), Path(), Path(), Path()))
    pointer_bits: int = 64
    #: ``sys.platform`` of the target
    platform: str = sys.platform

    @property
    def is_venv(self) -> bool:
        """A virtual environment's interpreter (its prefix differs from its base's)."""
        return self.sys_prefix != self.base_prefix

    @property
    def python_version(self) -> Version:
        return Version(".".join(map(str, self.version)))

    @property
    def version_short(self) -> str:
        """``X.Y``, as in ``lib/pythonX.Y`` and ``python3.X``."""
        return f"{self.version[0]}.{self.version[1]}"

    @functools.cached_property
    def _priority(self) -> dict[Tag, int]:
        priority: dict[Tag, int] = {}
        for index, text in enumerate(self.tags):
            # the interpreter reports single tags (``str(Tag)``): build them directly, which
            # is 5x faster than ``parse_tag``; a compressed set (``py2.py3-none-any``) is expanded
            parts = text.split("-")
            if len(parts) == 3 and "." not in text:
                priority.setdefault(Tag(*parts), index)
                continue
            for tag in parse_tag(text):
                priority.setdefault(tag, index)
        return priority

    def tag_priority(self) -> dict[Tag, int]:
        """Each supported tag's rank (lower is better), computed once: picks the best wheel."""
        return self._priority

    def supports(self, tags: Iterable[Tag]) -> int | None:
        """The best rank among ``tags`` (a wheel's expanded tag set), None if none fits."""
        priority = self._priority
        best: int | None = None
        for tag in tags:
            rank = priority.get(tag)
            if rank is not None and (best is None or rank < best):
                best = rank
        return best

    def evaluate_marker(self, marker: Marker | str, extra: str | None = None) -> bool:
        """Whether a PEP 508 marker holds for this interpreter (``extra`` for extras markers)."""
        if isinstance(marker, str):
            marker = Marker(marker)
        environment: dict[str, str] = dict(self.markers)
        if extra is not None:
            environment["extra"] = extra
        return marker.evaluate(environment=environment)  # type: ignore[arg-type]

    def venv_scheme(self, root: Path) -> Scheme:
        """The install scheme of a venv at ``root`` made from this interpreter (headers as pip)."""
        layout = self.venv_layout
        return Scheme(
            purelib=root / layout.purelib,
            platlib=root / layout.platlib,
            scripts=root / layout.scripts,
            data=root / layout.data,
            include=root / "include" / "site" / f"python{self.version_short}",
        )

    def for_venv(self, root: Path, executable: Path) -> Interpreter:
        """The facts of a venv at ``root`` made from this interpreter, without running it.

        Tags and markers are the base's; prefix, executable and scheme are the venv's. This is
        what the venv's own python answers (``tests/test_venv.py`` checks it).
        """
        base = self.base_executable if self.is_venv else Path(self.sys_executable)
        if base is not None:
            # what the venv's python reports: the resolved base (sys._base_executable, or
            # pyvenv.cfg's ``executable`` before 3.11)
            base = Path(os.path.realpath(base))
        return Interpreter(
            executable=executable,
            sys_executable=str(executable),
            sys_prefix=root,
            base_prefix=self.base_prefix,
            base_executable=base,
            version=self.version,
            implementation=self.implementation,
            gil_disabled=self.gil_disabled,
            markers=dict(self.markers),
            tags=self.tags,
            scheme=self.venv_scheme(root),
            venv_layout=self.venv_layout,
            pointer_bits=self.pointer_bits,
            platform=self.platform,
        )

    # -- cache form -------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The cache form (plain JSON types); ``from_json`` reads it back."""

        def scheme(s: Scheme) -> dict[str, str]:
            return {k: str(getattr(s, k)) for k in ("purelib", "platlib", "scripts", "data", "include")}

        return {
            "format": _FORMAT,
            "executable": str(self.executable),
            "sys_executable": self.sys_executable,
            "sys_prefix": str(self.sys_prefix),
            "base_prefix": str(self.base_prefix),
            "base_executable": str(self.base_executable) if self.base_executable else None,
            "version": list(self.version),
            "implementation": self.implementation,
            "gil_disabled": self.gil_disabled,
            "markers": self.markers,
            "tags": list(self.tags),
            "scheme": scheme(self.scheme),
            "venv_layout": scheme(self.venv_layout),
            "pointer_bits": self.pointer_bits,
            "platform": self.platform,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Interpreter:
        """Rebuild from ``to_json``; raises KeyError/TypeError/ValueError on a foreign shape."""
        if data.get("format") != _FORMAT:
            raise ValueError("cache format")

        def scheme(d: Mapping[str, str]) -> Scheme:
            return Scheme(*(Path(d[k]) for k in ("purelib", "platlib", "scripts", "data", "include")))

        major, minor, micro = data["version"]
        return cls(
            executable=Path(data["executable"]),
            sys_executable=data["sys_executable"],
            sys_prefix=Path(data["sys_prefix"]),
            base_prefix=Path(data["base_prefix"]),
            base_executable=Path(data["base_executable"]) if data["base_executable"] else None,
            version=(int(major), int(minor), int(micro)),
            implementation=data["implementation"],
            gil_disabled=bool(data["gil_disabled"]),
            markers=dict(data["markers"]),
            tags=tuple(data["tags"]),
            scheme=scheme(data["scheme"]),
            venv_layout=scheme(data["venv_layout"]),
            pointer_bits=int(data["pointer_bits"]),
            platform=data["platform"],
        )


# -- querying ----------------------------------------------------------------------------------


def _packaging_dir() -> str:
    return os.path.dirname(os.path.abspath(packaging.__file__))


def _absolute(executable: Path | str) -> Path:
    path = Path(os.path.expanduser(str(executable)))
    return path if path.is_absolute() else Path(os.path.abspath(path))


def _cache_key(given: Path) -> tuple[str, Path] | None:
    """The cache key of ``given`` (path, resolved path, mtime, size), None if it isn't a file."""
    try:
        resolved = Path(os.path.realpath(given))
        st = os.stat(resolved)
    except OSError:
        return None
    text = "\0".join(
        (str(given), str(resolved), str(st.st_mtime_ns), str(st.st_size), packaging.__version__)
    )
    return digest(text, 32), resolved


def _cache_path(cache: Cache, key: str) -> Path:
    return cache.root / Bucket.INTERPRETER.value / f"{key}.json"


def query_interpreter(executable: Path | str, cache: Cache) -> Interpreter:
    """Facts about the interpreter at ``executable``: from the cache, else by running it once.

    The cache key changes when the file the path resolves to changes (mtime or size), so an
    upgraded interpreter is asked again. Raises ``InterpreterError`` naming the path, with the
    tail of the child's stderr, when it is missing or does not answer.
    """
    given = _absolute(executable)
    keyed = _cache_key(given)
    if keyed is None:
        raise InterpreterError(
            f"No Python interpreter at `{given}`",
            context={"path": given},
            hints=["Pass the path of a Python executable, or a version such as `3.12`."],
        )
    key, resolved = keyed
    entry = _cache_path(cache, key)
    data = read_json(entry)
    if isinstance(data, dict):
        try:
            return Interpreter.from_json(data)
        except (KeyError, TypeError, ValueError):
            pass  # a foreign or corrupt entry is a miss
    interpreter = _run_query(given)
    real = Path(os.path.realpath(interpreter.sys_executable))
    if real == resolved:
        cache.bucket(Bucket.INTERPRETER)
        atomic_write_json(entry, interpreter.to_json())
    else:
        # a wrapper (pyenv shim): its answer depends on where it runs; cache the real one only
        real_keyed = _cache_key(Path(interpreter.sys_executable))
        if real_keyed is not None:
            cache.bucket(Bucket.INTERPRETER)
            direct = Interpreter.from_json(
                {**interpreter.to_json(), "executable": interpreter.sys_executable}
            )
            atomic_write_json(_cache_path(cache, real_keyed[0]), direct.to_json())
    return interpreter


def seed_interpreter_cache(interpreter: Interpreter, cache: Cache) -> None:
    """Record facts known without running the interpreter (a venv pyx just made) in the cache."""
    keyed = _cache_key(_absolute(interpreter.executable))
    if keyed is not None:
        cache.bucket(Bucket.INTERPRETER)
        atomic_write_json(_cache_path(cache, keyed[0]), interpreter.to_json())


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _run_query(given: Path) -> Interpreter:
    if not os.access(given, os.X_OK) or given.is_dir():
        raise InterpreterError(
            f"`{given}` is not an executable Python interpreter",
            context={"path": given},
        )
    # -I: ignore PYTHON* variables, the user site and the working directory; -B: write no
    # bytecode (not even into pyx's own packaging when lending it).
    command = [str(given), "-I", "-B", "-c", _QUERY_SCRIPT, _packaging_dir(), _PLACEHOLDER, _MARKER]
    try:
        proc = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_QUERY_TIMEOUT,
            env={k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")},
        )
    except OSError as exc:
        raise InterpreterError(
            f"Could not run the interpreter `{given}`: {exc.strerror or exc}",
            context={"path": given},
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise InterpreterError(
            f"The interpreter `{given}` did not answer within {_QUERY_TIMEOUT:.0f} seconds",
            context={"path": given},
        ) from exc
    stdout = proc.stdout.decode("utf-8", "replace")
    stderr = proc.stderr.decode("utf-8", "replace")
    payload = None
    for line in reversed(stdout.splitlines()):
        if line.startswith(_MARKER):
            payload = line[len(_MARKER) :]
            break
    if proc.returncode != 0 or payload is None:
        tail = _tail(stderr) or _tail(stdout)
        if proc.returncode != 0:
            message = f"The interpreter `{given}` failed (exit code {proc.returncode}) when queried"
        else:
            message = f"The interpreter `{given}` gave no answer pyx understands"
        if tail:
            message += _what_it_said(tail)
        raise InterpreterError(
            message,
            context={"path": given, "exit_code": proc.returncode},
            hints=_hints_for(stderr),
            detail=tail or None,
        )
    try:
        raw = json.loads(payload)
        return _from_answer(given, raw)
    except (ValueError, KeyError, TypeError) as exc:
        raise InterpreterError(
            f"The interpreter `{given}` answered with something pyx cannot read",
            context={"path": given},
            detail=_tail(stdout),
        ) from exc


def _what_it_said(tail: str) -> str:
    """What a failed interpreter printed, for the message: a Python traceback's last line (the
    exception; the whole tail is the error's ``detail``), or a wrapper's own message in full.

    A pyenv shim whose version is not active explains itself over several lines and names
    the versions that provide the command; its last line alone ("python2 and python3 to be
    found.") says nothing.
    """
    lines = [line.rstrip() for line in tail.splitlines()]
    if "Traceback (most recent call last):" in tail or len(lines) == 1:
        return f": {lines[-1].strip()}"
    return ":\n" + "\n".join(f"    {line}" if line else "" for line in lines)


def _hints_for(stderr: str) -> list[Hint]:
    if "No module named 'packaging'" in stderr or "packaging" in stderr:
        return [Hint("this Python has no usable `packaging`, nor a pip or ensurepip carrying one: "
                     "install `packaging` into it")]
    if stderr.lstrip().startswith("pyenv:"):
        return [Hint("make one of the versions pyenv names active (`pyenv local <version>` or "
                     "`pyenv shell <version>`), or pass that interpreter's path with `--python`")]
    return []


def _from_answer(given: Path, raw: Mapping[str, Any]) -> Interpreter:
    prefix = Path(raw["sys_prefix"])
    major, minor, micro = raw["version"]
    paths = raw["paths"]
    is_venv = raw["sys_prefix"] != raw["base_prefix"]
    if is_venv:
        # pip's layout for a venv's headers; sysconfig would name the base's include dir
        include = prefix / "include" / "site" / f"python{major}.{minor}"
    else:
        include = Path(paths["include"])
    scheme = Scheme(
        purelib=Path(paths["purelib"]),
        platlib=Path(paths["platlib"]),
        scripts=Path(paths["scripts"]),
        data=Path(paths["data"]),
        include=include,
    )
    venv_paths = raw["venv_paths"]

    def relative(key: str, default: str) -> Path:
        value = venv_paths.get(key, "")
        if value == _PLACEHOLDER:
            return Path()
        if value.startswith(_PLACEHOLDER + "/"):
            return Path(value[len(_PLACEHOLDER) + 1 :])
        return Path(default)

    site = f"lib/python{major}.{minor}{'t' if raw['gil_disabled'] else ''}/site-packages"
    layout = Scheme(
        purelib=relative("purelib", site),
        platlib=relative("platlib", site),
        scripts=relative("scripts", "bin"),
        data=relative("data", ""),
        include=Path("include") / "site" / f"python{major}.{minor}",
    )
    return Interpreter(
        executable=given,
        sys_executable=raw["sys_executable"],
        sys_prefix=prefix,
        base_prefix=Path(raw["base_prefix"]),
        base_executable=Path(raw["base_executable"]) if raw["base_executable"] else None,
        version=(int(major), int(minor), int(micro)),
        implementation=str(raw["implementation"]),
        gil_disabled=bool(raw["gil_disabled"]),
        markers={str(k): str(v) for k, v in raw["markers"].items()},
        tags=tuple(raw["tags"]),
        scheme=scheme,
        venv_layout=layout,
        pointer_bits=int(raw["pointer_bits"]),
        platform=str(raw["platform"]),
    )
