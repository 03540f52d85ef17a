"""Installing unpacked wheels into real venvs, and uninstalling them (ours and pip's) by RECORD."""

from __future__ import annotations

import base64
import compileall
import csv
import errno
import hashlib
import json
import os
import stat
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyx_server.engine.install import installer as installer_mod
from pyx_server.engine.errors import InstallError, InvalidWheel, UninstallError, UnsafeWheel
from pyx_server.engine.install.installer import (
    MAX_SHEBANG,
    environment_root,
    install_wheel,
    replace_wheel,
    script_shebang,
    uninstall,
)
from pyx_server.engine.install.linker import Linker, LinkMode
from pyx_server.engine.progress import CollectingReporter, Notice
from pyx_server.engine.install.scheme import Scheme
from pyx_server.engine.install.wheel import unpack_wheel
from tests.support.wheels import build_wheel

PYVER = f"python{sys.version_info.major}.{sys.version_info.minor}"


@dataclass
class Env:
    root: Path
    scheme: Scheme
    python: str

    @property
    def site(self) -> Path:
        return self.scheme.purelib


def scheme_for(prefix: Path) -> Scheme:
    """The install scheme of a venv at ``prefix``, as sysconfig computes it."""
    names = sysconfig.get_scheme_names()
    name = "venv" if "venv" in names else "posix_prefix"
    base = {k: str(prefix) for k in ("base", "platbase", "installed_base", "installed_platbase")}
    paths = sysconfig.get_paths(scheme=name, vars=base)
    return Scheme(
        purelib=Path(paths["purelib"]),
        platlib=Path(paths["platlib"]),
        scripts=Path(paths["scripts"]),
        data=Path(paths["data"]),
        include=prefix / "include" / "site" / PYVER,
    )


def make_venv(path: Path, *, with_pip: bool = False) -> Env:
    args = [sys.executable, "-m", "venv", str(path)]
    if not with_pip:
        args.insert(3, "--without-pip")
    subprocess.run(args, check=True, capture_output=True)
    return Env(path, scheme_for(path), str(path / "bin" / "python"))


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_venv(tmp_path / "venv")


def unpacked(tmp_path: Path, name: str, version: str, **kwargs) -> Path:
    """Build a wheel and unpack it the way the cache does; returns the unpacked directory."""
    wheel = build_wheel(tmp_path / "wheels" / f"{name}-{version}-{len(kwargs)}", name, version, **kwargs)
    dest = tmp_path / "cache" / "archive-v1" / f"{wheel.stem}-{os.urandom(4).hex()}"
    dest.mkdir(parents=True)
    unpack_wheel(wheel, dest)
    return dest


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its type, mode and content (or link target)."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), Path(p).read_bytes())
    return out


