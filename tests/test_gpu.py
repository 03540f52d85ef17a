"""GPU detection, the variant tables and choice, the variant listing, and `pyx gpu` — no GPU, no network."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import time
from pathlib import Path

import pytest

from pyx_server.engine.cache import Cache
from pyx_server.engine.errors import ConfigError, NoMatchingDistribution, PackageNotFound, PyxError
from pyx_server.engine.gpu import (
    DEFAULT,
    Accelerator,
    GpuDevice,
    NvmlReading,
    Readers,
    check_variant,
    choose_variant,
    compatible_variants,
    detect,
    has_system_dependency,
    is_torch_family,
    list_variants,
    min_driver,
    parse_torch_backend,
    parse_variant,
    torch_index_base,
    torch_routing,
)
from pyx_server.engine.gpu.driverinfo import (
    parse_nvidia_smi,
    parse_proc_driver_version,
    parse_rocm_agent_enumerator,
    parse_rocminfo,
)
from pyx_server.engine.gpu.readers import run_command
from pyx_server.engine.gpu.listing import discover_variants, parse_variant_root
from pyx_server.engine.gpu.tables import unsupported_capability
from pyx_server.engine.progress import CollectingReporter, Notice
from tests.support.gpu_fixtures import FakeMachine, fake_machine, rocminfo_output, variant_index  # noqa: F401

TAG = "cp312-cp312-manylinux_2_28_x86_64"
TAGS = [TAG, "py3-none-any"]


def nvidia(driver: str, platform: str = "linux", capabilities: tuple[str, ...] = (), **kw) -> Accelerator:
    devices = tuple(GpuDevice("nvidia", name="GPU", compute_capability=c) for c in capabilities)
    return Accelerator(kind="nvidia", platform=platform, machine="x86_64", driver_version=driver, devices=devices, **kw)


def amd(*archs: str, platform: str = "linux") -> Accelerator:
    return Accelerator(kind="amd", platform=platform, machine="x86_64", devices=tuple(GpuDevice("amd", architecture=a) for a in archs))


def kind(name: str, platform: str = "linux", machine: str = "x86_64", **kw) -> Accelerator:
    return Accelerator(kind=name, platform=platform, machine=machine, **kw)


def outcomes(accelerator: Accelerator) -> dict[str, str]:
    return {p.source: p.outcome for p in accelerator.sources}


# -- detection: each source and its precedence ---------------------------------------------------------


def test_no_gpu_records_every_source_as_absent(fake_machine: FakeMachine) -> None:
    found = detect(fake_machine.readers())
    assert found.kind == "none" and found.driver_version is None and found.devices == ()
    seen = outcomes(found)
    assert seen["/sys/module/nvidia/version"] == "absent"
    assert seen["/proc/driver/nvidia/version"] == "absent"
    assert seen["nvidia-smi"] == "absent"
    assert seen["rocm_agent_enumerator"] == "absent"
    assert seen["rocminfo"] == "absent"
    assert seen["/sys/bus/pci/devices"] == "absent"
    assert seen["platform"] == "absent"
    assert choose_variant(found).variant == "cpu"


def test_sys_module_version_comes_first(fake_machine: FakeMachine) -> None:
    fake_machine.nvidia_sys("550.144.03")
    fake_machine.nvidia_proc("535.104.05")
    fake_machine.tool("nvidia-smi", stdout="525.60.13, Other, 1 MiB, 7.0\n", argv_log=True)
    found = detect(fake_machine.readers(), details=False)
    assert (found.kind, found.driver_version, found.found_by) == ("nvidia", "550.144.03", "/sys/module/nvidia/version")
    # the driver is known and details were not asked: nothing else is consulted
    assert "/proc/driver/nvidia/version" not in outcomes(found)
    assert fake_machine.calls("nvidia-smi") == []


def test_proc_driver_version_when_sys_is_missing(fake_machine: FakeMachine) -> None:
    fake_machine.nvidia_proc("535.104.05")
    found = detect(fake_machine.readers(), details=False)
    assert (found.driver_version, found.found_by) == ("535.104.05", "/proc/driver/nvidia/version")
    assert outcomes(found)["/sys/module/nvidia/version"] == "absent"


def test_proc_driver_version_parsing_old_and_new_lines() -> None:
    old = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  375.74  Wed Jun 14 01:39:39 PDT 2017\nGCC version: x\n"
    assert parse_proc_driver_version(old) == "375.74"
    assert parse_proc_driver_version("GCC version: gcc 12.3.0\n") is None


def test_unparsable_sys_file_falls_through_to_proc(fake_machine: FakeMachine) -> None:
    fake_machine.write("/sys/module/nvidia/version", "garbage\n")
    fake_machine.nvidia_proc("545.23.08")
    found = detect(fake_machine.readers(), details=False)
    assert found.driver_version == "545.23.08"
    assert outcomes(found)["/sys/module/nvidia/version"] == "unparsable"


def test_unreadable_file_is_recorded_not_raised(fake_machine: FakeMachine) -> None:
    def read(path: str) -> str | None:
        if path.endswith("/sys/module/nvidia/version"):
            raise PermissionError("denied")
        return None

    readers = fake_machine.readers()
    found = detect(Readers(**{**readers.__dict__, "read_file": read}))
    probe = next(p for p in found.sources if p.source == "/sys/module/nvidia/version")
    assert probe.outcome == "failed" and "denied" in probe.detail
    assert found.kind == "none"


def test_nvidia_smi_gives_driver_and_devices(fake_machine: FakeMachine) -> None:
    fake_machine.tool(
        "nvidia-smi",
        stdout="550.54.15, NVIDIA GeForce RTX 4090, 24564 MiB, 8.9\n550.54.15, NVIDIA A100-SXM4-80GB, 81920 MiB, 8.0\n",
        argv_log=True,
    )
    found = detect(fake_machine.readers())
    assert (found.kind, found.driver_version, found.found_by) == ("nvidia", "550.54.15", "nvidia-smi")
    assert [(d.name, d.memory_mib, d.compute_capability) for d in found.devices] == [
        ("NVIDIA GeForce RTX 4090", 24564, "8.9"),
        ("NVIDIA A100-SXM4-80GB", 81920, "8.0"),
    ]
    assert fake_machine.calls("nvidia-smi") == [
        "--query-gpu=driver_version,name,memory.total,compute_cap --format=csv,noheader"
    ]


def test_sys_driver_with_details_asks_nvidia_smi_for_devices(fake_machine: FakeMachine) -> None:
    fake_machine.nvidia_sys("560.35.03")
    fake_machine.tool("nvidia-smi", stdout="560.35.03, Tesla T4, 15360 MiB, 7.5\n")
    found = detect(fake_machine.readers())
    assert found.found_by == "/sys/module/nvidia/version"
    assert found.devices[0].name == "Tesla T4" and found.compute_capabilities == ("7.5",)


def test_old_nvidia_smi_without_compute_cap_is_asked_again(fake_machine: FakeMachine) -> None:
    fake_machine.tool("nvidia-smi", stdout="470.82.01, Tesla K80, 11441 MiB\n", fail_on="compute_cap", argv_log=True)
    found = detect(fake_machine.readers())
    assert found.driver_version == "470.82.01"
    assert found.devices[0].compute_capability is None and found.devices[0].memory_mib == 11441
    assert len(fake_machine.calls("nvidia-smi")) == 2
    assert [p.outcome for p in found.sources if p.source == "nvidia-smi"] == ["failed", "found"]


def test_nvidia_smi_na_fields_become_none() -> None:
    driver, devices = parse_nvidia_smi("535.104.05, [N/A], [N/A], [N/A]\n")
    assert driver == "535.104.05" and devices[0] == GpuDevice("nvidia")


def test_failing_nvidia_smi_is_recorded(fake_machine: FakeMachine) -> None:
    fake_machine.tool("nvidia-smi", stdout="NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", exit_code=9)
    found = detect(fake_machine.readers())
    assert found.kind == "none"
    failures = [p for p in found.sources if p.source == "nvidia-smi"]
    assert failures[-1].outcome == "failed" and "exit code 9" in failures[-1].detail
    assert "couldn't communicate" in failures[-1].detail


def test_hanging_tool_is_killed_and_detection_continues(fake_machine: FakeMachine) -> None:
    fake_machine.tool("nvidia-smi", hang=True, stdout="550.54.15, X, 1 MiB, 8.0\n")
    fake_machine.tool("rocm_agent_enumerator", stdout="gfx000\ngfx90a\n")
    started = time.monotonic()
    found = detect(fake_machine.readers(timeout=0.5))
    assert time.monotonic() - started < 30  # bounded: the 60 s sleep was not waited for
    assert any(p.source == "nvidia-smi" and p.outcome == "timed-out" for p in found.sources)
    assert found.kind == "amd" and found.architectures == ("gfx90a",)


def test_run_command_kills_the_whole_process_group(fake_machine: FakeMachine) -> None:
    tool = fake_machine.tool("slow", hang=True)
    with pytest.raises(TimeoutError):
        run_command([tool.name], 0.3, {"PATH": str(fake_machine.bin)})
    assert run_command(["no-such-tool"], 1, {"PATH": str(fake_machine.bin)}) is None


def test_nvml_is_used_when_available_and_failures_are_recorded(fake_machine: FakeMachine) -> None:
    reading = NvmlReading("555.42.02", (GpuDevice("nvidia", name="NVIDIA L4", memory_mib=23034, compute_capability="8.9"),))
    found = detect(fake_machine.readers(nvml=lambda: reading))
    assert (found.driver_version, found.found_by) == ("555.42.02", "NVML")
    assert found.devices == reading.devices
    assert outcomes(found)["NVML"] == "found"

    def broken() -> NvmlReading:
        raise RuntimeError("NVML Shared Library Not Found")

    found = detect(fake_machine.readers(nvml=broken))
    assert found.kind == "none" and outcomes(found)["NVML"] == "failed"


def test_amd_from_rocm_agent_enumerator_with_rocm_version(fake_machine: FakeMachine) -> None:
    fake_machine.tool("rocm_agent_enumerator", stdout="gfx000\ngfx1100\ngfx1100\n")
    fake_machine.rocm_version("6.3.1-48")
    found = detect(fake_machine.readers(), details=False)
    assert (found.kind, found.found_by, found.rocm_version) == ("amd", "rocm_agent_enumerator", "6.3.1")
    assert found.architectures == ("gfx1100",) and len(found.devices) == 2
    assert "rocminfo" not in outcomes(found)


def test_amd_rocminfo_when_enumerator_is_missing(fake_machine: FakeMachine) -> None:
    fake_machine.tool("rocminfo", stdout=rocminfo_output(
        ("AMD Ryzen 9 7950X", "AMD Ryzen 9 7950X", "CPU"),
        ("gfx90a", "AMD Instinct MI210", "GPU"),
    ))
    found = detect(fake_machine.readers())
    assert (found.kind, found.found_by) == ("amd", "rocminfo")
    assert [(d.name, d.architecture) for d in found.devices] == [("AMD Instinct MI210", "gfx90a")]
    assert outcomes(found)["rocm_agent_enumerator"] == "absent"


def test_rocm_path_env_is_read_first(fake_machine: FakeMachine) -> None:
    fake_machine.tool("rocm_agent_enumerator", stdout="gfx942\n")
    fake_machine.rocm_version("6.2.4-100", root="/opt/rocm-6.2.4")
    fake_machine.rocm_version("6.0.0")
    found = detect(fake_machine.readers(env={"ROCM_PATH": "/opt/rocm-6.2.4"}))
    assert found.rocm_version == "6.2.4"


def test_parsers_for_amd_tools() -> None:
    assert parse_rocm_agent_enumerator("gfx000\n\ngfx90a\nnot-an-arch\n") == ("gfx90a",)
    assert parse_rocminfo("nothing here") == ()


def test_intel_gpu_from_pci(fake_machine: FakeMachine) -> None:
    fake_machine.pci("0000:00:1f.3", klass="0x040300", vendor="0x8086")  # Intel audio: not a display
    fake_machine.pci("0000:03:00.0", klass="0x030000", vendor="0x8086", device="0x56a0")
    found = detect(fake_machine.readers())
    assert (found.kind, found.found_by) == ("intel", "/sys/bus/pci/devices")
    assert found.devices[0].pci_address == "0000:03:00.0"
    assert choose_variant(found).variant == "xpu"


def test_pci_gpu_without_its_driver_is_a_warning(fake_machine: FakeMachine) -> None:
    fake_machine.pci("0000:01:00.0", klass="0x030200", vendor="0x10de")
    fake_machine.write("/sys/bus/pci/devices/0000:02:00.0/class", "not hex\n")
    found = detect(fake_machine.readers())
    assert found.kind == "none"
    assert any("NVIDIA display device" in w.message and w.code == "gpu-driver-missing" for w in found.warnings)
    assert "1 unreadable" in next(p.detail for p in found.sources if p.source == "/sys/bus/pci/devices")


def test_apple_silicon(fake_machine: FakeMachine) -> None:
    found = detect(fake_machine.readers(platform="darwin", machine="arm64"))
    assert found.kind == "apple" and found.found_by == "platform"
    choice = choose_variant(found)
    assert choice.variant == DEFAULT and not choice.routed and "MPS" in choice.reason
    assert detect(fake_machine.readers(platform="darwin", machine="x86_64")).kind == "none"


def test_nvidia_driver_sources_in_order_proc_then_nvml_then_nvidia_smi(fake_machine: FakeMachine) -> None:
    """The driver comes from the first source that has it; NVML's devices spare the nvidia-smi run."""
    reading = NvmlReading("560.35.03", (GpuDevice("nvidia", name="NVIDIA L4", compute_capability="8.9"),))
    fake_machine.nvidia_proc("550.144.03")
    fake_machine.tool("nvidia-smi", stdout="535.104.05, Tesla T4, 15360 MiB, 7.5\n", argv_log=True)
    found = detect(fake_machine.readers(nvml=lambda: reading))
    assert (found.driver_version, found.found_by) == ("550.144.03", "/proc/driver/nvidia/version")
    assert found.devices == reading.devices and fake_machine.calls("nvidia-smi") == []
    # without /proc: NVML's driver beats nvidia-smi's
    (fake_machine.root / "proc/driver/nvidia/version").unlink()
    assert detect(fake_machine.readers(nvml=lambda: reading)).found_by == "NVML"
    # without NVML: nvidia-smi
    found = detect(fake_machine.readers(nvml=lambda: None))
    assert (found.driver_version, found.found_by) == ("535.104.05", "nvidia-smi")


