"""``gpu_report`` / ``gpu_variants`` and the housekeeping use cases of ``engine.api``, called as a server would.

The GPU readers and the environment variables come from the ``Context``; the process's own
variables say something else, so a use case reading ``os.environ`` would answer wrongly.
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
    cache_clean,
    cache_prune,
    gpu_report,
    gpu_variants,
    venv,
)
from pyx_server.engine.api.blocking import run
from pyx_server.engine.api import cache_dir as cache_dir_of
from pyx_server.engine.cache import Cache
from pyx_server.engine.errors import TorchIndexNotConfigured
from tests.support.gpu_fixtures import FakeMachine, fake_machine, variant_index  # noqa: F401


@pytest.fixture
def misleading_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The process's own variables name another backend and an index that does not answer."""
    monkeypatch.setenv("PYX_TORCH_BACKEND", "rocm6.3")
    monkeypatch.setenv("PYX_TORCH_INDEX_URL", "http://127.0.0.1:9/nothing")
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    monkeypatch.chdir(decoy)


def gpu_context(machine: FakeMachine, cache: Path, **env: str) -> Context:
    readers = machine.readers(env=env)
    return Context(cache=Cache(cache), env=dict(readers.env), cwd=machine.root, gpu=readers)


def test_report_without_a_variant_index_says_what_to_set(fake_machine: FakeMachine, cache_dir: Path, misleading_process) -> None:
    fake_machine.nvidia_sys("550.144.03")
    report = run(gpu_report(gpu_context(fake_machine, cache_dir)))
    assert report.accelerator.kind == "nvidia" and report.accelerator.driver_version == "550.144.03"
    assert report.choice.variant.startswith("cu") and not report.choice.explicit
    assert report.index.consulted is False and report.index.url is None
    assert "PYX_TORCH_INDEX_URL" in report.index.note
    assert report.index.hints and all(h.action == "set-torch-index" for h in report.index.hints)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["variant"] == report.choice.variant and data["index"]["offered"] is None
    assert data["accelerator"]["driver_version"] == "550.144.03"


def test_an_explicit_backend_from_the_context_wins(fake_machine: FakeMachine, cache_dir: Path, misleading_process) -> None:
    fake_machine.nvidia_sys("550.144.03")
    report = run(gpu_report(gpu_context(fake_machine, cache_dir, PYX_TORCH_BACKEND="cpu")))
    assert report.choice.variant == "cpu" and report.choice.explicit
    assert report.index.note.startswith("not consulted: the variant was chosen explicitly")
    flagged = run(gpu_report(gpu_context(fake_machine, cache_dir, PYX_TORCH_BACKEND="cpu"), torch_backend="cu126"))
    assert flagged.choice.variant == "cu126"


def test_the_variant_index_narrows_the_choice_and_lists_verdicts(fake_machine: FakeMachine, variant_index, cache_dir: Path,
                                                                 misleading_process) -> None:
    from packaging.tags import sys_tags

    index = variant_index()
    here = str(next(iter(sys_tags())))
    for variant in ("cpu", "cu126", "cu128"):
        index.build(variant, "torch", "2.7.1", tag=here)
    ctx = gpu_context(fake_machine, cache_dir, PYX_CUDA_DRIVER_VERSION="580.65.06", PYX_TORCH_INDEX_URL=index.base_url)
    report = run(gpu_report(ctx))
    assert report.index.consulted and sorted(report.index.offered) == ["cpu", "cu126", "cu128"]
    assert report.choice.variant == "cu128"
    listing = run(gpu_variants(ctx, "torch", version="2.7.1", torch_backend="cu126"))
    assert listing.version == "2.7.1" and listing.choice.variant == "cu126" and listing.choice.explicit
    assert [v.variant for v in listing.variants if v.chosen] == ["cu126"]
    assert json.loads(json.dumps(listing.to_dict()))["variants"][0]["variant"] in ("cpu", "cu126", "cu128")


def test_variants_without_an_index_is_a_coded_error(fake_machine: FakeMachine, cache_dir: Path, misleading_process) -> None:
    with pytest.raises(TorchIndexNotConfigured) as caught:
        run(gpu_variants(gpu_context(fake_machine, cache_dir)))
    assert caught.value.code == "torch-index-not-configured"


def test_venv_and_the_cache_use_cases(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "here"
    root.mkdir()
    monkeypatch.chdir(tmp_path)  # the process's directory is not the context's
    ctx = Context(cache=Cache(tmp_path / "c"), env={"PATH": os.environ.get("PATH", ""), "PYX_DATA_DIR": str(tmp_path / "d")},
                  cwd=root, python=sys.executable, index=IndexRequest(offline=True))
    made = run(venv(ctx, "env"))
    assert made.path == str(root / "env") and (root / "env" / "pyvenv.cfg").is_file()
    assert made.python_version == ".".join(map(str, sys.version_info[:3])) and made.seeded == ()
    assert run(cache_dir_of(ctx)).path == str(tmp_path / "c")
    (tmp_path / "c" / "simple-v1").mkdir(parents=True, exist_ok=True)
    (tmp_path / "c" / "simple-v1" / "x.json").write_text("{}")
    pruned = run(cache_prune(ctx))
    assert pruned.environments == ()
    cleaned = run(cache_clean(ctx))
    assert cleaned.files is not None and cleaned.files >= 1 and not (tmp_path / "c" / "simple-v1").exists()
    assert run(cache_clean(ctx, ["alpha"])).packages == (("alpha", 0),)
