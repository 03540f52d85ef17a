"""Source distributions and build backends for the build tests, and an installer for build environments.

``make_sdist`` writes a ``.tar.gz`` (or ``.zip``) of one ``{name}-{version}/`` directory from a
dict of files; ``raw_members`` adds tar members as given (``../evil``, links) to make archives
that must be refused. The project helpers return such dicts:

* ``setuptools_project`` / ``hatchling_project``: real backends (their wheels come from
  ``tests/.wheels``, which ``scripts/test`` fills once with pip);
* ``legacy_project``: only a ``setup.py`` (no ``pyproject.toml``: PEP 517's default applies);
* ``mini_project``: an in-tree backend (``backend-path``) written with the standard library
  only, configured by a ``mini.json`` next to it: which hooks exist, what
  ``get_requires_for_build_wheel`` answers, whether it fails (after printing numbered lines).

``WheelhouseInstaller`` is the ``BuildEnvInstaller`` of the tests: resolution is not wired
into operations yet, so it takes the one version of each name present in a wheel directory,
follows their ``Requires-Dist`` (markers evaluated for the environment's interpreter) and
installs the pins with ``operations.install`` from a local index.
"""

from __future__ import annotations

import io
import json
import tarfile
import textwrap
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.metadata import Metadata
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from tests.support.wheels import dist_name

WHEELHOUSE = Path(__file__).resolve().parent.parent / ".wheels"
_MTIME = 1704067200


def make_sdist(
    directory: Path,
    name: str,
    version: str,
    files: Mapping[str, str | bytes],
    *,
    fmt: str = "tar.gz",
    raw_members: Sequence[tarfile.TarInfo | tuple[str, bytes]] = (),
    top: str | None = None,
) -> Path:
    """Write ``<name>-<version>.<fmt>`` holding ``files`` under one top directory."""
    directory.mkdir(parents=True, exist_ok=True)
    base = f"{dist_name(name)}-{version}"
    top = base if top is None else top
    members = {f"{top}/{path}": content.encode() if isinstance(content, str) else content for path, content in files.items()}
    path = directory / f"{base}.{fmt}"
    if fmt == "zip":
        with zipfile.ZipFile(path, "w") as zf:
            for member, content in members.items():
                zf.writestr(member, content)
            for raw in raw_members:
                assert isinstance(raw, tuple)
                zf.writestr(raw[0], raw[1])
        return path
    with tarfile.open(path, "w:gz") as tf:
        for member, content in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(content)
            info.mtime = _MTIME
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(content))
        for raw in raw_members:
            if isinstance(raw, tarfile.TarInfo):
                tf.addfile(raw)
            else:
                info = tarfile.TarInfo(raw[0])
                info.size = len(raw[1])
                tf.addfile(info, io.BytesIO(raw[1]))
    return path


