"""PEP 825 variant metadata: reading variants.json and judging what a build declares against this machine."""

from __future__ import annotations

import json

import pytest
from packaging.version import Version

from pyx_server.engine.errors import InvalidMetadata
from pyx_server.engine.gpu import Accelerator, GpuDevice
from pyx_server.engine.gpu.wheel_variants import (
    SmArch,
    declared_architectures,
    judge,
    parse_variants_json,
    variant_name,
)
from tests.support.gpu_fixtures import VARIANT_SCHEMA, variants_document

#: what PyTorch 2.7's CUDA 12.8 build carries (Maxwell, Pascal and Volta were dropped) and its 12.6 build
CU128 = {"nvidia": {"cuda_version_lower_bound": ["12.8"],
                    "sm_arch": ["75_real", "80_real", "86_real", "90_real", "100_real", "120_real", "120_virtual"]}}
CU126 = {"nvidia": {"cuda_version_lower_bound": ["12.6"],
                    "sm_arch": ["50_real", "60_real", "70_real", "75_real", "80_real", "86_real", "90_real"]}}


def nvidia(driver: str, *capabilities: str, platform: str = "linux", **kw) -> Accelerator:
    devices = tuple(GpuDevice("nvidia", name=f"GPU {c}", compute_capability=c) for c in capabilities)
    return Accelerator(kind="nvidia", platform=platform, machine="x86_64", driver_version=driver, devices=devices, **kw)


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
