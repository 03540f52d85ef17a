"""The pip-style use cases of ``engine.api`` called as a server would: everything from the ``Context``.

A Jupyter server serves many notebooks from one process: these tests give each call a
context whose directory and environment variables are not the process's own (and make the
process's own misleading), so a use case that read ``os.environ`` or the working directory
behind the caller's back would act on the wrong environment and fail here.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from pyx_server.engine.api import (
    Context,
    IndexRequest,
    PinnedPackage,
    PipCompileResult,
    format_requirements,
    pip_check,
    pip_compile,
    pip_freeze,
    pip_install,
    pip_list,
    pip_show,
    pip_uninstall,
)
from pyx_server.engine.api.blocking import run
from pyx_server.engine.cache import Cache
from pyx_server.engine.envs.environment import open_venv
from pyx_server.engine.envs.interpreter import query_interpreter
from pyx_server.engine.envs.venv import create_venv
from pyx_server.engine.errors import PyxWarning, UsageError
from pyx_server.engine.progress import CollectingReporter, Installed


@pytest.fixture
def project(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with its own ``.venv``; the process's own directory and ``VIRTUAL_ENV``
    point elsewhere (at a directory that is no environment at all)."""
    root = tmp_path / "project"
    root.mkdir()
    cache = Cache(cache_dir)
    create_venv(root / ".venv", query_interpreter(sys.executable, cache), cache=cache)
    decoy = tmp_path / "decoy"
    (decoy / "not-a-venv").mkdir(parents=True)
    monkeypatch.chdir(decoy)
    monkeypatch.setenv("VIRTUAL_ENV", str(decoy / "not-a-venv"))
    return root


def context_for(root: Path, cache_dir: Path, **options) -> Context:
    env = {"PATH": os.environ.get("PATH", ""), "PIP_CONFIG_FILE": os.devnull, "HOME": str(root)}
    return Context(cache=Cache(cache_dir), env=env, cwd=root, **options)


def installed(venv: Path) -> dict[str, str]:
    return {name: str(d.version) for name, d in open_venv(venv).installed().items()}


