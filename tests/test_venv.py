"""Virtual environments written directly: they run, point at a real base, activate, and are fast."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyx_server.engine.envs import interpreter as interpreter_module
from pyx_server.engine.cache import Cache
from pyx_server.engine.envs.environment import find_environment
from pyx_server.engine.errors import VenvError
from pyx_server.engine.envs.interpreter import Interpreter, query_interpreter
from pyx_server.engine.envs.venv import create_venv

SHORT = f"{sys.version_info[0]}.{sys.version_info[1]}"
BASE = Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Interpreter:
    """Facts about the real interpreter under the test venv (queried once for the module)."""
    return query_interpreter(BASE, Cache(tmp_path_factory.mktemp("interp-cache")))


@pytest.fixture(scope="module")
def test_venv_python(tmp_path_factory: pytest.TempPathFactory) -> Interpreter:
    """Facts about the test suite's own venv python (a venv, to make venvs from)."""
    return query_interpreter(sys.executable, Cache(tmp_path_factory.mktemp("interp-cache")))


@pytest.fixture
def cache(cache_dir: Path) -> Cache:
    return Cache(cache_dir)


def run_python(venv: Path, code: str) -> dict:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", f"import json, sys, site, sysconfig\nprint(json.dumps({code}))"],
        check=True,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")},
    )
    return json.loads(out.stdout)


def timed_create(path: Path, interpreter: Interpreter, **kwargs):
    started = time.perf_counter()
    env = create_venv(path, interpreter, **kwargs)
    print(f"\ncreate_venv({path.name}): {(time.perf_counter() - started) * 1000:.2f} ms")
    return env


def test_created_venv_runs_with_the_right_prefixes(tmp_path: Path, base: Interpreter) -> None:
    venv = tmp_path / "venv"
    env = timed_create(venv, base)
    site = venv / "lib" / f"python{SHORT}" / "site-packages"
    assert env.root == venv
    assert env.executable == venv / "bin" / "python"
    assert env.site_packages == (site,)
    assert env.installed() == {}
    facts = run_python(venv, "dict(prefix=sys.prefix, base=sys.base_prefix, path=sys.path, exe=sys.executable)")
    assert facts["prefix"] == str(venv)
    assert facts["base"] == sys.base_prefix
    assert str(site) in facts["path"]
    assert facts["exe"] == str(venv / "bin" / "python")
    # no system site-packages by default
    assert not any(p.startswith(sys.base_prefix) and p.endswith("site-packages") for p in facts["path"])


def test_layout_matches_cpython_venv(tmp_path: Path, base: Interpreter) -> None:
    venv = tmp_path / "venv"
    create_venv(venv, base)
    bin_dir = venv / "bin"
    assert os.readlink(bin_dir / "python") == str(BASE)
    assert os.readlink(bin_dir / "python3") == "python"
    assert os.readlink(bin_dir / f"python{SHORT}") == "python"
    for name in ("python", "python3", f"python{SHORT}"):
        assert Path(os.path.realpath(bin_dir / name)) == BASE
    if sys.platform.startswith("linux") and sys.maxsize > 2**32:
        assert os.readlink(venv / "lib64") == "lib"
    assert (venv / ".gitignore").read_text() == "*\n"
    for script in ("activate", "activate.fish", "activate.csh"):
        assert (bin_dir / script).is_file()
    assert not (venv / "lib" / f"python{SHORT}" / "site-packages" / "pip").exists()  # no ensurepip


def test_pyvenv_cfg(tmp_path: Path, base: Interpreter) -> None:
    venv = tmp_path / "venv"
    create_venv(venv, base, prompt="my project", system_site_packages=True)
    cfg = dict(
        (k.strip(), v.strip())
        for k, _, v in (line.partition("=") for line in (venv / "pyvenv.cfg").read_text().splitlines())
    )
    version = ".".join(map(str, sys.version_info[:3]))
    assert cfg["home"] == str(BASE.parent)
    assert cfg["include-system-site-packages"] == "true"
    assert cfg["version"] == version
    assert cfg["version_info"] == version
    assert cfg["executable"] == str(BASE)
    assert cfg["prompt"] == "my project"
    assert "pyx venv" in cfg["command"] and str(venv) in cfg["command"]
    assert "relocatable" not in cfg
    facts = run_python(venv, "dict(path=sys.path)")
    base_site = base.scheme.purelib
    assert str(base_site) in facts["path"]  # system site-packages visible as asked