def test_hanging_rocm_agent_enumerator_falls_back_to_rocminfo(fake_machine: FakeMachine) -> None:
    fake_machine.tool("rocm_agent_enumerator", hang=True)
    fake_machine.tool("rocminfo", stdout=rocminfo_output(("gfx942", "AMD Instinct MI300X", "GPU")))
    found = detect(fake_machine.readers(timeout=0.5), details=False)
    assert (found.kind, found.found_by, found.architectures) == ("amd", "rocminfo", ("gfx942",))
    assert outcomes(found)["rocm_agent_enumerator"] == "timed-out"


def test_failing_amd_tools_are_recorded(fake_machine: FakeMachine) -> None:
    fake_machine.tool("rocm_agent_enumerator", stdout="", exit_code=0)
    fake_machine.tool("rocminfo", stdout="ROCk module is NOT loaded, possibly no GPU devices", exit_code=1)
    found = detect(fake_machine.readers())
    assert found.kind == "none"
    assert outcomes(found)["rocm_agent_enumerator"] == "absent"
    rocminfo = next(p for p in found.sources if p.source == "rocminfo")
    assert rocminfo.outcome == "failed" and "exit code 1: ROCk module is NOT loaded" in rocminfo.detail


def test_amd_beats_intel(fake_machine: FakeMachine) -> None:
    fake_machine.tool("rocm_agent_enumerator", stdout="gfx1100\n")
    fake_machine.pci("0000:00:02.0", klass="0x030000", vendor="0x8086")
    found = detect(fake_machine.readers(), details=False)
    assert found.kind == "amd" and "/sys/bus/pci/devices" not in outcomes(found)


