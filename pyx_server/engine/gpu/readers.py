"""The machine as detection reads it: files, directories, tools, NVML, behind injectable ``Readers``.

The only I/O of GPU detection. Commands run with a timeout (3 s by default) in their own
process group, which is killed on expiry: a wedged driver tool cannot keep pyx waiting.
Tests replace each reader (``tests/support/gpu_fixtures.py``).
"""

from __future__ import annotations

import os
import platform as _platform
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyx_server.engine.gpu.accelerator import GpuDevice

DEFAULT_TIMEOUT = 3.0


@dataclass(frozen=True)
class NvmlReading:
    """What NVML (``nvidia-ml-py``) reports: the driver and the devices."""

    driver_version: str
    devices: tuple[GpuDevice, ...]


def read_text_file(path: str) -> str | None:
    """The text of ``path``; None when it does not exist (other errors propagate, to be recorded)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def list_directory(path: str) -> list[str] | None:
    """The entry names of ``path``, sorted; None when it does not exist."""
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return None


def run_command(argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None) -> tuple[int, str] | None:
    """Run ``argv`` with a hard deadline: ``(exit code, stdout)``, or None when it is not installed.

    The command runs in its own process group (POSIX) so that on timeout the whole group is
    killed, grandchildren included, and ``TimeoutError`` is raised: a wedged driver tool
    cannot keep pyx waiting on a pipe.
    """
    env = os.environ if env is None else env
    executable = shutil.which(argv[0], path=env.get("PATH", os.defpath))
    if executable is None:
        return None
    options: dict[str, Any] = {}
    if os.name == "posix":
        options["start_new_session"] = True
    elif sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        options["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    process = subprocess.Popen(
        [executable, *argv[1:]],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        **options,
    )
    try:
        out, _err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        try:
            process.communicate(timeout=1)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that escaped its group
            pass
        raise TimeoutError(f"`{argv[0]}` did not answer within {timeout:g} s") from None
    return process.returncode, out.decode("utf-8", errors="replace")


def _kill_group(process: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            process.kill()
    except (ProcessLookupError, PermissionError, OSError):
        process.kill()


def read_nvml() -> NvmlReading | None:
    """The driver and devices through NVML, or None when ``nvidia-ml-py`` is not installed."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return None
    pynvml.nvmlInit()
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else str(driver)
        devices = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else str(name)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total // (1024 * 1024)
            try:
                major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
                capability: str | None = f"{major}.{minor}"
            except Exception:  # older drivers lack the call
                capability = None
            devices.append(GpuDevice("nvidia", name=name, memory_mib=int(memory), compute_capability=capability))
        return NvmlReading(driver_version=driver, devices=tuple(devices))
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


@dataclass(frozen=True)
class Readers:
    """Every way detection touches the machine, injectable for tests.

    Paths handed to ``read_file`` / ``list_dir`` are already placed under ``sys_root``;
    ``run(argv, timeout)`` returns ``(exit code, stdout)``, None when the tool is missing, and
    raises ``TimeoutError`` when it overruns; ``nvml()`` returns None when NVML is unavailable.
    """

    read_file: Callable[[str], str | None] = read_text_file
    run: Callable[[Sequence[str], float], tuple[int, str] | None] | None = None
    list_dir: Callable[[str], list[str] | None] = list_directory
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    platform: str = sys.platform
    machine: str = field(default_factory=_platform.machine)
    sys_root: str = "/"
    nvml: Callable[[], NvmlReading | None] | None = read_nvml
    timeout: float = DEFAULT_TIMEOUT

    def path(self, logical: str) -> str:
        """Where ``logical`` (an absolute path such as ``/sys/...``) is under ``sys_root``."""
        if self.sys_root in ("", "/"):
            return logical
        return str(Path(self.sys_root) / logical.lstrip("/"))

    def execute(self, argv: Sequence[str]) -> tuple[int, str] | None:
        """Run a tool with this reader's timeout (and ``env``'s ``PATH``)."""
        if self.run is not None:
            return self.run(argv, self.timeout)
        return run_command(argv, self.timeout, self.env)