def sha256_record(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def record_rows(dist_info: Path) -> list[list[str]]:
    with open(dist_info / "RECORD", newline="") as f:
        return [row for row in csv.reader(f) if row]


def umasked(mode: int) -> int:
    current = os.umask(0)
    os.umask(current)
    return mode & ~current


RICH = dict(
    files={
        "demo_pkg/__init__.py": (
            "import sys\n"
            "def main():\n"
            "    print('demo main', sys.argv[1:], sys.prefix)\n"
            "    return 3\n"
            "class App:\n"
            "    @staticmethod\n"
            "    def run():\n"
            "        print('app run')\n"
            "def gui():\n"
            "    print('gui up')\n"
        ),
        "demo_pkg/sub/mod.py": "X = 1\n",
    },
    entry_points={
        "console_scripts": {"demo": "demo_pkg:main", "demo-app": "demo_pkg:App.run"},
        "gui_scripts": {"demo-gui": "demo_pkg:gui"},
    },
    data={
        "scripts/plain-script": "#!python\nimport demo_pkg\nprint('plain', demo_pkg.__name__)\n",
        "scripts/windowed": "#!pythonw\nprint('w')\n",
        "scripts/shell-tool": "#!/bin/sh\necho shell tool\n",
        "data/share/demo/readme.txt": "data file\n",
        "headers/demo.h": "int demo;\n",
        "purelib/demo_extra/__init__.py": "EXTRA = 1\n",
        "platlib/demo_native/__init__.py": "NATIVE = 1\n",
    },
)


# -- placement -----------------------------------------------------------------------------------


def test_install_places_files_and_writes_dist_info(tmp_path: Path, env: Env) -> None:
    src = unpacked(tmp_path, "demo-pkg", "1.0", **RICH)
    result = install_wheel(src, env.scheme, python=env.python, linker=Linker())
    assert result.name == "demo-pkg" and result.version == "1.0"
    assert result.dist_info == env.site / "demo_pkg-1.0.dist-info"
    site = env.site
    assert (site / "demo_pkg/__init__.py").read_text().startswith("import sys")
    assert (site / "demo_pkg/sub/mod.py").read_text() == "X = 1\n"
    assert (result.dist_info / "METADATA").is_file() and (result.dist_info / "WHEEL").is_file()
    assert (result.dist_info / "INSTALLER").read_text() == "pyx\n"
    assert (result.dist_info / "REQUESTED").is_file()
    assert not (result.dist_info / "direct_url.json").exists()
    assert result.files == len(record_rows(result.dist_info))


def test_data_directories_go_to_their_scheme_dirs(tmp_path: Path, env: Env) -> None:
    src = unpacked(tmp_path, "demo-pkg", "1.0", **RICH)
    result = install_wheel(src, env.scheme, python=env.python, linker=Linker())
    assert (env.root / "share/demo/readme.txt").read_text() == "data file\n"
    assert (env.root / "include/site" / PYVER / "demo-pkg" / "demo.h").read_text() == "int demo;\n"
    assert (env.scheme.purelib / "demo_extra/__init__.py").is_file()
    assert (env.scheme.platlib / "demo_native/__init__.py").is_file()
    assert (env.root / "bin/shell-tool").is_file()
    assert not (env.site / "demo_pkg-1.0.data").exists()
    paths = {row[0] for row in record_rows(result.dist_info)}
    assert "../../../share/demo/readme.txt" in paths
    assert f"../../../include/site/{PYVER}/demo-pkg/demo.h" in paths
    assert "../../../bin/shell-tool" in paths


def test_root_is_purelib_false_goes_to_platlib(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    scheme = Scheme(
        purelib=prefix / "lib/pure",
        platlib=prefix / "lib64/plat",
        scripts=prefix / "bin",
        data=prefix,
        include=prefix / "include",
    )
    src = unpacked(tmp_path, "native", "2.0", root_is_purelib=False, tag="cp311-cp311-linux_x86_64",
                   data={"purelib/native_py/x.py": "x = 1\n"})
    result = install_wheel(src, scheme, python="/usr/bin/python3", linker=Linker())
    assert (prefix / "lib64/plat/native/__init__.py").is_file()
    assert not (prefix / "lib/pure/native").exists()
    assert (prefix / "lib/pure/native_py/x.py").is_file()
    assert result.dist_info == prefix / "lib64/plat/native-2.0.dist-info"
    paths = {row[0] for row in record_rows(result.dist_info)}
    assert "native/__init__.py" in paths and "../../lib/pure/native_py/x.py" in paths


# -- scripts ---------------------------------------------------------------------------------------


def test_python_shebangs_are_rewritten_and_other_scripts_kept(tmp_path: Path, env: Env) -> None:
    src = unpacked(tmp_path, "demo-pkg", "1.0", **RICH)
    install_wheel(src, env.scheme, python=env.python, linker=Linker(LinkMode.HARDLINK))
    bin_dir = env.root / "bin"
    plain = (bin_dir / "plain-script").read_bytes()
    assert plain == f"#!{env.python}\nimport demo_pkg\nprint('plain', demo_pkg.__name__)\n".encode()
    assert (bin_dir / "windowed").read_bytes() == f"#!{env.python}\nprint('w')\n".encode()
    # a rewritten script is a new file; the cached one keeps `#!python`
    cached = src / "demo_pkg-1.0.data/scripts/plain-script"
    assert cached.read_bytes().startswith(b"#!python\n")
    assert os.stat(bin_dir / "plain-script").st_ino != os.stat(cached).st_ino
    # other scripts keep their bytes and are linked
    tool = bin_dir / "shell-tool"
    assert tool.read_bytes() == b"#!/bin/sh\necho shell tool\n"
    assert os.stat(tool).st_ino == os.stat(src / "demo_pkg-1.0.data/scripts/shell-tool").st_ino
    for name in ("plain-script", "windowed", "shell-tool"):
        assert os.stat(bin_dir / name).st_mode & 0o111
    out = subprocess.run([str(bin_dir / "plain-script")], capture_output=True, text=True, check=True)
    assert out.stdout == "plain demo_pkg\n"
    out = subprocess.run([str(tool)], capture_output=True, text=True, check=True)
    assert out.stdout == "shell tool\n"


def test_script_not_executable_in_the_cache_is_copied_not_chmodded(tmp_path: Path, env: Env) -> None:
    src = unpacked(tmp_path, "demo-pkg", "1.0", data={"scripts/tool": "#!/bin/sh\necho ok\n"})
    cached = src / "demo_pkg-1.0.data/scripts/tool"
    cached.chmod(0o644)  # as an archive without exec bits would unpack
    install_wheel(src, env.scheme, python=env.python, linker=Linker(LinkMode.HARDLINK))
    installed = env.root / "bin/tool"
    assert stat.S_IMODE(os.stat(installed).st_mode) == umasked(0o755)
    assert stat.S_IMODE(os.stat(cached).st_mode) == 0o644
    assert os.stat(installed).st_ino != os.stat(cached).st_ino
    assert installed.read_bytes() == cached.read_bytes()


def test_console_and_gui_entry_points_run_for_real(tmp_path: Path, env: Env) -> None:
    src = unpacked(tmp_path, "demo-pkg", "1.0", **RICH)
    install_wheel(src, env.scheme, python=env.python, linker=Linker())
    bin_dir = env.root / "bin"
    for name in ("demo", "demo-app", "demo-gui"):
        launcher = bin_dir / name
        assert stat.S_IMODE(os.stat(launcher).st_mode) == umasked(0o755)
        assert launcher.read_bytes().startswith(f"#!{env.python}\n".encode())
    text = (bin_dir / "demo-app").read_text()
    assert "from demo_pkg import App\n" in text and "sys.exit(App.run())" in text

    run = subprocess.run([str(bin_dir / "demo"), "a", "b"], capture_output=True, text=True)
    assert run.returncode == 3  # the callable's return value is the exit status
    assert run.stdout == f"demo main ['a', 'b'] {env.root}\n"  # ran inside the venv
    run = subprocess.run([str(bin_dir / "demo-app")], capture_output=True, text=True, check=True)
    assert run.stdout == "app run\n"
    run = subprocess.run([str(bin_dir / "demo-gui")], capture_output=True, text=True, check=True)
    assert run.stdout == "gui up\n"


def test_shebang_forms() -> None:
    assert script_shebang("/venv/bin/python") == b"#!/venv/bin/python\n"
    spaced = script_shebang("/my venv/bin/python")
    assert spaced.startswith(b"#!/bin/sh\n'''exec' '/my venv/bin/python' \"$0\" \"$@\"\n' '''\n")
    long_path = "/" + "x" * MAX_SHEBANG + "/bin/python"
    assert script_shebang(long_path).startswith(b"#!/bin/sh\n")
    fits = "/" + "y" * (MAX_SHEBANG - 3)
    assert script_shebang(fits) == f"#!{fits}\n".encode()  # exactly 127 bytes: still direct


@pytest.mark.parametrize("where", ["with space", "long"])
def test_launchers_work_for_spaced_and_long_interpreter_paths(tmp_path: Path, where: str) -> None:
    if where == "long":
        base = tmp_path / ("deep-" + "d" * 60) / ("deeper-" + "e" * 60)
    else:
        base = tmp_path / "my envs" / "project one"
    base.mkdir(parents=True)
    env = make_venv(base / "venv")
    if where == "long":
        assert len(env.python) + 2 > MAX_SHEBANG
    src = unpacked(tmp_path, "demo-pkg", "1.0", **RICH)
    install_wheel(src, env.scheme, python=env.python, linker=Linker())
    launcher = env.root / "bin" / "demo"
    assert launcher.read_bytes().startswith(b"#!/bin/sh\n")
    run = subprocess.run([str(launcher), "x"], capture_output=True, text=True)
    assert run.returncode == 3, run.stderr
    assert run.stdout == f"demo main ['x'] {env.root}\n"
    plain = subprocess.run([str(env.root / "bin/plain-script")], capture_output=True, text=True, check=True)
    assert plain.stdout == "plain demo_pkg\n"


# -- RECORD and the other dist-info files ---------------------------------------------------------


def test_record_lists_every_installed_file_with_its_hash(tmp_path: Path, env: Env) -> None:
    before = snapshot(env.root)
    src = unpacked(tmp_path, "demo-pkg", "1.0", **RICH)
    result = install_wheel(src, env.scheme, python=env.python, linker=Linker(),
                           direct_url={"url": "file:///wheels/demo_pkg-1.0-py3-none-any.whl",
                                       "archive_info": {}})
    after = snapshot(env.root)
    new_files = {
        os.path.normpath(env.root / rel) for rel, v in after.items() if v[0] == "file" and rel not in before
    }
    rows = record_rows(result.dist_info)
    listed = {}
    for path, digest, size in rows:
        full = os.path.normpath(result.dist_info.parent / path)
        assert full not in listed, f"{path} listed twice"
        listed[full] = (digest, size)
    assert set(listed) == new_files
    record_path = os.path.normpath(result.dist_info / "RECORD")
    assert listed.pop(record_path) == ("", "")
    for full, (digest, size) in listed.items():
        data = Path(full).read_bytes()
        assert digest == sha256_record(data), full
        assert size == str(len(data)), full
    assert all(not p.startswith("/") for p, _, _ in rows)


def test_linked_files_reuse_the_wheels_hashes(tmp_path: Path, env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {f"many/m{i}.py": f"v = {i}\n" for i in range(200)}
    src = unpacked(tmp_path, "many", "1.0", files=files, entry_points={"console_scripts": {"m": "many.m0:v"}})
    hashed: list[int] = []
    real = installer_mod.record_hash
    monkeypatch.setattr(installer_mod, "record_hash", lambda data, *a: hashed.append(len(data)) or real(data, *a))
    monkeypatch.setattr(installer_mod, "_file_hash", lambda p: pytest.fail(f"re-hashed {p}"))
    result = install_wheel(src, env.scheme, python=env.python, linker=Linker())
    assert len(hashed) == 3  # the launcher, INSTALLER, REQUESTED: only what was generated
    assert result.files == 200 + 3 + 3 + 1  # files, METADATA/WHEEL/entry_points, generated, RECORD


def test_installer_requested_and_direct_url(tmp_path: Path, env: Env) -> None:
    src = unpacked(tmp_path, "demo-pkg", "1.0")
    direct = {"url": "file:///tmp/demo_pkg-1.0-py3-none-any.whl", "archive_info": {"hashes": {"sha256": "ab"}}}
    result = install_wheel(src, env.scheme, python=env.python, linker=Linker(), requested=False,
                           direct_url=direct, installer="pyx-test")
    assert (result.dist_info / "INSTALLER").read_text() == "pyx-test\n"
    assert not (result.dist_info / "REQUESTED").exists()
    assert json.loads((result.dist_info / "direct_url.json").read_text()) == direct
    listed = {row[0] for row in record_rows(result.dist_info)}
    assert {"demo_pkg-1.0.dist-info/direct_url.json", "demo_pkg-1.0.dist-info/INSTALLER"} <= listed
    assert "demo_pkg-1.0.dist-info/REQUESTED" not in listed


@pytest.mark.parametrize("mode", list(LinkMode))
def test_every_link_mode_installs_and_never_touches_the_cache(tmp_path: Path, env: Env, mode: LinkMode) -> None:
    src = unpacked(tmp_path, "demo-pkg", "1.0", **RICH)
    cache_before = snapshot(src)
    cache_stat = {p: os.stat(src / p).st_mtime_ns for p, v in cache_before.items() if v[0] == "file"}
    linker = Linker(mode)
    result = install_wheel(src, env.scheme, python=env.python, linker=linker)
    init = env.site / "demo_pkg/__init__.py"
    cached = src / "demo_pkg/__init__.py"
    assert init.read_bytes() == cached.read_bytes()
    used = linker.effective_mode
    if used is LinkMode.HARDLINK:
        assert os.stat(init).st_ino == os.stat(cached).st_ino
    elif used is LinkMode.SYMLINK:
        assert init.is_symlink() and Path(os.readlink(init)) == cached
    else:
        assert os.stat(init).st_ino != os.stat(cached).st_ino and not init.is_symlink()
    run = subprocess.run([str(env.root / "bin/demo")], capture_output=True, text=True)
    assert run.returncode == 3
    uninstall(result.dist_info)
    assert snapshot(src) == cache_before
    assert {p: os.stat(src / p).st_mtime_ns for p in cache_stat} == cache_stat


# -- conflicts and failures -------------------------------------------------------------------


def test_files_of_another_distribution_are_overwritten(tmp_path: Path, env: Env) -> None:
    a = unpacked(tmp_path, "alpha", "1.0", files={"shared/thing.py": "owner = 'alpha'\n"})
    b = unpacked(tmp_path, "beta", "1.0", files={"shared/thing.py": "owner = 'beta'\n"})
    install_wheel(a, env.scheme, python=env.python, linker=Linker())
    install_wheel(b, env.scheme, python=env.python, linker=Linker())
    assert (env.site / "shared/thing.py").read_text() == "owner = 'beta'\n"
    assert sorted(os.listdir(env.site / "shared")) == ["thing.py"]  # nothing moved aside remains


class FailingLinker(Linker):
    """Fails on the ``fail_at``-th file, as a full disk would."""

    def __init__(self, fail_at: int) -> None:
        super().__init__(LinkMode.HARDLINK)
        self.calls = 0
        self.fail_at = fail_at
        mode, primitive = self._state

        def counted(src, dst) -> None:  # every way of linking (one file, or in bulk) comes here
            self.calls += 1
            if self.calls == self.fail_at:
                raise OSError(errno.ENOSPC, "No space left on device", str(dst))
            primitive(src, dst)

        self._state = (mode, counted)


def test_failure_mid_install_puts_everything_back(tmp_path: Path, env: Env) -> None:
    other = unpacked(tmp_path, "other", "1.0", files={"demo_pkg/conflict.py": "owner = 'other'\n"})
    install_wheel(other, env.scheme, python=env.python, linker=Linker())
    before = snapshot(env.root)
    inode = os.stat(env.site / "demo_pkg/conflict.py").st_ino
    files = {f"demo_pkg/m{i}.py": f"m = {i}\n" for i in range(20)}
    files["demo_pkg/conflict.py"] = "owner = 'demo'\n"
    files["demo_pkg/__init__.py"] = ""
    src = unpacked(tmp_path, "demo-pkg", "1.0", files=files, data=RICH["data"],
                   entry_points=RICH["entry_points"])
    linker = FailingLinker(fail_at=18)
    with pytest.raises(InstallError) as info:
        install_wheel(src, env.scheme, python=env.python, linker=linker)
    assert linker.calls == 18
    err = info.value
    assert "`demo-pkg`" in err.message and "No space left" in err.message
    assert err.code == "install-failed" and err.context["package"] == "demo-pkg"
    assert snapshot(env.root) == before
    assert os.stat(env.site / "demo_pkg/conflict.py").st_ino == inode  # the very same file is back


def test_a_directory_in_the_way_fails_cleanly(tmp_path: Path, env: Env) -> None:
    (env.site / "demo_pkg" / "sub" / "mod.py").mkdir(parents=True)
    before = snapshot(env.root)
    src = unpacked(tmp_path, "demo-pkg", "1.0", **RICH)
    with pytest.raises(InstallError, match="`demo-pkg`"):
        install_wheel(src, env.scheme, python=env.python, linker=Linker())
    assert snapshot(env.root) == before


def test_entry_point_names_cannot_escape_bin(tmp_path: Path, env: Env) -> None:
    before = snapshot(env.root)
    src = unpacked(tmp_path, "demo-pkg", "1.0", entry_points={"console_scripts": {"../../evil": "demo_pkg:x"}})
    with pytest.raises(UnsafeWheel, match="`../../evil`"):
        install_wheel(src, env.scheme, python=env.python, linker=Linker())
    assert snapshot(env.root) == before


def test_entry_point_without_a_callable_is_invalid(tmp_path: Path, env: Env) -> None:
    src = unpacked(tmp_path, "demo-pkg", "1.0", entry_points={"console_scripts": {"x": "demo_pkg"}})
    with pytest.raises(InvalidWheel, match="`x = demo_pkg`"):
        install_wheel(src, env.scheme, python=env.python, linker=Linker())


def test_unknown_data_directory_is_invalid(tmp_path: Path, env: Env) -> None:
    before = snapshot(env.root)
    src = unpacked(tmp_path, "demo-pkg", "1.0", data={"bogus/x.txt": "x"})
    with pytest.raises(InvalidWheel, match="`demo_pkg-1.0.data/bogus`"):
        install_wheel(src, env.scheme, python=env.python, linker=Linker())
    assert snapshot(env.root) == before


# -- uninstall -----------------------------------------------------------------------------------


def test_uninstall_removes_everything_pyx_installed(tmp_path: Path, env: Env) -> None:
    before = snapshot(env.root)
    src = unpacked(tmp_path, "demo-pkg", "1.0", **RICH)
    result = install_wheel(src, env.scheme, python=env.python, linker=Linker())
    compileall.compile_dir(str(env.site / "demo_pkg"), quiet=1)
    pycs = list((env.site / "demo_pkg").rglob("*.pyc"))
    assert pycs
    reporter = CollectingReporter()
    removed = uninstall(result.dist_info, reporter=reporter)
    assert snapshot(env.root) == before
    assert set(pycs) <= set(removed)
    assert env.site / "demo_pkg/__init__.py" in removed and env.root / "bin/demo" in removed
    assert reporter.events == []
    assert (env.root / "bin").is_dir() and env.site.is_dir()  # the layout itself stays


@pytest.mark.slow
def test_uninstall_of_a_pip_installed_package(tmp_path: Path) -> None:
    env = make_venv(tmp_path / "venv-pip", with_pip=True)
    wheel = build_wheel(tmp_path / "wheels", "demo-pkg", "1.0", **RICH)
    before = snapshot(env.root)
    pip = [env.python, "-m", "pip", "install", "--no-index", "--no-deps", "--no-cache-dir",
           "--disable-pip-version-check", str(wheel)]
    subprocess.run(pip, check=True, capture_output=True)
    dist_info = env.site / "demo_pkg-1.0.dist-info"
    assert (dist_info / "INSTALLER").read_text().strip() == "pip"
    assert any(env.site.joinpath("demo_pkg").rglob("*.pyc"))  # pip compiled it
    assert (env.root / "bin/demo").is_file()
    removed = uninstall(dist_info)
    assert snapshot(env.root) == before
    assert env.root / "bin/demo" in removed


def test_uninstall_without_record_explains(tmp_path: Path, env: Env) -> None:
    dist_info = env.site / "legacy-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: legacy\nVersion: 1.0\n")
    with pytest.raises(UninstallError) as info:
        uninstall(dist_info)
    assert "`legacy-1.0.dist-info`" in info.value.message and "RECORD" in info.value.message
    assert info.value.hints
    assert (dist_info / "METADATA").exists()


def test_hostile_record_lines_are_skipped_and_reported(tmp_path: Path, env: Env) -> None:
    src = unpacked(tmp_path, "demo-pkg", "1.0")
    result = install_wheel(src, env.scheme, python=env.python, linker=Linker())
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "a.txt").write_text("keep")
    (outside / "b.txt").write_text("keep")
    (outside / "c.txt").write_text("keep")
    (env.site / "escape").symlink_to(outside, target_is_directory=True)
    rel_out = os.path.relpath(outside / "a.txt", env.site)
    with open(result.dist_info / "RECORD", "a") as f:
        f.write(f"{rel_out},,\n{outside / 'b.txt'},,\nescape/c.txt,,\n")
    reporter = CollectingReporter()
    removed = uninstall(result.dist_info, reporter=reporter)
    assert sorted(p.name for p in outside.iterdir()) == ["a.txt", "b.txt", "c.txt"]
    warnings = [e for e in reporter.events if isinstance(e, Notice)]
    assert len(warnings) == 3 and all(w.level == "warning" for w in warnings)
    assert any(f"`{rel_out}`" in w.message for w in warnings)
    assert any("`escape/c.txt`" in w.message for w in warnings)
    assert env.site / "demo_pkg/__init__.py" in removed  # the honest lines were honoured
    assert not (env.site / "demo_pkg").exists() and not result.dist_info.exists()


def test_environment_root(tmp_path: Path, env: Env) -> None:
    assert environment_root(env.site) == env.root
    prefix_site = tmp_path / "usr/lib" / PYVER / "site-packages"
    prefix_site.mkdir(parents=True)
    assert environment_root(prefix_site) == tmp_path / "usr"
    target = tmp_path / "target-dir"
    target.mkdir()
    assert environment_root(target) == target


def test_uninstall_from_a_target_directory_removes_package_dirs(tmp_path: Path) -> None:
    target = tmp_path / "target"
    scheme = Scheme(purelib=target, platlib=target, scripts=target / "bin", data=target,
                    include=target / "include")
    src = unpacked(tmp_path, "demo-pkg", "1.0", files={"demo_pkg/__init__.py": "", "demo_pkg/a/b.py": ""})
    result = install_wheel(src, scheme, python="/usr/bin/python3", linker=Linker())
    uninstall(result.dist_info)
    assert list(target.iterdir()) == []


# -- replacing a version ---------------------------------------------------------------------------


def test_replace_keeps_files_both_versions_ship(tmp_path: Path, env: Env) -> None:
    v1 = unpacked(tmp_path, "demo-pkg", "1.0",
                  files={"demo_pkg/__init__.py": "V = 1\n", "demo_pkg/shared.py": "S = 'same'\n",
                         "demo_pkg/old.py": ""},
                  entry_points={"console_scripts": {"demo": "demo_pkg:main", "demo-old": "demo_pkg:main"}})
    v2 = unpacked(tmp_path, "demo-pkg", "2.0",
                  files={"demo_pkg/__init__.py": "V = 2\ndef main():\n    print('v2')\n",
                         "demo_pkg/shared.py": "S = 'same'\n", "demo_pkg/new.py": ""},
                  entry_points={"console_scripts": {"demo": "demo_pkg:main"}})
    old = install_wheel(v1, env.scheme, python=env.python, linker=Linker())
    new = replace_wheel(old.dist_info, v2, env.scheme, python=env.python, linker=Linker())
    site = env.site
    assert (site / "demo_pkg/shared.py").read_text() == "S = 'same'\n"
    assert (site / "demo_pkg/__init__.py").read_text().startswith("V = 2")
    assert (site / "demo_pkg/new.py").exists() and not (site / "demo_pkg/old.py").exists()
    assert not old.dist_info.exists() and new.dist_info.is_dir()
    assert not (env.root / "bin/demo-old").exists()
    run = subprocess.run([str(env.root / "bin/demo")], capture_output=True, text=True, check=True)
    assert run.stdout == "v2\n"
    # the environment now holds exactly what v2's RECORD lists
    listed = {os.path.normpath(site / row[0]) for row in record_rows(new.dist_info)}
    dist_files = {os.path.normpath(p) for p in site.rglob("*") if p.is_file()}
    dist_files |= {os.path.normpath(p) for p in (env.root / "bin").iterdir() if p.name.startswith("demo")}
    assert dist_files == listed


def test_uninstall_then_install_keeps_shared_files(tmp_path: Path, env: Env) -> None:
    files = {"demo_pkg/__init__.py": "", "demo_pkg/shared.py": "S = 1\n"}
    v1 = unpacked(tmp_path, "demo-pkg", "1.0", files=files)
    v2 = unpacked(tmp_path, "demo-pkg", "2.0", files=files)
    old = install_wheel(v1, env.scheme, python=env.python, linker=Linker())
    uninstall(old.dist_info)
    install_wheel(v2, env.scheme, python=env.python, linker=Linker())
    assert (env.site / "demo_pkg/shared.py").read_text() == "S = 1\n"


def test_reinstall_of_the_same_version(tmp_path: Path, env: Env) -> None:
    src = unpacked(tmp_path, "demo-pkg", "1.0", **RICH)
    first = install_wheel(src, env.scheme, python=env.python, linker=Linker(), requested=True)
    before = snapshot(env.root)
    again = replace_wheel(first.dist_info, src, env.scheme, python=env.python, linker=Linker(), requested=True)
    assert again.dist_info == first.dist_info
    assert snapshot(env.root) == before


def test_failed_replace_leaves_the_old_version_working(tmp_path: Path, env: Env) -> None:
    v1 = unpacked(tmp_path, "demo-pkg", "1.0", **RICH)
    v2 = unpacked(tmp_path, "demo-pkg", "2.0", **RICH)
    old = install_wheel(v1, env.scheme, python=env.python, linker=Linker())
    before = snapshot(env.root)
    with pytest.raises(InstallError):
        replace_wheel(old.dist_info, v2, env.scheme, python=env.python, linker=FailingLinker(fail_at=4))
    assert snapshot(env.root) == before
    assert subprocess.run([str(env.root / "bin/demo")], capture_output=True).returncode == 3


def test_a_data_file_landing_on_a_root_file_wins_and_is_recorded_once(tmp_path: Path, env: Env) -> None:
    """``x.py`` at the root and in ``.data/purelib``: both go to site-packages; the later
    (the data file, as pip places it) is what stays, and RECORD lists the path once."""
    src = unpacked(tmp_path, "shadow", "1.0", files={"shadow.py": "where = 'root'\n"},
                   data={"purelib/shadow.py": "where = 'data'\n"})
    install_wheel(src, env.scheme, python=env.python, linker=Linker())
    assert (env.site / "shadow.py").read_text() == "where = 'data'\n"
    rows = [row[0] for row in record_rows(env.site / "shadow-1.0.dist-info")]
    assert rows.count("shadow.py") == 1