def test_venv_from_a_venv_points_at_the_real_base(tmp_path: Path, test_venv_python: Interpreter) -> None:
    assert test_venv_python.is_venv  # the test suite runs in a venv
    venv = tmp_path / "child"
    timed_create(venv, test_venv_python)
    assert Path(os.path.realpath(venv / "bin" / "python")) == BASE
    assert os.readlink(venv / "bin" / "python") == str(test_venv_python.base_executable)
    assert not os.readlink(venv / "bin" / "python").startswith(sys.prefix)
    facts = run_python(venv, "dict(prefix=sys.prefix, base=sys.base_prefix)")
    assert facts == {"prefix": str(venv), "base": sys.base_prefix}
    # and a venv made from that venv's python still points at the base: never a chain
    grandchild = tmp_path / "grandchild"
    child_facts = query_interpreter(venv / "bin" / "python", Cache(tmp_path / "c"))
    create_venv(grandchild, child_facts)
    assert os.readlink(grandchild / "bin" / "python") == os.readlink(venv / "bin" / "python")
    assert run_python(grandchild, "sys.base_prefix") == sys.base_prefix


def test_new_venv_facts_match_what_its_python_reports(tmp_path: Path, base: Interpreter, cache: Cache) -> None:
    venv = tmp_path / "venv"
    env = create_venv(venv, base, cache=cache)
    derived = env.interpreter
    asked = query_interpreter(venv / "bin" / "python", Cache(tmp_path / "fresh-cache"))
    for f in dataclasses.fields(Interpreter):
        assert getattr(asked, f.name) == getattr(derived, f.name), f.name
    assert asked == derived


def test_new_venv_needs_no_process_to_install_into(
    tmp_path: Path, base: Interpreter, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = tmp_path / "project" / ".venv"
    create_venv(venv, base, cache=cache)

    def refuse(*args, **kwargs):
        raise AssertionError("spawned a process")

    monkeypatch.setattr(interpreter_module.subprocess, "run", refuse)
    env = find_environment(cwd=tmp_path / "project", env={}, cache=cache)
    assert env.root == venv
    assert env.interpreter.sys_prefix == venv  # from the facts create_venv recorded
    assert env.interpreter.tags == base.tags
    assert query_interpreter(venv / "bin" / "python", cache) == env.interpreter


def test_bash_activation(tmp_path: Path, base: Interpreter) -> None:
    venv = tmp_path / "my env"  # a space in the path must survive quoting
    create_venv(venv, base)
    script = (
        f'PS1="$ "; source "{venv}/bin/activate" && command -v python && echo "$VIRTUAL_ENV" && echo "$PS1"'
        ' && python -c "import sys; print(sys.prefix)"'
        ' && deactivate && echo "${VIRTUAL_ENV:-unset}" && echo "$PATH" && (declare -F deactivate >/dev/null || echo gone)'
    )
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    out = subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True, env=env)
    lines = out.stdout.splitlines()
    assert lines[0] == f"{venv}/bin/python"
    assert lines[1] == str(venv)
    assert lines[2] == "(my env) $ "
    assert lines[3] == str(venv)
    assert lines[4] == "unset"
    assert lines[5] == env["PATH"]
    assert lines[6] == "gone"


def test_bash_activation_twice_does_not_stack(tmp_path: Path, base: Interpreter) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    create_venv(one, base)
    create_venv(two, base)
    script = f'source "{one}/bin/activate" && source "{two}/bin/activate" && deactivate && echo "$PATH"'
    out = subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == os.environ["PATH"]