def symlink_member(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


def _module(name: str, version: str) -> dict[str, str]:
    return {f"src/{dist_name(name)}/__init__.py": f'__version__ = "{version}"\n'}


def _dependencies(requires_dist: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(r) for r in requires_dist) + "]"


def setuptools_project(name: str, version: str, *, requires_dist: Sequence[str] = ()) -> dict[str, str]:
    """A ``pyproject.toml`` project built by ``setuptools.build_meta`` (src layout)."""
    pyproject = f"""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name}"
        version = "{version}"
        dependencies = {_dependencies(requires_dist)}

        [tool.setuptools.packages.find]
        where = ["src"]
        """
    return {"pyproject.toml": textwrap.dedent(pyproject), **_module(name, version)}


def hatchling_project(name: str, version: str, *, requires_dist: Sequence[str] = ()) -> dict[str, str]:
    """A ``pyproject.toml`` project built by ``hatchling.build`` (src layout)."""
    pyproject = f"""\
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "{name}"
        version = "{version}"
        requires-python = ">=3.8"
        dependencies = {_dependencies(requires_dist)}

        [tool.hatch.build.targets.wheel]
        packages = ["src/{dist_name(name)}"]
        """
    return {"pyproject.toml": textwrap.dedent(pyproject), **_module(name, version)}


def legacy_project(name: str, version: str, *, requires_dist: Sequence[str] = ()) -> dict[str, str]:
    """Only ``setup.py``: no ``pyproject.toml``, so PEP 517/518's setuptools default applies."""
    setup = f"""\
        from setuptools import setup
        setup(
            name="{name}",
            version="{version}",
            install_requires={list(requires_dist)!r},
            packages=["{dist_name(name)}"],
            package_dir={{"": "src"}},
        )
        """
    return {"setup.py": textwrap.dedent(setup), **_module(name, version)}


_MINI_BACKEND = '''\
"""A PEP 517 backend made of the standard library only, configured by mini.json."""
import base64, hashlib, json, os, sys, zipfile

CONFIG = json.load(open("mini.json"))
NAME, VERSION = CONFIG["name"], CONFIG["version"]
BASE = NAME.replace("-", "_")


def _metadata():
    lines = ["Metadata-Version: 2.1", "Name: " + NAME, "Version: " + VERSION]
    lines += ["Requires-Dist: " + r for r in CONFIG.get("requires_dist", [])]
    if CONFIG.get("record_env"):
        keys = sorted(k for k in os.environ if k.startswith(("PIP_", "PYX_", "PYTHON", "VIRTUAL_ENV")))
        lines.append("Summary: " + " ".join(k + "=" + os.environ[k] for k in keys if "PATH" not in k))
    return "\\n".join(lines) + "\\n\\n"


def _fail_if_asked(hook):
    if CONFIG.get("fail") == hook:
        for i in range(CONFIG.get("noise", 0)):
            print("noise line %d" % i)
        print("about to fail", file=sys.stderr)
        raise RuntimeError("mini backend failed on purpose in " + hook)


def get_requires_for_build_wheel(config_settings=None):
    _fail_if_asked("get_requires_for_build_wheel")
    return CONFIG.get("get_requires", [])


def _write_dist_info(directory):
    dist_info = os.path.join(directory, "%s-%s.dist-info" % (BASE, VERSION))
    os.makedirs(dist_info, exist_ok=True)
    with open(os.path.join(dist_info, "METADATA"), "w") as f:
        f.write(_metadata())
    return os.path.basename(dist_info)


if CONFIG.get("prepare", True):
    def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
        _fail_if_asked("prepare_metadata_for_build_wheel")
        return _write_dist_info(metadata_directory)


def _record(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _wheel(wheel_directory, tag="py3-none-any", editable=False):
    dist_info = "%s-%s.dist-info" % (BASE, VERSION)
    members = {
        BASE + ("_editable.pth" if editable else "/__init__.py"):
            (os.getcwd() + "\\n" if editable else "__version__ = %r\\n" % VERSION).encode(),
        dist_info + "/METADATA": _metadata().encode(),
        dist_info + "/WHEEL": ("Wheel-Version: 1.0\\nGenerator: mini\\nRoot-Is-Purelib: true\\nTag: %s\\n" % tag).encode(),
    }
    record = "".join("%s,%s,%d\\n" % (p, _record(d), len(d)) for p, d in members.items()) + dist_info + "/RECORD,,\\n"
    members[dist_info + "/RECORD"] = record.encode()
    filename = "%s-%s-%s.whl" % (BASE, VERSION, tag)
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as zf:
        for path, data in members.items():
            zf.writestr(path, data)
    return filename


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _fail_if_asked("build_wheel")
    return _wheel(wheel_directory, CONFIG.get("tag", "py3-none-any"))


if CONFIG.get("editable", True):
    def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
        _fail_if_asked("build_editable")
        return _wheel(wheel_directory, editable=True)


def build_sdist(sdist_directory, config_settings=None):
    raise NotImplementedError
'''


def mini_project(
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    requires_dist: Sequence[str] = (),
    get_requires: Sequence[str] = (),
    prepare: bool = True,
    editable: bool = True,
    fail: str | None = None,
    noise: int = 0,
    tag: str = "py3-none-any",
    record_env: bool = False,
    pkg_info: str | None = None,
) -> dict[str, str]:
    """A project whose backend lives in the tree (``backend-path = ["_backend"]``); see the module docstring."""
    config = {
        "name": name,
        "version": version,
        "requires_dist": list(requires_dist),
        "get_requires": list(get_requires),
        "prepare": prepare,
        "editable": editable,
        "fail": fail,
        "noise": noise,
        "tag": tag,
        "record_env": record_env,
    }
    pyproject = (
        "[build-system]\n"
        f"requires = {_dependencies(requires)}\n"
        'build-backend = "mini_backend"\n'
        'backend-path = ["_backend"]\n'
    )
    files = {"pyproject.toml": pyproject, "mini.json": json.dumps(config), "_backend/mini_backend.py": _MINI_BACKEND}
    if pkg_info is not None:
        files["PKG-INFO"] = pkg_info
    return files


def write_tree(directory: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write ``files`` into ``directory`` (a source tree); return it."""
    for path, content in files.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    return directory


# -- the build environments' installer --------------------------------------------------------------


def wheelhouse(directory: Path = WHEELHOUSE) -> dict[NormalizedName, Path]:
    """The newest wheel of each name in ``directory``."""
    found: dict[NormalizedName, tuple[Version, Path]] = {}
    for path in sorted(directory.glob("*.whl")):
        name, version, _, _ = parse_wheel_filename(path.name)
        if name not in found or version > found[name][0]:
            found[name] = (version, path)
    return {name: path for name, (version, path) in found.items()}


def _wheel_metadata(path: Path) -> Metadata:
    with zipfile.ZipFile(path) as zf:
        member = next(n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        return Metadata.from_email(zf.read(member), validate=False)


class WheelhouseInstaller:
    """A ``BuildEnvInstaller`` that pins the one version of each needed name found in ``wheels``."""

    def __init__(self, wheels: Mapping[NormalizedName, Path], index_url: str, cache) -> None:
        self.wheels = dict(wheels)
        self.index_url = index_url
        self.cache = cache
        #: every call: (environment root, requirements asked)
        self.calls: list[tuple[Path, list[str]]] = []

    def pins(self, requirements: Sequence[str], markers: Mapping[str, str]) -> list[str]:
        """``name==version`` for the requirements and everything they require, transitively."""
        pinned: dict[NormalizedName, str] = {}
        todo = [Requirement(r) for r in requirements]
        while todo:
            requirement = todo.pop()
            if requirement.marker is not None and not requirement.marker.evaluate({**markers, "extra": ""}):
                continue
            name = canonicalize_name(requirement.name)
            if name in pinned:
                continue
            path = self.wheels.get(name)
            if path is None:
                raise LookupError(f"no wheel for {requirement} in the wheelhouse")
            metadata = _wheel_metadata(path)
            if not requirement.specifier.contains(metadata.version, prereleases=True):
                raise LookupError(f"{path.name} does not satisfy {requirement}")
            pinned[name] = str(metadata.version)
            todo.extend(metadata.requires_dist or [])
        return [f"{name}=={version}" for name, version in sorted(pinned.items())]

    async def __call__(self, env, requirements: Sequence[str]) -> None:
        from pyx_server.engine.config import IndexSettings
        from pyx_server.engine.install.operations import install
        from pyx_server.engine.requirements import parse_requirement

        self.calls.append((Path(env.root), list(requirements)))
        specs = [parse_requirement(p, source="build requirements") for p in self.pins(requirements, env.interpreter.markers)]
        await install(specs, env, index=IndexSettings(indexes=(self.index_url,), find_links=()), cache=self.cache)
