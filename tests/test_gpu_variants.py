"""PEP 825 variant metadata in GPU choices, the compute-capability warnings, and where the variant index comes from."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from pyx_server.engine.cache import Cache
from pyx_server.engine.errors import InvalidMetadata, TorchIndexNotConfigured
from pyx_server.engine.gpu import (
    Accelerator,
    GpuDevice,
    Readers,
    choose_from_listing,
    choose_variant,
    list_variants,
    recorded_torch_index_base,
    torch_index_base,
)
from pyx_server.engine.gpu.wheel_variants import (
    SmArch,
    declared_architectures,
    judge,
    parse_variants_json,
    variant_name,
)
from pyx_server.engine.inline import read_metadata
from pyx_server.engine.progress import CollectingReporter, Notice
from tests.support.cli import pyx
from tests.support.gpu_fixtures import (  # noqa: F401 - fixtures
    VARIANT_SCHEMA,
    FakeMachine,
    fake_machine,
    variant_index,
    variants_document,
)

TAG = "cp312-cp312-manylinux_2_28_x86_64"
TAGS = [TAG, "py3-none-any"]

#: what PyTorch 2.7's CUDA 12.8 build carries (Maxwell, Pascal and Volta were dropped) and its 12.6 build
CU128 = {"nvidia": {"cuda_version_lower_bound": ["12.8"],
                    "sm_arch": ["75_real", "80_real", "86_real", "90_real", "100_real", "120_real", "120_virtual"]}}
CU126 = {"nvidia": {"cuda_version_lower_bound": ["12.6"],
                    "sm_arch": ["50_real", "60_real", "70_real", "75_real", "80_real", "86_real", "90_real"]}}


def nvidia(driver: str, *capabilities: str, platform: str = "linux", **kw) -> Accelerator:
    devices = tuple(GpuDevice("nvidia", name=f"GPU {c}", compute_capability=c) for c in capabilities)
    return Accelerator(kind="nvidia", platform=platform, machine="x86_64", driver_version=driver, devices=devices, **kw)


def listing(index, accelerator, cache_dir: Path, **kw):
    return asyncio.run(list_variants("torch", None, accelerator, base_url=index.base_url, cache=Cache(cache_dir),
                                     tags=TAGS, retries=0, **kw))


# -- reading variants.json -------------------------------------------------------------------------------


def test_variants_json_gives_each_label_its_properties() -> None:
    data = parse_variants_json(json.dumps(variants_document({"cu128": CU128, "null": {}})), "torch-2.7.1-variants.json")
    assert data.schema_version == Version("0.0.3") and data.namespaces == ("nvidia",)
    assert data.variants["cu128"]["nvidia"]["cuda_version_lower_bound"] == ("12.8",)
    assert data.variants["null"] == {}
    # a label is matched by name, or by the build its properties describe
    renamed = parse_variants_json(json.dumps(variants_document({"nv_a": CU128, "nv_b": CU126})), "x")
    assert (renamed.label_for("cu128"), renamed.label_for("cu126"), renamed.label_for("cu118")) == ("nv_a", "nv_b", None)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("{not json", "is not JSON"),
        (json.dumps({"$schema": VARIANT_SCHEMA}), "has no `variants` object"),
        (json.dumps(variants_document({"cu128": {"nvidia": {"sm_arch": ["SM80"]}}})), "invalid value `SM80`"),
        (json.dumps({**variants_document({}), "$schema": VARIANT_SCHEMA.replace("v0.0.3", "v2.0.0")}), "format `2.0.0`"),
    ],
)
def test_unreadable_variants_json_names_the_file_and_the_problem(document: str, expected: str) -> None:
    with pytest.raises(InvalidMetadata) as caught:
        parse_variants_json(document, "torch-2.7.1-variants.json")
    assert "`torch-2.7.1-variants.json`" in caught.value.message and expected in caught.value.message


def test_sm_arch_follows_cuda_compatibility_rules() -> None:
    real, ptx, specific, family = (SmArch.parse(v) for v in ("80_real", "90_virtual", "90a_real", "100f_real"))
    assert real.runs_on(Version("8.0")) and real.runs_on(Version("8.6"))  # SASS: same major, newer minor
    assert not real.runs_on(Version("9.0")) and not real.runs_on(Version("7.5"))
    assert ptx.runs_on(Version("9.0")) and ptx.runs_on(Version("12.0")) and not ptx.runs_on(Version("8.9"))  # PTX: JIT
    assert specific.runs_on(Version("9.0")) and not specific.runs_on(Version("9.1"))  # arch-specific: only 9.0
    assert family.runs_on(Version("10.3")) and not family.runs_on(Version("12.0"))
    assert SmArch.parse("sm_80") is None
    assert declared_architectures(CU128) == ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120")


# -- judging declared properties ------------------------------------------------------------------------------


def test_judge_uses_the_declared_architectures() -> None:
    pascal = judge(CU128, nvidia("575.51.03", "6.1"))
    assert not pascal.compatible
    assert "compute capability 6.1 is not among them" in pascal.reason and "sm_75" in pascal.reason
    assert pascal.architectures[0] == "sm_75"
    assert judge(CU126, nvidia("575.51.03", "6.1")).compatible
    # every GPU must be covered: a Pascal card next to an Ampere one still rules cu128 out
    assert not judge(CU128, nvidia("575.51.03", "8.6", "6.1")).compatible
    # compute capability unknown (no nvidia-smi, no NVML): the architectures cannot rule it out
    assert judge(CU128, nvidia("575.51.03")).compatible
    # PTX for 12.0 runs on a newer GPU than any SASS the build has
    assert judge(CU128, nvidia("580.65.06", "12.1")).compatible


def test_judge_cuda_lower_bound_uses_the_driver_table() -> None:
    assert judge(CU128, nvidia("525.60.13", "8.0")).compatible
    old = judge(CU128, nvidia("525.60.12", "8.0"))
    assert not old.compatible
    assert old.reason == "declares CUDA 12.8, which needs NVIDIA driver ≥ 525.60.13 (this machine has 525.60.12)"
    cuda13 = {"nvidia": {"cuda_version_lower_bound": ["13"]}}
    assert not judge(cuda13, nvidia("579.99", "9.0")).compatible and judge(cuda13, nvidia("580", "9.0")).compatible
    # what pyx does not read does not decide, and is said to be unchecked
    bounded = judge({"nvidia": {"cuda_version_upper_bound": ["13"]}}, nvidia("580", "9.0"))
    assert bounded.compatible and bounded.unchecked == ("nvidia :: cuda_version_upper_bound :: 13",)


def test_judge_other_namespaces() -> None:
    no_gpu = Accelerator(kind="none", platform="linux", machine="x86_64")
    assert judge({}, no_gpu).compatible  # the null variant always is
    assert judge(CU128, no_gpu).reason == "needs an NVIDIA GPU with its driver (none found)"
    mi300 = Accelerator(kind="amd", platform="linux", machine="x86_64", devices=(GpuDevice("amd", architecture="gfx942"),))
    assert judge({"amd": {"gfx_arch": ["gfx90a", "gfx942"], "rocm_version": ["6.3"]}}, mi300).compatible
    navi = judge({"amd": {"gfx_arch": ["gfx90a", "gfx942"]}}, Accelerator(
        kind="amd", platform="linux", machine="x86_64", devices=(GpuDevice("amd", architecture="gfx1100"),)))
    assert navi.reason == "the build targets gfx90a, gfx942, not gfx1100"
    # a namespace pyx cannot check is not assumed to suit the machine
    cpu_level = judge({"x86_64": {"level": ["v4"]}}, no_gpu)
    assert not cpu_level.compatible and "`x86_64`" in cpu_level.reason


def test_variant_name_of_a_label() -> None:
    assert variant_name("cu128", {}) == "cu128"
    assert variant_name("nv", CU128) == "cu128"
    assert variant_name("nv13", {"nvidia": {"cuda_version_lower_bound": ["13"]}}) == "cu130"
    assert variant_name("amd", {"amd": {"rocm_version": ["6.3"]}}) == "rocm6.3"
    assert variant_name("null", {}) == "cpu"
    assert variant_name("avx", {"x86_64": {"level": ["v3"]}}) is None


# -- the choice with declared verdicts, and its warnings -------------------------------------------------------


def test_explicit_build_the_gpu_cannot_run_is_a_warning() -> None:
    pascal = nvidia("575.51.03", "6.1", backend="cu128", backend_source="--torch-backend")
    declared = {"cu128": (False, judge(CU128, pascal).reason)}
    choice = choose_variant(pascal, ["cpu", "cu126", "cu128"], verdicts=declared)
    assert choice.variant == "cu128" and choice.explicit
    assert len(choice.warnings) == 1 and "compute capability 6.1" in choice.warnings[0].message
    assert "--torch-backend" in choice.warnings[0].message and choice.warnings[0].code == "variant-cannot-run"
    # by the table alone a CUDA 13 build is what a Pascal card cannot run
    table_only = choose_variant(nvidia("580.65.06", "6.1", backend="cu130", backend_source="PYX_TORCH_BACKEND"))
    assert "compute capability 6.1" in table_only.warnings[0].message
    assert choose_variant(nvidia("575.51.03", "8.6", backend="cu126", backend_source="x")).warnings == ()


def test_a_gpu_no_offered_build_supports_is_a_warning() -> None:
    blackwell = nvidia("570.124.04", "12.0")
    choice = choose_variant(blackwell, ["cpu", "cu118", "cu126"])
    assert choice.variant == "cpu"
    assert [(w.code, w.message) for w in choice.warnings] == [
        ("gpu-unused", f"the NVIDIA GPU will not be used: {choice.reason.removesuffix('; using cpu')}")
    ]
    assert choice.to_dict()["warnings"][0]["code"] == "gpu-unused"  # typed in the JSON form too
    assert choose_variant(blackwell, ["cpu", "cu128"]).warnings == ()
    no_gpu = Accelerator(kind="none", platform="linux", machine="x86_64")
    assert choose_variant(no_gpu, ["cpu", "cu128"]).warnings == ()  # nothing idle: no warning


# -- the listing prefers what the index declares ----------------------------------------------------------------


def publish_pytorch_27(index, tag: str = TAG) -> None:
    """cpu, cu126 and cu128 torch 2.7.1; the cu126 and cu128 pages carry PEP 825 metadata."""
    for variant in ("cpu", "cu126", "cu128"):
        index.build(variant, "torch", "2.7.1", tag=tag)
    index.variants_json("cu128", "torch", "2.7.1", {"cu128": CU128})
    index.variants_json("cu126", "torch", "2.7.1", {"cu126": CU126})


def test_listing_judges_by_declared_metadata_over_names(variant_index, tmp_path: Path) -> None:
    index = variant_index()
    publish_pytorch_27(index)
    pascal = nvidia("575.51.03", "6.1")
    infos = {i.variant: i for i in listing(index, pascal, tmp_path / "c")}
    cu128, cu126, cpu = infos["cu128"], infos["cu126"], infos["cpu"]
    # the table alone would run cu128 on this driver and GPU; the build itself says it dropped Pascal
    assert (cu128.compatible, cu128.judged_by, cu128.label) == (False, "variant metadata", "cu128")
    assert "compute capability 6.1 is not among them" in cu128.reason
    assert cu128.architectures[:2] == ("sm_75", "sm_80") and "nvidia :: sm_arch :: 75_real" in cu128.properties
    assert (cu126.compatible, cu126.judged_by, cu126.chosen) == (True, "variant metadata", True)
    assert (cpu.judged_by, cpu.label, cpu.architectures) == ("tables", None, ())
    choice = choose_from_listing(pascal, infos.values())
    assert choice.variant == "cu126" and "cu128 was passed over" in choice.reason and choice.warnings == ()
    # an Ampere card runs the newest: the same metadata says so
    ampere = {i.variant: i for i in listing(index, nvidia("575.51.03", "8.6"), tmp_path / "c")}
    assert ampere["cu128"].chosen and ampere["cu128"].compatible
    # the second listing read the pages through the cache: the variant files are still seen
    assert ampere["cu128"].judged_by == "variant metadata"


def test_listing_shows_variant_wheels_it_does_not_install(variant_index, tmp_path: Path) -> None:
    index = variant_index()
    index.build("cpu", "torch", "2.9.0", tag=TAG)
    index.build("cu128", "torch", "2.9.0", tag=TAG, local=False, label="nv128", properties=CU128)
    index.variants_json("cu128", "torch", "2.9.0", {"nv128": CU128, "null": {}})
    infos = {i.variant: i for i in listing(index, nvidia("575.51.03", "8.6"), tmp_path / "c")}
    cu128 = infos["cu128"]
    assert cu128.label == "nv128" and cu128.judged_by == "variant metadata"  # the label read from its properties
    assert cu128.variant_filename == f"torch-2.9.0-{TAG}-nv128.whl" and cu128.filename is None
    assert not cu128.compatible and cu128.reason == "only a PEP 825 variant wheel for this platform, which pyx does not install"
    assert infos["cpu"].chosen


def test_variants_json_that_cannot_be_used_falls_back_to_names(variant_index, tmp_path: Path) -> None:
    index = variant_index()
    publish_pytorch_27(index)
    future = {**variants_document({"cu128": CU128}), "$schema": VARIANT_SCHEMA.replace("v0.0.3", "v9.0.0")}
    index.variants_json("cu128", "torch", "2.7.1", {}, document=future)
    tampered = index.variants_json("cu126", "torch", "2.7.1", {"cu126": CU126})
    tampered.path.write_text(json.dumps(variants_document({"cu126": CU128})))  # no longer the listed sha256
    reporter = CollectingReporter()
    infos = {i.variant: i for i in listing(index, nvidia("575.51.03", "6.1"), tmp_path / "c", reporter=reporter)}
    assert infos["cu128"].judged_by == infos["cu126"].judged_by == "tables"
    assert infos["cu128"].chosen  # by its name, as before PEP 825
    warnings = [e.message for e in reporter.events if isinstance(e, Notice) and e.level == "warning"]
    assert any("`cu128`" in w and "format `9.0.0`" in w for w in warnings)
    assert any("`cu126`" in w and "sha256" in w for w in warnings)


# -- through pyx ---------------------------------------------------------------------------------------------------


@pytest.fixture
def pascal_machine(fake_machine: FakeMachine, monkeypatch: pytest.MonkeyPatch) -> FakeMachine:
    """A Linux machine with a GeForce GTX 1080 (compute capability 6.1) on a 575 driver, seen by pyx."""
    import pyx_server.cli.gpu as cli_gpu

    fake_machine.nvidia_sys("575.51.03")
    fake_machine.tool("nvidia-smi", stdout="575.51.03, NVIDIA GeForce GTX 1080, 8192 MiB, 6.1\n")

    def readers() -> Readers:
        env = {k: v for k, v in os.environ.items() if k != "PATH"}
        return fake_machine.readers(env=env, timeout=2)

    monkeypatch.setattr(cli_gpu, "_readers", readers)
    return fake_machine


def here_tag() -> str:
    from packaging.tags import sys_tags

    return str(next(iter(sys_tags())))


def test_pyx_gpu_variants_renders_declared_verdicts_and_warnings(pascal_machine, variant_index) -> None:
    index = variant_index()
    for variant in ("cpu", "cu126", "cu128"):
        index.build(variant, "torch", "2.7.1", tag=here_tag())
    index.variants_json("cu128", "torch", "2.7.1", {"cu128": CU128})
    run = pyx("gpu", "variants", "torch", "--torch-index-url", index.base_url)
    assert run.code == 0, run.err
    rows = {line.split()[1] if line.startswith("→") else line.split()[0]: line for line in run.out.splitlines()[2:-1]}
    assert "no: the build declares CUDA architectures sm_75" in rows["cu128"] and "[variant metadata `cu128`]" in rows["cu128"]
    assert rows["cu126"].startswith("→") and "pyx would install: cu126" in run.out
    assert "warning" not in run.err  # cu126 runs on this GPU: nothing to warn about

    run = pyx("gpu", "variants", "torch", "--torch-index-url", index.base_url, "--torch-backend", "cu128", "--format", "json")
    data = json.loads(run.out)
    assert data["variant"] == "cu128" and data["explicit"]
    assert any("cannot run on this machine" in w and "compute capability 6.1" in w for w in data["warnings"])
    cu128 = next(v for v in data["variants"] if v["variant"] == "cu128")
    assert cu128["judged_by"] == "variant metadata" and cu128["architectures"][0] == "sm_75"


def test_pyx_gpu_warns_when_the_chosen_build_cannot_use_the_gpu(pascal_machine, variant_index) -> None:
    index = variant_index()
    index.build("cpu", "torch", "2.7.1", tag=here_tag())
    index.build("cu128", "torch", "2.7.1", tag=here_tag())
    index.variants_json("cu128", "torch", "2.7.1", {"cu128": CU128})
    run = pyx("gpu", "--torch-index-url", index.base_url)
    assert run.code == 0, run.err
    assert "Variant: cpu" in run.out and "(cu128 judged by their variant metadata)" in run.out
    assert "warning: the NVIDIA GPU will not be used" in run.err and "compute capability 6.1" in run.err
    data = json.loads(pyx("gpu", "--format", "json", "--torch-index-url", index.base_url).out)
    assert data["variant"] == "cpu" and any("will not be used" in w for w in data["warnings"])


def test_pyx_add_torch_shows_the_warning_and_records_the_choice(pascal_machine, variant_index, local_index,
                                                                monkeypatch, tmp_path: Path) -> None:
    index = variant_index()
    publish_pytorch_27(index, tag="py3-none-any")
    monkeypatch.setenv("PYX_INDEX_URL", local_index().url)
    monkeypatch.setenv("PYX_TORCH_INDEX_URL", index.base_url)
    script = tmp_path / "s.py"
    script.write_text("import torch\n")
    run = pyx("add", "torch", "--script", script, "--python", sys.executable)
    assert run.code == 0, run.err
    assert "PyTorch build: `cu126`" in run.err and "cu128 was passed over" in run.err
    assert read_metadata(script).uv_sources["torch"]["index"] == "pytorch-cu126"
    run = pyx("add", "torch", "--script", script, "--python", sys.executable, "--torch-backend", "cu128")
    assert run.code == 0, run.err
    assert "warning: `cu128` (asked for by --torch-backend) cannot run on this machine" in run.err
    assert read_metadata(script).uv_sources["torch"]["index"] == "pytorch-cu128"  # an explicit choice still wins


# -- where the variant index comes from ------------------------------------------------------------------------


def test_index_base_from_the_environment_or_a_recorded_route() -> None:
    recorded = ["http://127.0.0.1:9/simple", "http://127.0.0.1:9/whl/cu128"]
    assert recorded_torch_index_base(recorded) == "http://127.0.0.1:9/whl"
    assert recorded_torch_index_base(["http://127.0.0.1:9/simple/"]) is None
    assert torch_index_base({}, recorded) == "http://127.0.0.1:9/whl"
    assert torch_index_base({"PYX_TORCH_INDEX_URL": "http://127.0.0.1:7/m/"}, recorded) == "http://127.0.0.1:7/m"
    with pytest.raises(TorchIndexNotConfigured) as caught:
        torch_index_base({}, [])
    assert caught.value.code == "torch-index-not-configured" and caught.value.hints


def test_without_the_index_url_pyx_gpu_says_what_to_set(pascal_machine, monkeypatch) -> None:
    monkeypatch.delenv("PYX_TORCH_INDEX_URL", raising=False)
    run = pyx("gpu")
    assert run.code == 0 and "Traceback" not in run.err
    assert "not consulted: `PYX_TORCH_INDEX_URL` (or `--torch-index-url`) is not set" in run.out
    assert "  hint: set `PYX_TORCH_INDEX_URL` to the base URL" in run.out
    data = json.loads(pyx("gpu", "--format", "json").out)
    assert data["index"]["consulted"] is False and "PYX_TORCH_INDEX_URL" in data["index"]["hints"][0]
    run = pyx("gpu", "variants", "torch")
    assert run.code == 2 and "Traceback" not in run.err
    assert [line.split(":")[0].strip() for line in run.err.splitlines()] == ["error", "hint"]


def test_sync_chooses_again_with_the_index_the_file_records(variant_index, local_index, monkeypatch, tmp_path: Path) -> None:
    """Without `PYX_TORCH_INDEX_URL`, `--torch-backend` reuses the variant index the file already routes to."""
    index = variant_index()
    for variant in ("cpu", "cu128"):
        index.build(variant, "torch", "2.7.1")
    monkeypatch.setenv("PYX_INDEX_URL", local_index().url)
    monkeypatch.setenv("PYX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PYX_TORCH_INDEX_URL", index.base_url)
    monkeypatch.setenv("PYX_CUDA_DRIVER_VERSION", "550.54.14")
    script = tmp_path / "s.py"
    script.write_text("import torch\n")
    assert pyx("add", "torch", "--script", script, "--python", sys.executable).code == 0
    monkeypatch.delenv("PYX_TORCH_INDEX_URL")
    run = pyx("sync", "--script", script, "--torch-backend", "cpu", "--python", sys.executable)
    assert run.code == 0, run.err
    assert "PYX_TORCH_INDEX_URL" not in run.err
    assert read_metadata(script).uv["index"] == [{"name": "pytorch-cpu", "url": f"{index.base_url}/cpu", "explicit": True}]


def test_recorded_variant_reads_the_routing_of_the_pytorch_family() -> None:
    from pyx_server.engine.gpu.variants import recorded_variant

    base = "http://127.0.0.1:9/whl"
    pinned = (("numpy", (f"{base}/cu128",)), ("torch", (f"{base}/cu128",)), ("torchvision", (f"{base}/cu128/",)))
    assert recorded_variant(pinned) == ("cu128", ("torch", "torchvision"))
    assert recorded_variant((("torch", ("http://127.0.0.1:9/simple",)),)) is None
    assert recorded_variant(()) is None
