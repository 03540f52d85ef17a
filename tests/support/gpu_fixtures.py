"""Fake GPU machines and a fake PyTorch-style variant index, so GPU tests need no GPU and no network.

Machines: ``FakeMachine(tmp_path)`` builds a ``/sys``-``/proc``-``/opt/rocm`` tree under its
root and a ``bin`` directory of fake tools, and hands out ``Readers`` that see only them::

    machine = FakeMachine(tmp_path)
    machine.nvidia_sys("550.144.03")                  # /sys/module/nvidia/version
    machine.nvidia_proc("550.144.03")                 # /proc/driver/nvidia/version
    machine.tool("nvidia-smi", stdout="550.144.03, NVIDIA A100, 81920 MiB, 8.0\n")
    machine.tool("rocm_agent_enumerator", hang=True)  # sleeps 60 s (in a grandchild too)
    machine.pci("0000:00:02.0", klass="0x030000", vendor="0x8086")
    machine.rocm_version("6.3.1-48")
    accelerator = detect(machine.readers(env={...}, platform="linux"))

Tools are ``/bin/sh`` scripts calling programs by absolute path, and ``PATH`` holds only the
fake ``bin`` directory, so a real driver tool on the host is never run.

Variant index: ``VariantIndex(root).start()`` serves ``<base>/`` (a root page linking each
variant, unless ``root_page=False``), ``<base>/<variant>/<project>/`` (PEP 691 JSON with sizes,
or PEP 503 HTML) and ``<base>/<variant>/files/<file>``. ``build(variant, name, version, ...)``
writes a wheel whose version carries the local label (``2.7.1+cu128``); ``padding`` adds
incompressible bytes so each variant's wheel has a distinct size. ``fail(variant)`` makes that
variant answer 500; ``requests`` logs every path asked.

PEP 825 wheel variants: ``build(..., local=False, label="cu128", properties={...})`` writes a
variant-labelled wheel (``torch-2.9.0-py3-none-any-cu128.whl``) holding its
``*.dist-info/variant.json``; ``variants_json(variant, name, version, {label: properties})``
publishes the index-level ``{name}-{version}-variants.json`` on that variant's page.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import stat
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from packaging.utils import canonicalize_name

from pyx_server.engine.gpu.readers import NvmlReading, Readers
from tests.support.index_server import (
    ServedFile,
    _served,
    _wants_json,
    read_metadata_bytes,
    render_html,
    render_json,
    server_factory,
    start_server,
    stop_server,
)
from tests.support.wheels import build_wheel, dist_name

#: a ``$schema`` of the draft format PEP 825 describes (the host is reserved, never resolved)
VARIANT_SCHEMA = "https://schema.invalid/variants/v0.0.3.json"

PROC_VERSION = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {version}  Release Build  "
    "(dvs-builder@U16-I3-D08-1-2)  Mon Dec 30 17:26:13 UTC 2024\n"
    "GCC version:  gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04)\n"
)

ROCMINFO_AGENT = """\
*******
Agent {index}
*******
  Name:                    {name}
  Uuid:                    GPU-{index}
  Marketing Name:          {marketing}
  Vendor Name:             AMD
  Device Type:             {device_type}
