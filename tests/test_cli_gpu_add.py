"""`pyx add torch` records the PyTorch build this machine needs, so runs and `uv run` install it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pyx_server.engine.inline import read_metadata
from tests.support.cli import pyx
from tests.support.gpu_fixtures import variant_index  # noqa: F401 - the fixture


def test_add_torch_routes_to_the_variant_the_driver_runs(variant_index, local_index, monkeypatch, tmp_path: Path) -> None:  # noqa: F811
    variants = variant_index()
    for variant in ("cpu", "cu126", "cu128"):
        variants.build(variant, "torch", "2.7.1")
    default = local_index()
    default.build("torch", "2.7.1")  # the default index's own build must not be the one installed
    monkeypatch.setenv("PYX_INDEX_URL", default.url)
    monkeypatch.setenv("PYX_TORCH_INDEX_URL", variants.base_url)
    monkeypatch.setenv("PYX_CUDA_DRIVER_VERSION", "550.54.14")
    monkeypatch.setenv("PYX_DATA_DIR", str(tmp_path / "data"))
    script = tmp_path / "train.py"
    script.write_text("import torch\nprint(torch.__version__)\n")

    run = pyx("add", "torch", "--script", script, "--python", sys.executable)
    assert run.code == 0, run.err
    assert "cu128" in run.err
    meta = read_metadata(script)
    assert meta.uv["index"][0]["name"] == "pytorch-cu128" and meta.uv["index"][0]["explicit"] is True
    assert meta.uv_sources["torch"]["index"] == "pytorch-cu128"
    out = subprocess.run([sys.executable, "-m", "pyx_server", "run", "--python", sys.executable, str(script)],
                         capture_output=True, text=True, env=os.environ.copy(), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2.7.1+cu128"


def test_explicit_backend_wins(variant_index, local_index, monkeypatch, tmp_path: Path) -> None:  # noqa: F811
    variants = variant_index()
    for variant in ("cpu", "cu128"):
        variants.build(variant, "torch", "2.7.1")
    monkeypatch.setenv("PYX_INDEX_URL", local_index().url)
    monkeypatch.setenv("PYX_TORCH_INDEX_URL", variants.base_url)
    monkeypatch.setenv("PYX_CUDA_DRIVER_VERSION", "550.54.14")
    script = tmp_path / "s.py"
    script.write_text("import torch\n")
    run = pyx("add", "torch", "--script", script, "--torch-backend", "cpu", "--python", sys.executable)
    assert run.code == 0, run.err
    assert read_metadata(script).uv_sources["torch"]["index"] == "pytorch-cpu"


def test_without_a_variant_index_it_says_what_to_set(local_index, monkeypatch, tmp_path: Path) -> None:
    default = local_index()
    default.build("torch", "2.7.1")
    monkeypatch.setenv("PYX_INDEX_URL", default.url)
    script = tmp_path / "s.py"
    script.write_text("import torch\n")
    run = pyx("add", "torch", "--script", script, "--python", sys.executable)
    assert run.code == 0, run.err
    assert "warning: the PyTorch family is installed from the default index" in run.err
    assert "  hint: set `PYX_TORCH_INDEX_URL` to the base URL" in run.err and "Traceback" not in run.err
    assert "sources" not in (read_metadata(script).uv or {})


def test_sync_keeps_the_recorded_build_until_asked_to_choose_again(variant_index, local_index, monkeypatch, tmp_path: Path) -> None:  # noqa: F811
    variants = variant_index()
    for variant in ("cpu", "cu128"):
        variants.build(variant, "torch", "2.7.1")
    monkeypatch.setenv("PYX_INDEX_URL", local_index().url)
    monkeypatch.setenv("PYX_TORCH_INDEX_URL", variants.base_url)
    monkeypatch.setenv("PYX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PYX_CUDA_DRIVER_VERSION", "550.54.14")  # the machine that wrote the script
    script = tmp_path / "s.py"
    script.write_text("import torch\nprint(torch.__version__)\n")
    assert pyx("add", "torch", "--script", script, "--python", sys.executable).code == 0
    assert pyx("lock", "--script", script, "--python", sys.executable).code == 0
    # another machine, without a GPU: the recorded cu128 build is kept
    monkeypatch.delenv("PYX_CUDA_DRIVER_VERSION")
    monkeypatch.setenv("PYX_TORCH_BACKEND", "cpu")
    kept = pyx("sync", "--script", script, "--locked", "--python", sys.executable)
    assert kept.code == 0, kept.err
    assert "Keeping the recorded PyTorch build `cu128` for torch" in kept.err
    assert "`--torch-backend auto` chooses for this machine again" in kept.err
    assert read_metadata(script).uv_sources["torch"]["index"] == "pytorch-cu128"
    assert "+cu128" in (tmp_path / "pylock.s.toml").read_text()
    # asked to choose again: the cpu build is recorded and locked
    run = pyx("sync", "--script", script, "--torch-backend", "cpu", "--python", sys.executable)
    assert run.code == 0, run.err
    assert read_metadata(script).uv_sources["torch"]["index"] == "pytorch-cpu"
    assert "+cpu" in (tmp_path / "pylock.s.toml").read_text()
    assert [i["name"] for i in read_metadata(script).uv["index"]] == ["pytorch-cpu"]