def test_nvidia_beats_amd_and_intel(fake_machine: FakeMachine) -> None:
    fake_machine.nvidia_sys("550.144.03")
    fake_machine.tool("rocm_agent_enumerator", stdout="gfx90a\n", argv_log=True)
    fake_machine.pci("0000:00:02.0", klass="0x030000", vendor="0x8086")
    found = detect(fake_machine.readers(), details=False)
    assert found.kind == "nvidia"
    assert fake_machine.calls("rocm_agent_enumerator") == []


# -- overrides ------------------------------------------------------------------------------------------


def test_cuda_driver_override_beats_detection(fake_machine: FakeMachine) -> None:
    fake_machine.nvidia_sys("550.144.03")
    found = detect(fake_machine.readers(env={"PYX_CUDA_DRIVER_VERSION": "525.60.12"}))
    assert (found.driver_version, found.found_by) == ("525.60.12", "PYX_CUDA_DRIVER_VERSION")
    assert "/sys/module/nvidia/version" not in outcomes(found)
    assert choose_variant(found).variant == "cu118"


def test_amd_architecture_override(fake_machine: FakeMachine) -> None:
    fake_machine.rocm_version("6.4.0")
    fake_machine.tool("rocm_agent_enumerator", stdout="gfx90a\n", argv_log=True)
    found = detect(fake_machine.readers(env={"PYX_AMD_GPU_ARCHITECTURE": "GFX1030"}))
    assert (found.kind, found.architectures, found.rocm_version) == ("amd", ("gfx1030",), "6.4.0")
    assert fake_machine.calls("rocm_agent_enumerator") == []  # the override beats detection


