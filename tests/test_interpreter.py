"""Interpreter facts: asked of the target once, cached by path + mtime, read back without spawning."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.tags import Tag, parse_tag, sys_tags

from pyx_server.engine.envs import interpreter as interpreter_module
from pyx_server.engine.cache import Bucket, Cache
from pyx_server.engine.errors import InterpreterError
from pyx_server.engine.envs.interpreter import (
    Interpreter,
    find_python_on_path,
    parse_version_request,
    query_interpreter,
)

SHORT = f"{sys.version_info[0]}.{sys.version_info[1]}"


@pytest.fixture
def cache(cache_dir: Path) -> Cache:
    return Cache(cache_dir)


@pytest.fixture
def spawns(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Records every process the interpreter module starts (and still starts it)."""
    calls: list[list[str]] = []
    real_run = subprocess.run

    def run(cmd, *args, **kwargs):
        calls.append(list(cmd))
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(interpreter_module.subprocess, "run", run)
    return calls


def forbid_spawning(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError(f"spawned a process: {args[0] if args else kwargs}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


def base_python() -> Path:
    """The real interpreter under the test venv (a file, not a venv's symlink)."""
    return Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))


def write_script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


# -- facts --------------------------------------------------------------------------------------


def test_query_reports_the_facts_of_the_running_python(cache: Cache) -> None:
    info = query_interpreter(sys.executable, cache)
    assert info.executable == Path(sys.executable)  # as given: not resolved through the venv's symlink
    assert info.sys_executable == sys.executable
    assert info.version == tuple(sys.version_info[:3])
    assert info.implementation == sys.implementation.name
    assert info.sys_prefix == Path(sys.prefix)
    assert info.base_prefix == Path(sys.base_prefix)
    assert info.is_venv == (sys.prefix != sys.base_prefix)
    assert info.gil_disabled == bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    assert info.tags == tuple(str(t) for t in sys_tags())
    assert info.markers == dict(default_environment())
    paths = sysconfig.get_paths()
    assert info.scheme.purelib == Path(paths["purelib"])
    assert info.scheme.platlib == Path(paths["platlib"])
    assert info.scheme.scripts == Path(paths["scripts"])
    assert info.scheme.data == Path(paths["data"])
    if info.is_venv:
        assert info.scheme.include == Path(sys.prefix) / "include" / "site" / f"python{SHORT}"
        assert info.base_executable is not None
        assert Path(os.path.realpath(info.base_executable)) == base_python()
    assert info.venv_layout.purelib == Path("lib") / f"python{SHORT}" / "site-packages"
    assert info.version_short == SHORT