"""


def rocminfo_output(*agents: tuple[str, str, str]) -> str:
    """``rocminfo`` text with one block per ``(name, marketing name, device type)``."""
    blocks = [ROCMINFO_AGENT.format(index=i + 1, name=n, marketing=m, device_type=t) for i, (n, m, t) in enumerate(agents)]
    return "ROCk module is loaded\n=====================\nHSA Agents\n==========\n" + "".join(blocks)


class FakeMachine:
    """A fake filesystem root and tool directory; see the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = root / "machine"
        self.bin = root / "bin"
        self.root.mkdir(parents=True, exist_ok=True)
        self.bin.mkdir(parents=True, exist_ok=True)
        self._sh = shutil.which("sh") or "/bin/sh"
        self._sleep = shutil.which("sleep") or "/bin/sleep"

    def write(self, logical: str, text: str) -> Path:
        """Put ``text`` at ``logical`` (an absolute path such as ``/sys/...``) under the root."""
        path = self.root / logical.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def nvidia_sys(self, version: str) -> Path:
        return self.write("/sys/module/nvidia/version", version + "\n")

    def nvidia_proc(self, version: str, text: str | None = None) -> Path:
        return self.write("/proc/driver/nvidia/version", text if text is not None else PROC_VERSION.format(version=version))

    def rocm_version(self, version: str, root: str = "/opt/rocm") -> Path:
        return self.write(f"{root}/.info/version", version + "\n")

    def pci(self, address: str, *, klass: str, vendor: str, device: str = "0x56a0") -> None:
        base = f"/sys/bus/pci/devices/{address}"
        self.write(f"{base}/class", klass + "\n")
        self.write(f"{base}/vendor", vendor + "\n")
        self.write(f"{base}/device", device + "\n")

    def tool(self, name: str, *, stdout: str = "", exit_code: int = 0, hang: bool = False,
             argv_log: bool = False, fail_on: str | None = None) -> Path:
        """A fake executable: prints ``stdout`` and exits ``exit_code``; ``hang`` sleeps 60 s in a
        child process; ``argv_log`` appends its arguments to ``<bin>/<name>.log``; ``fail_on``
        exits 2 when that text is among the arguments (an old ``nvidia-smi`` refusing a field)."""
        data = self.bin / f"{name}.out"
        data.write_text(stdout)
        lines = [f"#!{self._sh}"]
        if argv_log:
            lines.append(f'echo "$@" >> "{self.bin / (name + ".log")}"')
        if fail_on is not None:
            lines.append(f'case "$*" in *{fail_on}*) echo "Field \\"{fail_on}\\" is not a valid field to query."; exit 2;; esac')
        if hang:
            lines.append(f"{self._sleep} 60")
        lines.append(f'while IFS= read -r line || [ -n "$line" ]; do printf "%s\\n" "$line"; done < "{data}"')
        lines.append(f"exit {exit_code}")
        path = self.bin / name
        path.write_text("\n".join(lines) + "\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    def calls(self, name: str) -> list[str]:
        """The argument lines a tool made with ``argv_log=True`` was called with."""
        log = self.bin / f"{name}.log"
        return log.read_text().splitlines() if log.exists() else []

    def readers(
        self,
        *,
        env: Mapping[str, str] | None = None,
        platform: str = "linux",
        machine: str = "x86_64",
        timeout: float = 3.0,
        nvml: Callable[[], NvmlReading | None] | None = lambda: None,
    ) -> Readers:
        """``Readers`` that see only this fake machine (PATH = the fake ``bin``)."""
        return Readers(
            env={"PATH": str(self.bin), **(env or {})},
            platform=platform,
            machine=machine,
            sys_root=str(self.root),
            nvml=nvml,
            timeout=timeout,
        )


# -- the variant index ---------------------------------------------------------------------------------


class VariantIndex:
    """A PyTorch-style index: one simple index per variant under one base URL."""

    def __init__(self, root: Path, *, root_page: bool = True, html_only: bool = False) -> None:
        self.root = root
        self.root_page = root_page
        self.html_only = html_only
        self.files: dict[str, dict[str, ServedFile]] = {}
        self.requests: list[str] = []
        self._failing: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # lifecycle

    def start(self) -> VariantIndex:
        self._server = start_server(_VariantHandler, self, backlog=64, name="variant-index")
        return self

    def close(self) -> None:
        if self._server is not None:
            stop_server(self._server)
            self._server = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "index not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/whl"

    def url(self, variant: str) -> str:
        return f"{self.base_url}/{variant}/"

    # content

    def build(self, variant: str, name: str, version: str, *, tag: str = "py3-none-any", padding: int = 0,
              local: bool = True, label: str | None = None, properties: dict | None = None,
              **wheel_options: Any) -> ServedFile:
        """A wheel of ``name`` ``version+<variant>`` (``local=False``: no label) in that variant;
        ``label`` makes it a PEP 825 variant wheel whose ``variant.json`` holds ``properties``."""
        full = f"{version}+{variant}" if local else version
        directory = self.root / variant / "files"
        files = {f"{dist_name(name)}/__init__.py": f'__version__ = "{full}"\n'}
        if padding:
            files[f"{dist_name(name)}/_blob.bin"] = random.Random(f"{variant}-{name}-{version}-{label}").randbytes(padding)
        if label is not None:
            files[f"{dist_name(name)}-{full}.dist-info/variant.json"] = json.dumps(variants_document({label: properties or {}}))
        path = build_wheel(directory, name, full, tag=tag, files=files, **wheel_options)
        if label is not None:
            path = path.rename(path.with_name(f"{path.name[:-4]}-{label}.whl"))
            served = ServedFile(path=path, filename=path.name, name=name, version=full,
                                sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                                metadata_bytes=read_metadata_bytes(path))
        else:
            served = _served(path)
        with self._lock:
            self.files.setdefault(variant, {})[served.filename] = served
        return served

    def variants_json(self, variant: str, name: str, version: str, variants: dict[str, dict],
                      *, document: dict | None = None) -> ServedFile:
        """Publish ``{name}-{version}-variants.json`` (``variants``: label → properties) on ``variant``'s
        page; ``document`` replaces the whole file (a malformed or future one)."""
        directory = self.root / variant / "files"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{dist_name(name)}-{version}-variants.json"
        path.write_text(json.dumps(document if document is not None else variants_document(variants)))
        served = ServedFile(path=path, filename=path.name, name=name, version=version,
                            sha256=hashlib.sha256(path.read_bytes()).hexdigest(), metadata_bytes=b"", metadata=False)
        with self._lock:
            self.files.setdefault(variant, {})[served.filename] = served
        return served

    def fail(self, variant: str, times: int = 100) -> None:
        """The next ``times`` requests under that variant answer 500."""
        with self._lock:
            self._failing[variant] = times

    def variants(self) -> list[str]:
        with self._lock:
            return sorted(self.files)

    def asked(self, variant: str) -> bool:
        """Whether any request went to that variant's index."""
        return any(p.startswith(f"/whl/{variant}/") for p in self.requests)

    def _take_failure(self, variant: str) -> bool:
        with self._lock:
            if self._failing.get(variant, 0) > 0:
                self._failing[variant] -= 1
                return True
        return False


class _VariantHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    index: VariantIndex

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        path = unquote(urlsplit(self.path).path)
        index = self.index
        with index._lock:
            index.requests.append(path)
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] != "whl":
            return self._send(404, b"not found\n", "text/plain")
        parts = parts[1:]
        if not parts:
            if not index.root_page:
                return self._send(404, b"not found\n", "text/plain")
            links = "".join(f'<a href="{v}/">{v}</a>\n' for v in index.variants())
            links += '<a href="torch/">torch</a>\n'  # a real root also lists projects: must be ignored
            return self._send(200, f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode(), "text/html")
        variant, rest = parts[0], parts[1:]
        if index._take_failure(variant):
            return self._send(500, b"server error\n", "text/plain")
        files = dict(index.files.get(variant, {}))
        if not files:
            return self._send(404, b"not found\n", "text/plain")
        if len(rest) == 2 and rest[0] == "files":
            return self._file(files, rest[1])
        if len(rest) == 1:
            name = canonicalize_name(rest[0])
            served = [f for f in files.values() if canonicalize_name(f.name) == name]
            if not served:
                return self._send(404, b"not found\n", "text/plain")
            options = {"metadata": True, "metadata_attr": "core-metadata"}
            if not index.html_only and _wants_json(self.headers.get("Accept")):
                body = render_json(served, str(name), "../files/", **options)
                return self._send(200, body.encode(), "application/vnd.pypi.simple.v1+json")
            body = render_html(served, str(name), "../files/", **options)
            return self._send(200, body.encode(), "text/html; charset=utf-8")
        return self._send(404, b"not found\n", "text/plain")

    def _file(self, files: dict[str, ServedFile], filename: str) -> None:
        if filename.endswith(".metadata"):
            served = files.get(filename[: -len(".metadata")])
            if served is None:
                return self._send(404, b"not found\n", "text/plain")
            return self._send(200, served.metadata_bytes, "application/octet-stream")
        served = files.get(filename)
        if served is None:
            return self._send(404, b"not found\n", "text/plain")
        return self._send(200, served.path.read_bytes(), "application/octet-stream")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=0, must-revalidate")
        self.end_headers()
        self.wfile.write(body)


def variants_document(variants: dict[str, dict]) -> dict:
    """A PEP 825 variants.json / variant.json body with these labels (namespaces in first-seen order)."""
    namespaces = list(dict.fromkeys(ns for props in variants.values() for ns in props))
    return {"$schema": VARIANT_SCHEMA, "default-priorities": {"namespace": namespaces}, "variants": variants}


@pytest.fixture
def variant_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., VariantIndex]]:
    """Factory: ``variant_index(root_page=True, html_only=False)`` starts a ``VariantIndex``."""
    yield from server_factory(tmp_path_factory, VariantIndex, "variants")


@pytest.fixture
def fake_machine(tmp_path: Path) -> FakeMachine:
    """A fresh ``FakeMachine`` in the test's temporary directory."""
    return FakeMachine(tmp_path)


__all__ = ["FakeMachine", "VariantIndex", "fake_machine", "rocminfo_output", "variant_index", "variants_document"]