@pytest.mark.parametrize(
    ("key", "value"),
    [("PYX_CUDA_DRIVER_VERSION", "twelve"), ("PYX_AMD_GPU_ARCHITECTURE", "mi300"), ("PYX_TORCH_BACKEND", "cuda12")],
)
def test_invalid_overrides_are_config_errors(fake_machine: FakeMachine, key: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        detect(fake_machine.readers(env={key: value}))
    assert f"`{value}`" in caught.value.message and caught.value.hints


def test_explicit_backend_beats_detection(fake_machine: FakeMachine) -> None:
    fake_machine.nvidia_sys("580.65.06")
    found = detect(fake_machine.readers(env={"PYX_TORCH_BACKEND": "cu126"}))
    assert found.kind == "nvidia"  # detection still ran, to be shown
    choice = choose_variant(found, ["cu126", "cu128", "cu130"])
    assert (choice.variant, choice.explicit) == ("cu126", True)
    assert "PYX_TORCH_BACKEND" in choice.reason
    # the flag beats the environment variable; `auto` means detect
    assert detect(fake_machine.readers(env={"PYX_TORCH_BACKEND": "cu126"}), torch_backend="cpu").backend == "cpu"
    flagged = detect(fake_machine.readers(env={"PYX_TORCH_BACKEND": "cu126"}), torch_backend="auto")
    assert flagged.backend is None and choose_variant(flagged).variant == "cu132"


def test_explicit_backend_the_machine_cannot_run_still_wins_with_a_note() -> None:
    choice = choose_variant(kind("none", backend="rocm6.3", backend_source="--torch-backend"), ["cpu"])
    assert choice.variant == "rocm6.3" and choice.explicit
    assert "needs an AMD GPU" in choice.reason and "does not offer it" in choice.reason


def test_parse_torch_backend() -> None:
    assert parse_torch_backend("AUTO") is None
    assert parse_torch_backend("cu128") == "cu128"
    assert parse_torch_backend("rocm6.2.4") == "rocm6.2.4"
    with pytest.raises(ConfigError):
        parse_torch_backend("gpu")


# -- the driver tables, at every boundary ------------------------------------------------------------


@pytest.mark.parametrize(
    ("driver", "newest"),
    [
        ("580", "cu132"),
        ("580.65.06", "cu132"),
        ("579.99", "cu129"),
        ("525.60.13", "cu129"),
        ("525.60.12", "cu118"),
        ("450.80.02", "cu118"),
        ("450.80.01", "cu110"),
        ("450.36.06", "cu110"),
        ("450.36.05", "cu102"),
        ("440.33", "cu102"),
        ("440.32.99", "cu101"),
        ("418.39", "cu101"),
        ("418.38", "cu100"),
        ("410.48", "cu100"),
        ("410.47", "cu92"),
        ("396.26", "cu92"),
        ("396.25", "cu91"),
        ("390.46", "cu91"),
        ("390.45", "cu90"),
        ("384.81", "cu90"),
        ("384.80", "cu80"),
        ("375.26", "cu80"),
        ("375.25", "cpu"),
    ],
)
def test_linux_driver_table_boundaries(driver: str, newest: str) -> None:
    assert compatible_variants(nvidia(driver))[0] == newest


@pytest.mark.parametrize(
    ("driver", "newest"),
    [
        ("580.88", "cu132"),
        ("579", "cu129"),
        ("528.33", "cu129"),
        ("528.32", "cu118"),
        ("525.60.13", "cu118"),  # the Linux threshold is not enough on Windows
        ("452.39", "cu118"),
        ("452.38", "cu110"),
        ("451.22", "cu110"),
        ("451.21", "cu102"),
        ("441.22", "cu102"),
        ("441.21", "cu101"),
        ("418.96", "cu101"),
        ("418.95", "cu100"),
        ("411.31", "cu100"),
        ("411.30", "cu92"),
        ("398.26", "cu92"),
        ("398.25", "cu91"),
        ("391.29", "cu91"),
        ("391.28", "cu90"),
        ("385.54", "cu90"),
        ("385.53", "cu80"),
        ("376.51", "cu80"),
        ("376.50", "cpu"),
    ],
)
def test_windows_driver_table_boundaries(driver: str, newest: str) -> None:
    assert compatible_variants(nvidia(driver, platform="win32"))[0] == newest


def test_compatible_variants_are_newest_first_and_end_in_cpu() -> None:
    found = compatible_variants(nvidia("535.104.05"))
    assert found[:3] == ["cu129", "cu128", "cu126"] and found[-1] == "cpu"
    assert "cu130" not in found and "cu118" in found
    assert compatible_variants(kind("none")) == ["cpu"]
    assert compatible_variants(nvidia("550.54.15", platform="darwin")) == ["cpu"]


def test_min_driver_for_variants_missing_from_the_table() -> None:
    assert min_driver("cu128", "linux") == "525.60.13"
    assert min_driver("cu131", "linux") == "580"  # same CUDA major as cu130
    assert min_driver("cu127", "win32") == "528.33"
    assert min_driver("cu128", "darwin") is None
    assert min_driver("rocm6.3", "linux") is None


def test_parse_variant() -> None:
    assert str(parse_variant("cu118").version) == "11.8"
    assert str(parse_variant("cu92").version) == "9.2"
    assert str(parse_variant("cu130").version) == "13.0"
    assert str(parse_variant("rocm6.2.4").version) == "6.2.4"
    assert parse_variant("cpu").family == "cpu" and parse_variant("xpu").family == "xpu"
    assert parse_variant("torch") is None and parse_variant("cu1") is None


# -- compute capability (beyond uv) ---------------------------------------------------------------------


def test_cuda13_is_not_chosen_for_a_pascal_gpu() -> None:
    pascal = nvidia("580.65.06", capabilities=("6.1",))
    assert compatible_variants(pascal)[0] == "cu129"
    ok, why = check_variant(pascal, "cu130")
    assert not ok and "compute capability 6.1" in why
    assert choose_variant(pascal, ["cu126", "cu130"]).variant == "cu126"


def test_blackwell_needs_cuda_12_8() -> None:
    blackwell = nvidia("570.124.04", capabilities=("12.0",))
    assert compatible_variants(blackwell)[0] == "cu129"
    assert "cu126" not in compatible_variants(blackwell)
    assert unsupported_capability("cu126", "12.0") is not None
    assert unsupported_capability("cu128", "12.0") is None
    choice = choose_variant(blackwell, ["cu118", "cu126", "cpu"])
    assert choice.variant == "cpu" and "compute capability 12.0" in choice.reason


# -- ROCm and XPU ------------------------------------------------------------------------------------------


def test_rocm_variants_follow_the_architecture() -> None:
    assert compatible_variants(amd("gfx90a"))[:3] == ["rocm7.2", "rocm7.1", "rocm7.0"]
    # gfx1201 (RDNA4) arrived with ROCm 6.2.4's builds; gfx1101 is missing from 6.2
    assert "rocm6.2.4" in compatible_variants(amd("gfx1201")) and "rocm6.2" not in compatible_variants(amd("gfx1201"))
    assert "rocm6.2" not in compatible_variants(amd("gfx1101")) and "rocm6.1" in compatible_variants(amd("gfx1101"))
    # gfx1151 only in the newest
    assert compatible_variants(amd("gfx1151")) == ["rocm7.2", "cpu"]
    # two GPUs: builds that target both
    assert compatible_variants(amd("gfx950", "gfx1100"))[:3] == ["rocm7.2", "rocm7.1", "rocm7.0"]
    assert "rocm6.4" not in compatible_variants(amd("gfx950", "gfx1100"))


def test_rocm_choice_and_fallbacks() -> None:
    choice = choose_variant(amd("gfx1100"), ["cpu", "rocm6.2", "rocm6.3"])
    assert choice.variant == "rocm6.3" and choice.index_consulted
    unsupported = choose_variant(amd("gfx803"))
    assert unsupported.variant == "cpu" and "gfx803 is not supported" in unsupported.reason
    windows = choose_variant(amd("gfx1100", platform="win32"))
    assert windows.variant == "cpu" and "Linux only" in windows.reason
    # a ROCm build newer than the table is judged like the newest known one
    assert check_variant(amd("gfx90a"), "rocm7.3") == (True, None)


def test_xpu_only_on_linux_and_windows() -> None:
    assert choose_variant(kind("intel", platform="win32")).variant == "xpu"
    assert choose_variant(kind("intel", platform="darwin")).variant == "cpu"
    assert choose_variant(kind("intel"), ["cpu"]).reason.startswith("the index offers no xpu build")


# -- the choice -----------------------------------------------------------------------------------------


def test_choice_without_the_index_uses_the_table() -> None:
    choice = choose_variant(nvidia("535.104.05"))
    assert choice.variant == "cu129" and not choice.index_consulted
    assert choice.reason == "NVIDIA driver 535.104.05 supports up to cu129; the variant index was not consulted"
    assert choice.to_dict()["variant"] == "cu129"


def test_choice_narrows_to_what_the_index_offers() -> None:
    choice = choose_variant(nvidia("535.104.05"), ["cpu", "cu118", "cu126", "cu130"])
    assert choice.variant == "cu126" and choice.index_consulted
    assert choice.reason == "NVIDIA driver 535.104.05 supports up to cu129; the index offers cu126 as the newest of those"
    assert choice.compatible == ("cu126", "cu118", "cpu")
    newest = choose_variant(nvidia("580.65.06"), ["cu132", "cu128"])
    assert newest.reason == "NVIDIA driver 580.65.06 supports cu132, the newest build the index offers"
    # a variant the table does not know yet is judged by its CUDA major version
    future = choose_variant(nvidia("580.65.06"), ["cu130", "cu131"])
    assert future.variant == "cu131"
    assert choose_variant(nvidia("575.51.03"), ["cu131", "cu129"]).variant == "cu129"


def test_choice_falls_back_to_cpu_then_default() -> None:
    old = nvidia("418.39")
    cpu = choose_variant(old, ["cpu", "cu126", "cu128"])
    assert cpu.variant == "cpu" and "offers none of the CUDA builds it can run" in cpu.reason
    nothing = choose_variant(old, ["cu126"])
    assert nothing.variant == DEFAULT and "no cpu build" in nothing.reason
    ancient = choose_variant(nvidia("370.28"))
    assert ancient.variant == "cpu" and "older than any CUDA build needs" in ancient.reason


def test_choice_for_no_gpu_says_why_cpu() -> None:
    choice = choose_variant(kind("none"), ["cpu", "cu128"])
    assert choice.variant == "cpu" and choice.reason.startswith("no GPU found")


# -- the family, the index URL, the routing -------------------------------------------------------------


def test_torch_family() -> None:
    for name in ("torch", "TorchVision", "torchaudio", "pytorch_triton", "pytorch-triton-rocm", "triton-xpu",
                 "torchao", "torchcodec", "torchrec", "torchtune", "torchtext", "torchdata", "fbgemm-gpu", "xformers"):
        assert is_torch_family(name), name
    assert not is_torch_family("numpy") and not is_torch_family("torchmetrics")
    assert has_system_dependency("torch") and not has_system_dependency("pytorch-triton")


def test_torch_index_base_needs_configuration() -> None:
    with pytest.raises(ConfigError) as caught:
        torch_index_base({})
    assert "`PYX_TORCH_INDEX_URL`" in caught.value.message
    assert torch_index_base({"PYX_TORCH_INDEX_URL": "http://127.0.0.1:9/whl/"}) == "http://127.0.0.1:9/whl"


def test_torch_routing_for_uv() -> None:
    accelerator = nvidia("550.54.15")
    choice = choose_variant(accelerator, ["cu128"])
    routing = torch_routing(accelerator, choice, ["torch>=2.6", "numpy", "TorchVision==0.22", "ttt @ https://h/x.whl"],
                            base_url="http://127.0.0.1:9/whl/")
    marker = "sys_platform == 'linux' or sys_platform == 'win32'"
    assert routing == {
        "index": [{"name": "pytorch-cu128", "url": "http://127.0.0.1:9/whl/cu128", "explicit": True}],
        "sources": {
            "torch": {"index": "pytorch-cu128", "marker": marker},
            "torchvision": {"index": "pytorch-cu128", "marker": marker},
        },
    }
    cpu = torch_routing(kind("none"), choose_variant(kind("none")), ["torch"], env={"PYX_TORCH_INDEX_URL": "file:///w"})
    assert cpu["sources"] == {"torch": {"index": "pytorch-cpu"}}
    assert torch_routing(kind("apple", platform="darwin", machine="arm64"),
                         choose_variant(kind("apple", platform="darwin", machine="arm64")), ["torch"]) == {}
    with pytest.raises(ConfigError):
        torch_routing(accelerator, choice, ["torch"], env={})


# -- the listing against a fake variant index ------------------------------------------------------------


def populate(index, *, version: str = "2.7.1") -> dict[str, int]:
    """torch ``version`` in cpu, cu118, cu126, cu128, rocm6.3 (each wheel a different size)."""
    sizes = {}
    for n, variant in enumerate(["cpu", "cu118", "cu126", "cu128", "rocm6.3"]):
        served = index.build(variant, "torch", version, tag=TAG, padding=2000 + 1000 * n)
        sizes[variant] = served.path.stat().st_size
    return sizes


def listing(index, accelerator, version=None, **kw):
    cache = Cache(kw.pop("cache_dir"))
    return asyncio.run(list_variants("torch", version, accelerator, base_url=index.base_url, cache=cache, tags=TAGS, retries=0, **kw))


def test_listing_verdicts_sizes_and_choice(variant_index, tmp_path: Path) -> None:
    index = variant_index()
    sizes = populate(index)
    index.build("cu128", "torch", "2.6.0", tag=TAG)  # older version elsewhere: not listed
    index.build("cu130", "torch", "2.7.1", tag="cp312-cp312-win_amd64")  # no wheel for this platform
    infos = listing(index, nvidia("535.104.05"), cache_dir=tmp_path / "c")
    by = {i.variant: i for i in infos}
    assert [i.variant for i in infos] == ["cu130", "cu128", "cu126", "cu118", "rocm6.3", "cpu"]
    assert by["cu128"].version == "2.7.1+cu128" and by["cu128"].size == sizes["cu128"]
    assert by["cu128"].filename == f"torch-2.7.1+cu128-{TAG}.whl"
    assert {v: i.size for v, i in by.items() if v != "cu130"} == sizes
    assert by["cu128"].chosen and sum(i.chosen for i in infos) == 1
    assert by["cu128"].compatible and by["cu126"].compatible and by["cpu"].compatible
    assert not by["cu130"].compatible and by["cu130"].filename is None and by["cu130"].size is None
    assert not by["rocm6.3"].compatible and "AMD GPU" in by["rocm6.3"].reason


def test_listing_explains_an_old_driver(variant_index, tmp_path: Path) -> None:
    index = variant_index()
    populate(index)
    by = {i.variant: i for i in listing(index, nvidia("470.82.01"), cache_dir=tmp_path / "c")}
    assert by["cu118"].chosen and by["cu118"].compatible
    assert not by["cu126"].compatible
    assert by["cu126"].reason == "needs NVIDIA driver ≥ 525.60.13 (this machine has 470.82.01)"


def test_listing_a_requested_version_and_the_newest(variant_index, tmp_path: Path) -> None:
    index = variant_index()
    populate(index, version="2.6.0")
    index.build("cu128", "torch", "2.7.1", tag=TAG)
    index.build("cu128", "torch", "2.8.0rc1", tag=TAG)  # pre-releases are not "the newest"
    newest = listing(index, kind("none"), cache_dir=tmp_path / "c")
    assert [(i.variant, i.version) for i in newest] == [("cu128", "2.7.1+cu128")]
    assert not newest[0].chosen  # cpu does not offer 2.7.1 and cu128 needs a GPU
    older = listing(index, kind("none"), "2.6.0", cache_dir=tmp_path / "c")
    assert {i.variant for i in older} == {"cpu", "cu118", "cu126", "cu128", "rocm6.3"}
    assert [i.variant for i in older if i.chosen] == ["cpu"]
    exact = listing(index, kind("none"), "2.6.0+cu126", cache_dir=tmp_path / "c")
    assert [i.variant for i in exact] == ["cu126"]
    with pytest.raises(NoMatchingDistribution):
        listing(index, kind("none"), "1.0", cache_dir=tmp_path / "c")


def test_listing_unknown_package(variant_index, tmp_path: Path) -> None:
    index = variant_index()
    populate(index)
    with pytest.raises(PackageNotFound) as caught:
        asyncio.run(list_variants("nope", None, kind("none"), base_url=index.base_url, cache=Cache(tmp_path), tags=TAGS))
    assert "`nope`" in caught.value.message


def test_listing_reads_variants_from_the_root_page(variant_index, tmp_path: Path) -> None:
    index = variant_index()
    index.build("cu999", "torch", "2.7.1", tag=TAG)  # a variant missing from the built-in list
    index.build("cpu", "torch", "2.7.1", tag=TAG)
    names = asyncio.run(discover_variants(index.base_url, Cache(tmp_path)))
    assert names == ["cu999", "cpu"]  # the root's `torch/` project link is not a variant
    infos = listing(index, nvidia("580.65.06"), cache_dir=tmp_path / "c")
    assert {i.variant for i in infos} == {"cu999", "cpu"}
    assert not index.asked("cu118")


def test_listing_without_a_root_page_probes_the_built_in_list(variant_index, tmp_path: Path) -> None:
    index = variant_index(root_page=False, html_only=True)
    populate(index)
    infos = listing(index, amd("gfx1100"), cache_dir=tmp_path / "c")
    assert index.asked("cu124") and index.asked("xpu")  # probed although absent
    assert [i.variant for i in infos if i.chosen] == ["rocm6.3"]
    assert all(i.size is None for i in infos)  # HTML pages carry no sizes


def test_listing_skips_a_failing_variant_with_a_notice(variant_index, tmp_path: Path) -> None:
    index = variant_index()
    populate(index)
    index.fail("cu128")
    reporter = CollectingReporter()
    infos = listing(index, nvidia("550.54.15"), cache_dir=tmp_path / "c", reporter=reporter)
    assert "cu128" not in {i.variant for i in infos}
    assert [i.variant for i in infos if i.chosen] == ["cu126"]
    assert any(isinstance(e, Notice) and "cu128" in e.message for e in reporter.events)


def test_parse_variant_root_json_and_html() -> None:
    page = b'{"meta": {"api-version": "1.1"}, "projects": [{"name": "cu128"}, {"name": "torch"}, {"name": "rocm6.3"}]}'
    assert parse_variant_root(page, "application/vnd.pypi.simple.v1+json") == ["cu128", "rocm6.3"]
    assert parse_variant_root(b'<a href="/whl/cpu/">cpu</a><a href="numpy/">numpy</a>', "text/html") == ["cpu"]


# -- pyx gpu --------------------------------------------------------------------------------------------


def run_gpu(*argv: str) -> tuple[int, str, str]:
    """``pyx gpu ...`` through the real parser when cli.py has the command, else through cli_gpu alone."""
    from pyx_server.cli import main as cli
    from pyx_server.cli import gpu as cli_gpu

    if _wired(cli):
        from tests.support.cli import pyx

        result = pyx(*argv)
        return result.code, result.out, result.err
    parser = argparse.ArgumentParser(prog="pyx")
    cli._global_options(parser, top=True)
    commands = parser.add_subparsers(dest="command")
    cli_gpu.add_parsers(commands, cli._global_options, cli._index_options)
    args = parser.parse_args(list(argv))
    console = cli.Console(args.quiet, args.verbose, "never")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_gpu.cmd_gpu(args, console, cli._Helpers)
        except PyxError as error:
            console.error(error)
            code = 2
    return code, out.getvalue(), err.getvalue()


def _wired(cli) -> bool:
    """Whether cli.py already routes `pyx gpu` (then the real entry point is tested)."""
    commands = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return "gpu" in commands.choices


@pytest.fixture
def machine_for_cli(fake_machine: FakeMachine, monkeypatch: pytest.MonkeyPatch) -> FakeMachine:
    import pyx_server.cli.gpu as cli_gpu

    def readers() -> Readers:
        env = {k: v for k, v in os.environ.items() if k != "PATH"}  # read when pyx runs: after setenv
        return fake_machine.readers(env=env, timeout=0.5)

    monkeypatch.setattr(cli_gpu, "_readers", readers)
    return fake_machine


def test_cli_json_offline(machine_for_cli: FakeMachine) -> None:
    machine_for_cli.nvidia_sys("550.144.03")
    machine_for_cli.tool("nvidia-smi", stdout="550.144.03, NVIDIA A100, 81920 MiB, 8.0\n")
    code, out, _ = run_gpu("gpu", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["variant"] == "cu129"
    assert data["index"]["consulted"] is False and "PYX_TORCH_INDEX_URL" in data["index"]["note"]
    assert data["accelerator"]["driver_version"] == "550.144.03"
    assert data["accelerator"]["devices"][0]["compute_capability"] == "8.0"
    assert {"source": "/sys/module/nvidia/version", "outcome": "found", "detail": "550.144.03"} in data["accelerator"]["sources"]


def test_cli_consults_the_index_when_configured(machine_for_cli: FakeMachine, variant_index, monkeypatch) -> None:
    from packaging.tags import sys_tags

    index = variant_index()
    here = str(next(iter(sys_tags())))
    for variant in ("cpu", "cu126", "cu128"):
        index.build(variant, "torch", "2.7.1", tag=here, padding=100)
    monkeypatch.setenv("PYX_CUDA_DRIVER_VERSION", "580.65.06")
    code, out, _ = run_gpu("gpu", "--format", "json", "--torch-index-url", index.base_url)
    data = json.loads(out)
    assert code == 0 and data["variant"] == "cu128" and data["index"]["consulted"] is True
    assert sorted(data["index"]["offered"]) == ["cpu", "cu126", "cu128"]
    assert "up to cu132" in data["reason"] and "cu128 as the newest" in data["reason"]

    code, out, _ = run_gpu("gpu", "variants", "torch", "--torch-index-url", index.base_url)
    assert code == 0
    chosen = [line for line in out.splitlines() if line.startswith("→")]
    assert len(chosen) == 1 and "cu128" in chosen[0] and "2.7.1+cu128" in chosen[0]
    assert "pyx would install: cu128" in out

    code, out, _ = run_gpu("gpu", "variants", "torch", "--version", "2.7.1", "--format", "json",
                           "--torch-index-url", index.base_url, "--torch-backend", "cu126")
    data = json.loads(out)
    assert data["variant"] == "cu126" and data["explicit"] is True
    assert [v["variant"] for v in data["variants"] if v["chosen"]] == ["cu126"]


def test_cli_falls_back_when_the_index_is_unreachable(machine_for_cli: FakeMachine, monkeypatch) -> None:
    monkeypatch.setenv("PYX_CUDA_DRIVER_VERSION", "535.104.05")
    monkeypatch.setenv("PYX_HTTP_RETRIES", "0")
    code, out, _ = run_gpu("gpu", "--format", "json", "--torch-index-url", "http://127.0.0.1:9/whl")
    data = json.loads(out)
    assert code == 0 and data["variant"] == "cu129" and data["index"]["consulted"] is False
    assert "could not be consulted" in data["index"]["note"]


def test_cli_text_verbose_lists_sources(machine_for_cli: FakeMachine) -> None:
    machine_for_cli.tool("nvidia-smi", hang=True)
    machine_for_cli.pci("0000:03:00.0", klass="0x030000", vendor="0x8086")
    code, out, _ = run_gpu("gpu", "-v")
    assert code == 0
    assert "Accelerator: Intel GPU (XPU)" in out and "Variant: xpu" in out
    assert "not consulted" in out
    assert any("nvidia-smi" in line and "timed-out" in line for line in out.splitlines())


def test_cli_variants_needs_the_index_url(machine_for_cli: FakeMachine) -> None:
    code, _, err = run_gpu("gpu", "variants", "torch")
    assert code == 2 and "PYX_TORCH_INDEX_URL" in err


def test_cli_bad_backend_is_an_error(machine_for_cli: FakeMachine) -> None:
    code, _, err = run_gpu("gpu", "--torch-backend", "cuda")
    assert code == 2 and "`cuda`" in err


def test_injected_runner_errors_are_recorded(fake_machine: FakeMachine) -> None:
    def run(argv, timeout):
        if argv[0] == "nvidia-smi":
            raise OSError("exec format error")
        return (0, "gfx1030\n") if argv[0] == "rocm_agent_enumerator" else None

    readers = fake_machine.readers()
    found = detect(Readers(**{**readers.__dict__, "run": run}), details=False)
    assert found.kind == "amd" and found.architectures == ("gfx1030",)
    smi = [p for p in found.sources if p.source == "nvidia-smi"]
    assert smi[0].outcome == "failed" and "exec format error" in smi[0].detail


def test_listing_offline_from_a_warm_cache(variant_index, tmp_path: Path) -> None:
    index = variant_index()
    populate(index)
    online = listing(index, nvidia("550.54.15"), cache_dir=tmp_path / "c")
    base = index.base_url
    index.close()
    offline = asyncio.run(list_variants("torch", None, nvidia("550.54.15"), base_url=base, cache=Cache(tmp_path / "c"),
                                        tags=TAGS, retries=0, offline=True))
    assert [(i.variant, i.size, i.chosen) for i in offline] == [(i.variant, i.size, i.chosen) for i in online]


def test_routing_without_markers_and_for_rocm() -> None:
    accelerator = amd("gfx90a")
    choice = choose_variant(accelerator, ["rocm6.3", "cpu"])
    plain = torch_routing(accelerator, choice, ["torch"], base_url="http://127.0.0.1:9/whl", markers=False)
    assert plain["sources"] == {"torch": {"index": "pytorch-rocm6.3"}}
    marked = torch_routing(accelerator, choice, ["torch", "pytorch-triton-rocm"], base_url="http://127.0.0.1:9/whl")
    assert marked["sources"]["pytorch-triton-rocm"] == {"index": "pytorch-rocm6.3", "marker": "sys_platform == 'linux'"}