def test_a_target_that_cannot_load_pyxs_packaging_answers_with_the_one_ensurepip_bundles(
    cache: Cache, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A Python older than pyx's packaging supports: pip's vendored copy answers instead."""
    import ensurepip

    if not list(Path(ensurepip.__file__).parent.glob("_bundled/pip-*.whl")):
        pytest.skip("this Python's ensurepip bundles no pip wheel (a distribution stripped it)")
    broken = tmp_path / "packaging"
    broken.mkdir()
    (broken / "__init__.py").write_text("match = 1\nraise SyntaxError('needs a newer Python')\n")
    monkeypatch.setattr(interpreter_module, "_packaging_dir", lambda: str(broken))
    # a venv without pip or packaging: neither pyx's copy nor one of its own can load
    venv = tmp_path / "bare"
    subprocess.run([str(base_python()), "-m", "venv", "--without-pip", str(venv)], check=True)
    info = query_interpreter(venv / "bin" / "python", cache)
    assert info.markers == dict(default_environment())
    # an older packaging orders and extends the list a little differently; the tags are the same
    ours = {str(t) for t in sys_tags()}
    assert len(ours & set(info.tags)) >= len(ours) - 2 and set(info.tags) <= ours
    assert "py3-none-any" in info.tags


@pytest.mark.parametrize("minor", ["3.7", "3.8", "3.9"])
def test_older_pythons_are_queried_without_anything_installed(cache: Cache, minor: str) -> None:
    import pwd  # the real home: the suite points HOME at a temporary directory

    root = os.environ.get("PYENV_ROOT") or os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".pyenv")
    pyenv = Path(root) / "versions"  # real interpreters, not pyenv's shims
    candidates = sorted(str(p) for p in pyenv.glob(f"{minor}.*/bin/python{minor}"))
    candidates += [p for p in (f"/usr/bin/python{minor}", f"/usr/local/bin/python{minor}") if os.path.exists(p)]
    if not candidates:
        pytest.skip(f"no Python {minor} on this machine")
    info = query_interpreter(candidates[0], cache)
    assert info.version_short == minor
    assert info.markers["python_version"] == minor
    short = minor.replace(".", "")
    assert "py3-none-any" in info.tags
    assert any(t.startswith(f"cp{short}-cp{short}") for t in info.tags)


def test_query_of_a_plain_interpreter_is_not_a_venv(cache: Cache) -> None:
    info = query_interpreter(base_python(), cache)
    assert not info.is_venv
    assert info.sys_prefix == Path(sys.base_prefix)
    assert info.base_executable == base_python()
    assert info.scheme.include == Path(sysconfig.get_paths(vars={"installed_base": sys.base_prefix})["include"])


def test_tag_priority_and_supports(cache: Cache) -> None:
    info = query_interpreter(sys.executable, cache)
    priority = info.tag_priority()
    best = next(iter(sys_tags()))
    assert priority[best] == 0
    assert info.tag_priority() is priority  # computed once
    assert info.supports(parse_tag("py3-none-any")) == priority[Tag("py3", "none", "any")]
    assert info.supports(parse_tag("py3-none-any")) > 0
    assert info.supports(parse_tag("cp27-cp27m-win32")) is None
    assert info.supports([]) is None
    # the best rank among a wheel's tags wins
    mixed = parse_tag(f"{best.interpreter}-{best.abi}-{best.platform}") | parse_tag("py3-none-any")
    assert info.supports(mixed) == 0


def test_markers_are_evaluated_through_packaging(cache: Cache) -> None:
    info = query_interpreter(sys.executable, cache)
    assert info.evaluate_marker(f'python_version == "{SHORT}"')
    assert not info.evaluate_marker('python_version < "3"')
    assert info.evaluate_marker(f'sys_platform == "{sys.platform}"')
    assert info.evaluate_marker('extra == "test"', extra="test")
    assert not info.evaluate_marker('extra == "test"', extra="docs")


def test_json_round_trip(cache: Cache) -> None:
    info = query_interpreter(sys.executable, cache)
    assert Interpreter.from_json(info.to_json()) == info


# -- caching ----------------------------------------------------------------------------------


def test_second_query_reads_the_cache_and_spawns_nothing(
    cache: Cache, spawns: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.perf_counter()
    first = query_interpreter(sys.executable, cache)
    cold = time.perf_counter() - started
    assert len(spawns) == 1
    assert list((cache.root / Bucket.INTERPRETER.value).glob("*.json"))

    forbid_spawning(monkeypatch)
    started = time.perf_counter()
    for _ in range(20):
        again = query_interpreter(sys.executable, cache)
    warm = (time.perf_counter() - started) / 20
    assert again == first
    print(f"\ninterpreter query: first {cold * 1000:.1f} ms, cached {warm * 1000:.3f} ms")


def test_cache_key_includes_the_path_as_given(cache: Cache, spawns: list) -> None:
    # a venv's python resolves to its base: the two must not share an entry
    venv_info = query_interpreter(sys.executable, cache)
    base_info = query_interpreter(base_python(), cache)
    assert len(spawns) == 2
    assert venv_info.sys_prefix != base_info.sys_prefix or not venv_info.is_venv


def test_cache_is_invalidated_when_the_interpreter_changes(
    tmp_path: Path, cache: Cache, spawns: list
) -> None:
    # a venv whose python is a copy of the base binary, so the test can change its mtime
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = {base_python().parent}\ninclude-system-site-packages = false\n")
    python = venv / "bin" / "python"
    shutil.copy2(base_python(), python)

    first = query_interpreter(python, cache)
    assert first.sys_prefix == venv
    query_interpreter(python, cache)
    assert len(spawns) == 1

    stat = python.stat()
    os.utime(python, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    again = query_interpreter(python, cache)
    assert len(spawns) == 2
    assert again == first


def test_corrupt_cache_entry_is_a_miss(cache: Cache, spawns: list) -> None:
    query_interpreter(sys.executable, cache)
    for entry in (cache.root / Bucket.INTERPRETER.value).glob("*.json"):
        entry.write_text("{not json")
    info = query_interpreter(sys.executable, cache)
    assert len(spawns) == 2
    assert info.version == tuple(sys.version_info[:3])


def test_wrapper_script_is_answered_but_not_cached_under_its_own_path(
    tmp_path: Path, cache: Cache, spawns: list
) -> None:
    # like a pyenv shim: which interpreter it runs may depend on where it runs
    shim = write_script(tmp_path / "python3", f'exec "{base_python()}" "$@"\n')
    info = query_interpreter(shim, cache)
    assert info.executable == shim
    assert Path(os.path.realpath(info.sys_executable)) == base_python()
    query_interpreter(shim, cache)
    assert len(spawns) == 2
    # the real interpreter it led to was cached
    query_interpreter(info.sys_executable, cache)
    assert len(spawns) == 2


# -- failures ---------------------------------------------------------------------------------


def test_missing_interpreter(tmp_path: Path, cache: Cache) -> None:
    with pytest.raises(InterpreterError) as exc:
        query_interpreter(tmp_path / "nope" / "python", cache)
    assert f"`{tmp_path / 'nope' / 'python'}`" in exc.value.message
    assert exc.value.code == "interpreter-error"


def test_interpreter_that_exits_with_an_error(tmp_path: Path, cache: Cache) -> None:
    broken = write_script(tmp_path / "python", "echo 'Fatal Python error: boom' >&2\nexit 1\n")
    with pytest.raises(InterpreterError) as exc:
        query_interpreter(broken, cache)
    message = exc.value.message
    assert f"`{broken}`" in message
    assert "exit code 1" in message
    assert "Fatal Python error: boom" in message
    assert "boom" in (exc.value.detail or "")
    assert not list((cache.root / Bucket.INTERPRETER.value).glob("*.json"))


def test_interpreter_that_prints_garbage(tmp_path: Path, cache: Cache) -> None:
    garbage = write_script(tmp_path / "python", "echo 'hello, I am not python'\n")
    with pytest.raises(InterpreterError) as exc:
        query_interpreter(garbage, cache)
    assert f"`{garbage}`" in exc.value.message
    assert "no answer" in exc.value.message
    assert "not python" in (exc.value.detail or "")


def test_interpreter_that_answers_with_broken_json(tmp_path: Path, cache: Cache) -> None:
    liar = write_script(tmp_path / "python", "echo '--pyx-interpreter-info--{\"version\": '\n")
    with pytest.raises(InterpreterError) as exc:
        query_interpreter(liar, cache)
    assert "cannot read" in exc.value.message


def test_non_executable_file(tmp_path: Path, cache: Cache) -> None:
    plain = tmp_path / "python"
    plain.write_text("print('hi')\n")
    with pytest.raises(InterpreterError) as exc:
        query_interpreter(plain, cache)
    assert "not an executable" in exc.value.message


# -- finding interpreters on PATH -------------------------------------------------------------


def test_parse_version_request() -> None:
    r = parse_version_request("3.12")
    assert r is not None and r.minor == "3.12" and str(r.specifier) == "==3.12.*"
    r = parse_version_request("3.12.1")
    assert r is not None and str(r.specifier) == "==3.12.1"
    r = parse_version_request("3.13t")
    assert r is not None and r.free_threaded
    r = parse_version_request(">=3.10")
    assert r is not None and r.minor is None
    assert parse_version_request("python3.12") is None
    assert parse_version_request("/usr/bin/python3") is None


def test_find_default_python_on_path_spawns_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (second / "python3").symlink_to(base_python())
    (first / "python").symlink_to(base_python())
    forbid_spawning(monkeypatch)
    path = os.pathsep.join([str(first), str(second)])
    assert find_python_on_path(None, path_env=path) == second / "python3"  # python3 before python
    assert find_python_on_path(None, path_env=str(first)) == first / "python"
    with pytest.raises(InterpreterError):
        find_python_on_path(None, path_env=str(tmp_path / "empty"))


def test_find_by_version_skips_candidates_that_fail(tmp_path: Path, cache: Cache) -> None:
    shims, real = tmp_path / "shims", tmp_path / "real"
    shims.mkdir()
    real.mkdir()
    # a pyenv-style shim for the version that is not selected: it fails
    write_script(shims / f"python{SHORT}", "echo 'pyenv: version not installed' >&2\nexit 127\n")
    (real / f"python{SHORT}").symlink_to(base_python())
    found = find_python_on_path(SHORT, cache=cache, path_env=f"{shims}{os.pathsep}{real}")
    assert Path(os.path.realpath(found)) == base_python()
    found = find_python_on_path(f">={SHORT}", cache=cache, path_env=f"{shims}{os.pathsep}{real}")
    assert Path(os.path.realpath(found)) == base_python()


def test_find_by_version_reports_what_it_saw(tmp_path: Path, cache: Cache) -> None:
    (tmp_path / "python3").symlink_to(base_python())
    with pytest.raises(InterpreterError) as exc:
        find_python_on_path("3.99", cache=cache, path_env=str(tmp_path))
    assert "`3.99`" in exc.value.message
    assert any(".".join(map(str, sys.version_info[:3])) in h for h in exc.value.hints)


def test_find_by_name_and_by_path(tmp_path: Path) -> None:
    (tmp_path / "python3.42").symlink_to(base_python())
    assert find_python_on_path("python3.42", path_env=str(tmp_path)) == tmp_path / "python3.42"
    with pytest.raises(InterpreterError) as exc:
        find_python_on_path("python3.43", path_env=str(tmp_path))
    assert "`python3.43`" in exc.value.message
    assert find_python_on_path(str(tmp_path / "python3.42")) == tmp_path / "python3.42"
    with pytest.raises(InterpreterError):
        find_python_on_path(str(tmp_path / "missing" / "python"))


def test_pyenv_shims_are_followed_through_version_files(tmp_path) -> None:
    from pyx_server.engine.envs.discovery import _through_pyenv_shim

    root = tmp_path / "pyenv"
    (root / "shims").mkdir(parents=True)
    shim = root / "shims" / "python3"
    shim.write_text("#!/bin/sh\n")
    for version in ("3.11.7", "3.12.1"):
        exe = root / "versions" / version / "bin" / "python3"
        exe.parent.mkdir(parents=True)
        exe.write_text("")
        exe.chmod(0o755)
    (root / "version").write_text("3.11.7\n")
    project = tmp_path / "proj" / "sub"
    project.mkdir(parents=True)
    env = {"PYENV_ROOT": str(root)}
    assert _through_pyenv_shim(shim, "python3", cwd=project, env=env) == root / "versions/3.11.7/bin/python3"
    (tmp_path / "proj" / ".python-version").write_text("3.12.1\n")
    assert _through_pyenv_shim(shim, "python3", cwd=project, env=env) == root / "versions/3.12.1/bin/python3"
    assert _through_pyenv_shim(shim, "python3", cwd=project, env={**env, "PYENV_VERSION": "3.11.7"}) == root / "versions/3.11.7/bin/python3"
    assert _through_pyenv_shim(shim, "python3", cwd=project, env={**env, "PYENV_VERSION": "system"}) is None
    assert _through_pyenv_shim(tmp_path / "python3", "python3", cwd=project, env=env) is None  # not a shim