def test_relocatable_venv_activates_after_a_move(tmp_path: Path, base: Interpreter) -> None:
    create_venv(tmp_path / "before", base, relocatable=True)
    assert "relocatable = true" in (tmp_path / "before" / "pyvenv.cfg").read_text()
    shutil.move(tmp_path / "before", tmp_path / "after")
    out = subprocess.run(
        ["bash", "-c", f'source "{tmp_path}/after/bin/activate" && echo "$VIRTUAL_ENV" && command -v python'],
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.splitlines() == [str(tmp_path / "after"), str(tmp_path / "after" / "bin" / "python")]
    assert run_python(tmp_path / "after", "sys.prefix") == str(tmp_path / "after")


def test_fish_and_csh_scripts(tmp_path: Path, base: Interpreter) -> None:
    venv = tmp_path / "venv"
    create_venv(venv, base, prompt="demo")
    fish = (venv / "bin" / "activate.fish").read_text()
    assert f"set -gx VIRTUAL_ENV '{venv}'" in fish
    assert 'set -gx PATH "$VIRTUAL_ENV/bin" $PATH' in fish
    assert "function deactivate" in fish and "set -gx VIRTUAL_ENV_PROMPT 'demo'" in fish
    csh = (venv / "bin" / "activate.csh").read_text()
    assert f"setenv VIRTUAL_ENV '{venv}'" in csh
    assert 'setenv PATH "$VIRTUAL_ENV/bin:$PATH"' in csh
    assert "alias deactivate" in csh
    for shell, script in (("fish", "activate.fish"), ("csh", "activate.csh"), ("zsh", "activate")):
        if shutil.which(shell):
            command = f'source "{venv}/bin/{script}"; echo $VIRTUAL_ENV'
            out = subprocess.run([shell, "-c", command], check=True, capture_output=True, text=True)
            assert out.stdout.strip() == str(venv), shell


def test_default_prompt_is_the_directory_name(tmp_path: Path, base: Interpreter) -> None:
    create_venv(tmp_path / "proj-env", base)
    assert "VIRTUAL_ENV_PROMPT='proj-env'" in (tmp_path / "proj-env" / "bin" / "activate").read_text()
    cfg_keys = [line.partition("=")[0].strip() for line in (tmp_path / "proj-env" / "pyvenv.cfg").read_text().splitlines()]
    assert "prompt" not in cfg_keys  # written only when asked for, as CPython does


# -- existing paths ---------------------------------------------------------------------------


def test_refuses_a_non_empty_directory_that_is_not_a_venv(tmp_path: Path, base: Interpreter) -> None:
    target = tmp_path / "project"
    target.mkdir()
    (target / "main.py").write_text("print('mine')\n")
    with pytest.raises(VenvError) as exc:
        create_venv(target, base)
    assert f"`{target}`" in exc.value.message
    assert any("--allow-existing" in hint for hint in exc.value.hints)
    assert sorted(os.listdir(target)) == ["main.py"]


def test_allow_existing_writes_over_without_clearing(tmp_path: Path, base: Interpreter) -> None:
    target = tmp_path / "project"
    target.mkdir()
    (target / "main.py").write_text("print('mine')\n")
    create_venv(target, base, allow_existing=True)
    assert (target / "main.py").read_text() == "print('mine')\n"
    assert run_python(target, "sys.prefix") == str(target)
    # twice is fine too: links are replaced
    create_venv(target, base, allow_existing=True)
    assert (target / "main.py").exists()


def test_empty_directory_is_used(tmp_path: Path, base: Interpreter) -> None:
    (tmp_path / "empty").mkdir()
    create_venv(tmp_path / "empty", base)
    assert (tmp_path / "empty" / "pyvenv.cfg").is_file()


def test_existing_venv_is_cleared_and_replaced(tmp_path: Path, base: Interpreter) -> None:
    venv = tmp_path / "venv"
    create_venv(venv, base, prompt="old")
    leftover = venv / "lib" / f"python{SHORT}" / "site-packages" / "leftover.py"
    leftover.write_text("")
    (venv / "stray.txt").write_text("")
    env = create_venv(venv, base)
    assert not leftover.exists()
    assert not (venv / "stray.txt").exists()
    assert "prompt = old" not in (venv / "pyvenv.cfg").read_text()
    assert env.installed() == {}
    assert run_python(venv, "sys.prefix") == str(venv)


def test_path_that_is_a_file(tmp_path: Path, base: Interpreter) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(VenvError) as exc:
        create_venv(tmp_path / "file", base)
    assert "not a directory" in exc.value.message


def test_venv_without_a_known_base_is_refused(tmp_path: Path, test_venv_python: Interpreter) -> None:
    orphan = dataclasses.replace(test_venv_python, base_executable=None)
    with pytest.raises(VenvError) as exc:
        create_venv(tmp_path / "venv", orphan)
    assert f"`{test_venv_python.sys_prefix}`" in exc.value.message
