"""`pyx pip sync` / `pyx pip install --no-deps` end to end, against the local test index."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from pyx_server.engine.cache import Cache
from pyx_server.engine.envs.environment import open_venv
from tests.support.cli import mask, pyx, pyx_process
from tests.support.wheels import build_wheel
from tests.support.envs import site


def installed(venv: Path) -> dict[str, str]:
    return {name: str(d.version) for name, d in open_venv(venv).installed().items()}


def reqs(tmp_path: Path, *lines: str, name: str = "requirements.txt") -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_sync_installs_replaces_and_removes(local_index, venv: Path, tmp_path: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    index.build("alpha", "2.0")
    index.build("beta", "0.1", entry_points={"console_scripts": {"beta": "beta:main"}},
                files={"beta/__init__.py": "def main():\n    print('beta says hi')\n"})
    run = pyx("pip", "sync", reqs(tmp_path, "alpha==1.0", "beta==0.1"), "-i", index.url, "-p", venv)
    assert run.code == 0, run.err
    assert installed(venv) == {"alpha": "1.0", "beta": "0.1"}
    assert mask(run.err).splitlines()[-2:] == [" + alpha==1.0", " + beta==0.1"]
    import subprocess

    assert subprocess.run([venv / "bin" / "beta"], capture_output=True, text=True).stdout == "beta says hi\n"
    dist_info = site(venv) / "alpha-1.0.dist-info"
    assert (dist_info / "INSTALLER").read_text().strip() == "pyx"

    run = pyx("pip", "sync", reqs(tmp_path, "alpha==2.0"), "-i", index.url, "-p", venv)
    assert run.code == 0, run.err
    assert installed(venv) == {"alpha": "2.0"}
    lines = mask(run.err).splitlines()
    assert lines[-3:] == [" - alpha==1.0", " + alpha==2.0", " - beta==0.1"]
    assert not (venv / "bin" / "beta").exists()
    assert not dist_info.exists()


def test_noop_sync_needs_no_index(local_index, venv: Path, tmp_path: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    req = reqs(tmp_path, "alpha==1.0")
    assert pyx("pip", "sync", req, "-i", index.url, "-p", venv).code == 0
    url = index.url
    index.close()  # nothing may be asked of the index now
    run = pyx("pip", "sync", req, "-i", url, "-p", venv)
    assert run.code == 0, run.err
    assert mask(run.err) == "Audited 1 package in [TIME]\n"


def test_dry_run_prints_plan_and_changes_nothing(local_index, venv: Path, tmp_path: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    index.build("gamma", "3.0")
    assert pyx("pip", "install", "--no-deps", "gamma==3.0", "-i", index.url, "-p", venv).code == 0
    run = pyx("pip", "sync", reqs(tmp_path, "alpha==1.0"), "-i", index.url, "-p", venv, "--dry-run")
    assert run.code == 0, run.err
    assert " + alpha==1.0 (download)" in run.err
    assert " - gamma==3.0 (not in the requirements)" in run.err
    assert installed(venv) == {"gamma": "3.0"}
    run = pyx("pip", "sync", reqs(tmp_path, "alpha==1.0"), "-i", index.url, "-p", venv, "--dry-run", "--format", "json")
    plan = json.loads(run.out)["plan"]
    assert plan["remote"] == [{"name": "alpha", "version": "1.0", "filename": "alpha-1.0-py3-none-any.whl"}]
    assert plan["extraneous"] == [{"name": "gamma", "version": "3.0"}]


@pytest.mark.parametrize("mode", ["hardlink", "copy", "symlink", "clone"])
def test_link_modes(local_index, venv: Path, tmp_path: Path, cache_dir: Path, mode: str) -> None:
    index = local_index()
    served = index.build("alpha", "1.0")
    run = pyx("pip", "install", "--no-deps", "alpha==1.0", "-i", index.url, "-p", venv, "--link-mode", mode)
    assert run.code == 0, run.err
    installed_file = site(venv) / "alpha" / "__init__.py"
    cached_file = Cache(cache_dir).archive(served.sha256) / "alpha" / "__init__.py"
    assert installed_file.read_text() == cached_file.read_text()
    if mode == "hardlink":
        assert installed_file.stat().st_ino == cached_file.stat().st_ino
    elif mode == "copy":
        assert installed_file.stat().st_ino != cached_file.stat().st_ino
    elif mode == "symlink":
        assert installed_file.is_symlink() and installed_file.resolve() == cached_file.resolve()
    else:
        # clone where the filesystem can reflink; elsewhere the fallback is said, not silent
        assert not installed_file.is_symlink()
        if installed_file.stat().st_ino == cached_file.stat().st_ino or "falling back" in run.err:
            pass
        else:
            assert installed_file.stat().st_ino != cached_file.stat().st_ino  # a real clone
    # the cache is never modified through the environment's files
    assert Cache(cache_dir).archive(served.sha256) is not None


def test_default_link_mode_from_env(local_index, venv: Path, monkeypatch, cache_dir: Path) -> None:
    index = local_index()
    served = index.build("alpha", "1.0")
    monkeypatch.setenv("PYX_LINK_MODE", "copy")
    assert pyx("pip", "install", "--no-deps", "alpha==1.0", "-i", index.url, "-p", venv).code == 0
    cached = Cache(cache_dir).archive(served.sha256) / "alpha" / "__init__.py"
    assert (site(venv) / "alpha" / "__init__.py").stat().st_ino != cached.stat().st_ino
    monkeypatch.setenv("PYX_LINK_MODE", "teleport")
    run = pyx("pip", "install", "--no-deps", "alpha==1.0", "-i", index.url, "-p", venv, "--reinstall")
    assert run.code == 2 and "teleport" in run.err


def test_missing_package_is_one_readable_error(local_index, venv: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    proc = pyx_process("pip", "install", "--no-deps", "nosuchthing==1.0", "-i", index.url, "-p", venv)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: `nosuchthing` was not found")
    assert "hint:" in proc.stderr


def test_no_matching_version_lists_available(local_index, venv: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    index.build("alpha", "1.1")
    run = pyx("pip", "install", "--no-deps", "alpha==7", "-i", index.url, "-p", venv)
    assert run.code == 2
    assert "no version of `alpha` matches `alpha==7`" in run.err
    assert "1.0, 1.1" in run.err


def test_index_hash_mismatch_rejects_and_leaves_everything_clean(local_index, venv: Path, cache_dir: Path) -> None:
    index = local_index()
    index.add(build_wheel(venv.parent / "w", "alpha", "1.0"), hashes={"sha256": "0" * 64})
    run = pyx("pip", "install", "--no-deps", "alpha==1.0", "-i", index.url, "-p", venv)
    assert run.code == 2
    assert "alpha-1.0-py3-none-any.whl" in run.err and "0" * 64 in run.err
    assert installed(venv) == {}
    assert not list((cache_dir / "archive-v1").glob("*")) if (cache_dir / "archive-v1").exists() else True


def test_a_pin_missing_from_the_first_index_that_has_the_package_says_how_to_ask_the_others(
    local_index, venv: Path
) -> None:
    mirror, main = local_index(), local_index()
    mirror.build("alpha", "1.0")
    main.build("alpha", "2.0")
    # extra indexes come first, as in uv: the mirror has alpha, so the main index is not asked
    run = pyx("pip", "install", "--no-deps", "alpha==2.0", "-i", main.url, "--extra-index-url", mirror.url, "-p", venv)
    assert run.code != 0
    assert "no version of `alpha` matches `alpha==2.0`" in run.err
    assert f"`alpha` was found on `{mirror.url}`" in run.err and f"`{main.url}`" in run.err
    assert "--index-strategy unsafe-best-match" in run.err
    assert installed(venv) == {}
    run = pyx("pip", "install", "--no-deps", "alpha==2.0", "-i", main.url, "--extra-index-url", mirror.url,
              "--index-strategy", "unsafe-best-match", "-p", venv)
    assert run.code == 0, run.err
    assert installed(venv) == {"alpha": "2.0"}


def test_a_pin_missing_from_the_only_index_gets_no_strategy_hint(local_index, venv: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    run = pyx("pip", "install", "--no-deps", "alpha==2.0", "-i", index.url, "-p", venv)
    assert run.code != 0 and "available versions: 1.0" in run.err
    assert "index-strategy" not in run.err


def test_user_hash_mismatch_and_match(local_index, venv: Path, tmp_path: Path) -> None:
    index = local_index()
    served = index.build("alpha", "1.0")
    run = pyx("pip", "sync", reqs(tmp_path, f"alpha==1.0 --hash=sha256:{'1' * 64}"), "-i", index.url, "-p", venv)
    assert run.code == 2
    assert "hash" in run.err and "alpha" in run.err
    assert installed(venv) == {}
    run = pyx("pip", "sync", reqs(tmp_path, f"alpha==1.0 --hash=sha256:{served.sha256}"), "-i", index.url, "-p", venv)
    assert run.code == 0, run.err
    assert installed(venv) == {"alpha": "1.0"}


def test_require_hashes_refuses_unhashed_or_unpinned(local_index, venv: Path, tmp_path: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    run = pyx("pip", "sync", reqs(tmp_path, "alpha==1.0"), "--require-hashes", "-i", index.url, "-p", venv)
    assert run.code == 2 and "`alpha==1.0` has no `--hash`" in run.err
    run = pyx("pip", "sync", reqs(tmp_path, f"alpha>=1.0 --hash=sha256:{'1' * 64}"), "-i", index.url, "-p", venv)
    assert run.code == 2 and "not pinned" in run.err


def test_zip_slip_wheel_is_refused_and_nothing_written(local_index, venv: Path, tmp_path: Path, cache_dir: Path) -> None:
    index = local_index()
    evil = build_wheel(tmp_path / "w", "evil", "1.0", raw_members={"../../../../escaped.txt": b"gotcha"})
    index.add(evil)
    before = sorted(p.relative_to(venv) for p in venv.rglob("*"))
    run = pyx("pip", "install", "--no-deps", "evil==1.0", "-i", index.url, "-p", venv)
    assert run.code == 2
    assert "`../../../../escaped.txt`" in run.err
    # (the environment's lock file, taken before planning, is all that may appear)
    assert sorted(p.relative_to(venv) for p in venv.rglob("*") if p != venv / ".lock") == before
    assert not list(tmp_path.rglob("escaped.txt"))
    archives = cache_dir / "archive-v1"
    assert not archives.exists() or not [p for p in archives.iterdir() if not p.name.endswith(".lock")]


def test_offline_uses_cache_and_names_what_is_missing(local_index, venv: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    index.build("beta", "1.0")
    assert pyx("pip", "install", "--no-deps", "alpha==1.0", "-i", index.url, "-p", venv).code == 0
    assert pyx("pip", "uninstall", "alpha", "-p", venv).code == 0
    url = index.url
    index.close()
    run = pyx("pip", "install", "--no-deps", "alpha==1.0", "-i", url, "-p", venv, "--offline")
    assert run.code == 0, run.err
    assert installed(venv) == {"alpha": "1.0"}
    run = pyx("pip", "install", "--no-deps", "beta==1.0", "-i", url, "-p", venv, "--offline")
    assert run.code == 2
    assert "offline" in run.err.lower() and "beta" in run.err


def test_offline_without_any_cache(local_index, venv: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    run = pyx("pip", "install", "--no-deps", "alpha==1.0", "-i", index.url, "-p", venv, "--offline")
    assert run.code == 2
    assert "alpha" in run.err and "offline" in run.err.lower()
    assert index.requests == []


def test_credentials_never_appear_in_output_or_cache(local_index, venv: Path, tmp_path: Path, cache_dir: Path) -> None:
    index = local_index(auth=("pyxuser", "s3cr3t-pa55"))
    index.build("alpha", "1.0")
    index.fail(times=1, path="/simple/alpha/")
    run = pyx("-v", "pip", "install", "--no-deps", "alpha==1.0", "-i", index.auth_url, "-p", venv)
    assert run.code == 0, run.err
    failing = pyx("-v", "pip", "install", "--no-deps", "nothere==1.0", "-i", index.auth_url, "-p", venv, "--format", "json")
    for text in (run.output, failing.output):
        assert "s3cr3t-pa55" not in text
    for path in cache_dir.rglob("*"):
        assert "s3cr3t" not in path.name
        if path.is_file() and path.stat().st_size < 1_000_000:
            assert b"s3cr3t-pa55" not in path.read_bytes(), path
    for path in site(venv).rglob("*"):
        if path.is_file():
            assert b"s3cr3t-pa55" not in path.read_bytes(), path


def test_server_error_once_is_retried(local_index, venv: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    index.fail(times=1, status=503, path="/simple/alpha/")
    run = pyx("pip", "install", "--no-deps", "alpha==1.0", "-i", index.url, "-p", venv)
    assert run.code == 0, run.err
    assert [r.status for r in index.requests_to("/simple/alpha/")] == [503, 200]


def test_server_error_always_is_a_readable_error(local_index, venv: Path, monkeypatch) -> None:
    monkeypatch.setenv("PYX_HTTP_RETRIES", "1")
    index = local_index()
    index.build("alpha", "1.0")
    index.fail(times=10, status=500, path="/simple/alpha/")
    run = pyx("pip", "install", "--no-deps", "alpha==1.0", "-i", index.url, "-p", venv)
    assert run.code == 2
    assert "500" in run.err and "127.0.0.1" in run.err
    assert len(index.requests_to("/simple/alpha/")) == 2


@pytest.mark.parametrize("in_memory", [True, False], ids=["into-memory", "into-a-file"])
def test_dropped_download_is_retried(local_index, venv: Path, monkeypatch, in_memory: bool) -> None:
    import pyx_server.engine.install.fetch as fetch

    if not in_memory:  # big wheels go through a temporary file
        monkeypatch.setattr(fetch, "_IN_MEMORY_MAX", 0)
    index = local_index()
    served = index.build("alpha", "1.0", files={"alpha/data.bin": os.urandom(200_000), "alpha/__init__.py": ""})
    index.drop_connection(served.filename)
    run = pyx("pip", "install", "--no-deps", "alpha==1.0", "-i", index.url, "-p", venv)
    assert run.code == 0, run.err
    assert len(index.requests_to(f"/files/{served.filename}")) == 2
    assert (site(venv) / "alpha" / "data.bin").stat().st_size == 200_000


def test_wheel_path_and_url_get_direct_url_json(local_index, venv: Path, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist", "localpkg", "0.3")
    run = pyx("pip", "install", "--no-deps", wheel, "-p", venv)
    assert run.code == 0, run.err
    direct = json.loads((site(venv) / "localpkg-0.3.dist-info" / "direct_url.json").read_text())
    assert direct["url"] == wheel.as_uri()
    assert "sha256" in direct["archive_info"]["hashes"]
    # satisfied by the same path: nothing to do
    run = pyx("pip", "install", "--no-deps", wheel, "-p", venv)
    assert "Audited 1 package" in run.err
    assert pyx("pip", "freeze", "-p", venv).out == f"localpkg @ {wheel.as_uri()}\n"

    index = local_index()
    served = index.build("remote", "1.5")
    run = pyx("pip", "install", "--no-deps", f"remote @ {index.file_url(served.filename)}", "-p", venv)
    assert run.code == 0, run.err
    direct = json.loads((site(venv) / "remote-1.5.dist-info" / "direct_url.json").read_text())
    assert direct["url"] == index.file_url(served.filename)


def test_find_links_directory_and_no_index(venv: Path, tmp_path: Path) -> None:
    links = tmp_path / "links"
    build_wheel(links, "flat", "1.0")
    build_wheel(links, "flat", "1.2")
    run = pyx("pip", "install", "--no-deps", "flat", "--no-index", "-f", links, "-p", venv)
    assert run.code == 0, run.err
    assert installed(venv) == {"flat": "1.2"}


def test_pip_configuration_is_honoured(local_index, venv: Path, tmp_path: Path, monkeypatch) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = {index.url}\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    run = pyx("pip", "install", "--no-deps", "alpha==1.0", "-p", venv)
    assert run.code == 0, run.err
    assert index.count("/simple/alpha/") == 1


def test_yanked_only_when_pinned(local_index, venv: Path, tmp_path: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    index.add(build_wheel(tmp_path / "w", "alpha", "1.1"), yanked="broken build")
    assert pyx("pip", "install", "--no-deps", "alpha", "-i", index.url, "-p", venv).code == 0
    assert installed(venv) == {"alpha": "1.0"}
    assert pyx("pip", "install", "--no-deps", "alpha==1.1", "-i", index.url, "-p", venv).code == 0
    assert installed(venv) == {"alpha": "1.1"}


def test_markers_skip_requirements_for_other_platforms(local_index, venv: Path, tmp_path: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    run = pyx("pip", "sync", reqs(tmp_path, "alpha==1.0", "winonly==1.0 ; sys_platform == 'win32'"), "-i", index.url, "-p", venv)
    assert run.code == 0, run.err
    assert installed(venv) == {"alpha": "1.0"}


def test_no_environment_refuses_the_system_python(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    run = pyx("pip", "install", "--no-deps", "alpha==1.0", cwd=tmp_path)
    assert run.code == 2
    assert "No virtual environment found" in run.err and "--system" in run.err


def test_cached_pins_need_no_index_page(local_index, tmp_path: Path, cache_dir: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    index.build("alpha", "2.0")
    first = tmp_path / "one"
    second = tmp_path / "two"
    for path in (first, second):
        assert pyx("venv", path, "--python", sys.executable).code == 0
    req = reqs(tmp_path, "alpha==1.0")
    assert pyx("pip", "sync", req, "-i", index.url, "-p", first).code == 0
    index.clear_log()
    # a fresh environment, same pin: linked from the cache without asking the index
    run = pyx("pip", "sync", req, "-i", index.url, "-p", second)
    assert run.code == 0, run.err
    assert index.requests == []
    assert installed(second) == {"alpha": "1.0"}
    # another version, or --refresh, asks again
    assert pyx("pip", "sync", reqs(tmp_path, "alpha==2.0", name="two.txt"), "-i", index.url, "-p", second).code == 0
    assert index.count("/simple/alpha/") == 1
    run = pyx("pip", "sync", req, "-i", index.url, "-p", second, "--refresh")
    assert run.code == 0, run.err
    assert index.count("/simple/alpha/") == 2, (run.err, index.requests)
    # a hash the cached wheel does not have is not satisfied from the cache
    bad = reqs(tmp_path, f"alpha==1.0 --hash=sha256:{'3' * 64}", name="bad.txt")
    run = pyx("pip", "sync", bad, "-i", index.url, "-p", first, "--reinstall")
    assert run.code == 2 and "hash" in run.err
    # a different index is a different source: its pages are asked
    other = local_index()
    other.build("alpha", "1.0")
    assert pyx("pip", "sync", req, "-i", other.url, "-p", first, "--reinstall").code == 0
    assert other.count("/simple/alpha/") == 1


def test_externally_managed_python_is_refused(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from pyx_server.engine.errors import PyxError
    from pyx_server.engine.install.operations import _check_not_externally_managed

    stdlib = tmp_path / "lib" / "python3.11"
    stdlib.mkdir(parents=True)
    interpreter = SimpleNamespace(base_prefix=tmp_path, version_short="3.11", executable=tmp_path / "bin" / "python3")
    system = SimpleNamespace(is_venv=False, interpreter=interpreter)
    _check_not_externally_managed(system)  # no marker: fine
    (stdlib / "EXTERNALLY-MANAGED").write_text("[externally-managed]\n")
    with pytest.raises(PyxError, match="externally managed") as exc:
        _check_not_externally_managed(system)
    assert any("--break-system-packages" in h for h in exc.value.hints)
    _check_not_externally_managed(SimpleNamespace(is_venv=True, interpreter=interpreter))


def test_constraints_file_restricts_unpinned_requirements(local_index, venv: Path, tmp_path: Path) -> None:
    index = local_index()
    index.build("alpha", "1.5")
    index.build("alpha", "2.0")
    cons = reqs(tmp_path, "alpha<2", "neverinstalled==1", name="constraints.txt")
    run = pyx("pip", "install", "--no-deps", "alpha", "-c", cons, "-i", index.url, "-p", venv)
    assert run.code == 0, run.err
    assert installed(venv) == {"alpha": "1.5"}


def test_usage_errors_are_rendered_like_other_errors(venv: Path) -> None:
    run = pyx("pip", "sync", "-p", venv)
    assert run.code == 2 and run.err.startswith("error: `pyx pip sync` needs a requirements file")
    run = pyx("pip", "uninstall", "-p", venv)
    assert run.code == 2 and run.err.startswith("error: name the packages")


def test_engine_warnings_reach_piped_output(local_index, venv: Path, tmp_path: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    run = pyx("pip", "install", "--no-deps", "alpha==1.0", "-i", index.url, "-f", (tmp_path / "no-such-dir").as_uri(), "-p", venv)
    assert run.code == 0, run.err
    assert "warning:" in run.err and "no-such-dir" in run.err