def test_install_reads_files_environment_and_indexes_from_the_context(local_index, project: Path, cache_dir: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0", requires_dist=["beta>=1"])
    index.build("beta", "1.0")
    # a relative file, naming its index itself: both must be read from the context's directory
    (project / "r.txt").write_text(f"--index-url {index.url}\nalpha==1.0\n")
    reporter = CollectingReporter()
    result = run(pip_install(context_for(project, cache_dir, reporter=reporter), requirement_files=["r.txt"]))
    assert installed(project / ".venv") == {"alpha": "1.0", "beta": "1.0"}
    assert result.environment == str(project / ".venv")
    assert sorted((c.name, c.version) for c in result.installed) == [("alpha", "1.0"), ("beta", "1.0")]
    # every event of the call carries its operation id
    assert reporter.events and all(e.operation.startswith("pip-install-") for e in reporter.events)
    assert len({e.operation for e in reporter.events}) == 1
    assert {e.name for e in reporter.events if isinstance(e, Installed)} == {"alpha", "beta"}
    data = json.loads(json.dumps(result.to_dict()))
    assert data["environment"] == str(project / ".venv") and data["dry_run"] is False
    assert isinstance(data["timings"]["install"], float) and isinstance(data["audited"], int)
    assert {p["name"] for p in data["installed"]} == {"alpha", "beta"}


def test_sync_warns_with_a_typed_warning_and_a_warm_sync_is_a_noop(local_index, project: Path, cache_dir: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    (project / "r.txt").write_text("alpha>=1\n")
    ctx = context_for(project, cache_dir, index=IndexRequest(index_url=index.url))
    result = run(pip_install(ctx, requirement_files=["r.txt"], exact=True))
    assert installed(project / ".venv") == {"alpha": "1.0"}
    [warning] = result.warnings
    assert isinstance(warning, PyxWarning) and warning.code == "unpinned-requirement" and "`alpha>=1`" in warning.message
    assert result.to_dict()["warnings"][0]["code"] == "unpinned-requirement"
    index.fail(100)  # the second sync must not need the index: nothing is missing
    again = run(pip_install(ctx, requirement_files=["r.txt"], exact=True))
    assert again.is_noop and again.audited == 1 and again.installed == ()


def test_sync_needs_a_file_and_install_needs_something(project: Path, cache_dir: Path) -> None:
    ctx = context_for(project, cache_dir)
    with pytest.raises(UsageError, match="needs a requirements file"):
        run(pip_install(ctx, ["alpha"], exact=True))
    with pytest.raises(UsageError, match="nothing to install"):
        run(pip_install(ctx))


def test_dry_run_plans_and_changes_nothing(local_index, project: Path, cache_dir: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    ctx = context_for(project, cache_dir, index=IndexRequest(index_url=index.url))
    result = run(pip_install(ctx, ["alpha==1.0"], no_deps=True, dry_run=True))
    assert result.dry_run and [p.source.name for p in result.plan.installs] == ["alpha"]
    assert installed(project / ".venv") == {}


def test_bad_resolution_flags_are_usage_errors(project: Path, cache_dir: Path) -> None:
    ctx = context_for(project, cache_dir)
    with pytest.raises(UsageError, match="`yesterday` is not a date"):
        run(pip_install(ctx, ["alpha"], exclude_newer="yesterday"))
    with pytest.raises(UsageError, match="`sometimes` is not a pre-release mode"):
        run(pip_install(ctx, ["alpha"], prerelease="sometimes"))


def test_list_freeze_show_check_and_uninstall(local_index, project: Path, cache_dir: Path) -> None:
    index = local_index()
    index.build("app", "1.0", requires_dist=["lib>=2", "extra-only ; extra == 'x'"], summary="The app", extras=["x"])
    index.build("lib", "1.0")
    ctx = context_for(project, cache_dir, index=IndexRequest(index_url=index.url))
    run(pip_install(ctx, ["app==1.0", "lib==1.0"], no_deps=True))

    listed = run(pip_list(ctx))
    assert [(p.name, p.version) for p in listed.packages] == [("app", "1.0"), ("lib", "1.0")]
    assert run(pip_freeze(ctx)).requirements == ("app==1.0", "lib==1.0")

    shown = run(pip_show(ctx, ["lib", "app", "nothere"]))
    assert [p.name for p in shown.packages] == ["lib", "app"]
    lib, app = shown.packages
    assert lib.required_by == ("app",) and app.requires == ("lib",)  # the extra's requirement is left out
    assert app.summary == "The app" and app.location.endswith("site-packages")
    assert shown.missing == ("nothere",) and shown.warnings[0].code == "not-installed"

    checked = run(pip_check(ctx))
    assert not checked.ok and checked.checked == 2
    [problem] = checked.problems
    assert problem.required_by == "app 1.0" and problem.found == "1.0" and "lib" in problem.requirement
    assert json.loads(json.dumps(checked.to_dict()))["problems"][0]["found"] == "1.0"

    removed = run(pip_uninstall(ctx, ["lib", "ghost"]))
    assert [c.name for c in removed.uninstalled] == ["lib"] and removed.missing == ("ghost",)
    assert installed(project / ".venv") == {"app": "1.0"}


def test_compile_resolves_relative_files_in_the_context_directory(local_index, project: Path, cache_dir: Path) -> None:
    index = local_index()
    index.build("app", "1.0", requires_dist=["lib"])
    index.build("lib", "1.0")
    index.build("lib", "2.0")
    (project / "requirements.in").write_text("app\n")
    (project / "c.txt").write_text("lib<2\n")
    ctx = context_for(project, cache_dir, index=IndexRequest(index_url=index.url))
    result = run(pip_compile(ctx, ["requirements.in"], constraints=["c.txt"]))
    pins = {p.name: p for p in result.packages}
    assert {n: p.version for n, p in pins.items()} == {"app": "1.0", "lib": "1.0"}
    assert pins["app"].direct and pins["app"].source_file is not None and pins["app"].source_file.endswith("requirements.in")
    assert pins["lib"].via == ("app",) and pins["lib"].hashes[0].startswith("sha256:")


def test_format_requirements_is_uvs_layout() -> None:
    result = PipCompileResult((
        PinnedPackage("app", "1.0", "app==1.0", via=(None,), source_file="requirements.in", hashes=("sha256:bb", "sha256:aa")),
        PinnedPackage("lib", "2.0", "lib==2.0", via=("app", "tool")),
    ))
    text = format_requirements(result, command=["pip", "compile", "-i", "http://user:secret@127.0.0.1:9/simple", "requirements.in"],
                               generate_hashes=True)
    assert text == (
        "# This file was autogenerated by pyx via the following command:\n"
        "#    pyx pip compile -i http://****@127.0.0.1:9/simple requirements.in\n"
        "app==1.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n"
        "    # via -r requirements.in\n"
        "lib==2.0\n"
        "    # via\n"
        "    #   app\n"
        "    #   tool\n"
    )
    assert format_requirements(result, annotate=False) == "app==1.0\nlib==2.0\n"
