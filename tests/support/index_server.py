"""A local package index for tests: PEP 691 JSON + PEP 503 HTML on 127.0.0.1, and file indexes.

The ``local_index`` fixture is a factory; each call starts one server (a
``ThreadingHTTPServer`` in a background thread, stopped at the end of the test)::

    def test_install(local_index, tmp_path):
        index = local_index()                       # options: see LocalIndex
        index.build("demo", "1.0", requires_dist=["dep"])   # build_wheel(...) into the index
        index.add(build_wheel(tmp_path, "dep", "2.0"), yanked="broken")
        index.add_sdist("legacy", "0.1")
        index.url            # "http://127.0.0.1:PORT/simple/"   (pass as --index-url)
        index.auth_url       # same with "user:password@" when auth=(user, password) was given
        index.fail(times=1)  # the next request answers 500 (status=, path= to narrow)
        index.drop_connection("demo-1.0-py3-none-any.whl")   # next download of it dies mid-way
        index.requests       # list[RequestRecord(method, path, headers, status)]
        index.count("/simple/demo/")   # how many requests hit that path
        index.delay = 0.1; index.max_in_flight   # slow answers; peak concurrent requests seen
        index.page_overrides["demo"] = (b"{...", "application/vnd.pypi.simple.v1+json")  # a broken page

Options of ``local_index(...)`` (also attributes, changeable later):

* ``html_only=False``: ignore ``Accept`` and always answer PEP 503 HTML;
* ``metadata=True``: offer PEP 658 metadata files (``<file>.metadata``) for every file;
  ``metadata_attr`` = "both" | "core-metadata" | "dist-info-metadata" picks the spelling;
* ``auth=None``: ``(user, password)`` makes every request need HTTP basic auth (401 otherwise);
* ``cache_control="max-age=0, must-revalidate"``: the pages' ``Cache-Control`` (None: no header).
  Pages carry an ``ETag`` and answer ``If-None-Match`` with ``304``, unless ``etag=False``
  (no validator at all: every request gets the whole page, as some real indexes answer);
* ``relative_urls=True``: file links relative to the page (``../../files/x.whl``) or absolute.

``add(path, yanked=False|True|"reason", requires_python=None, metadata=None, hashes=None,
upload_time=None)`` serves a wheel or sdist: requires-python defaults to the file's own
metadata, ``hashes`` overrides what the pages advertise (to provoke hash mismatches),
``metadata`` overrides the index-wide PEP 658 switch for that file. ``add``, ``build`` and
``add_sdist`` return a ``ServedFile`` (``.filename``, ``.sha256``, ``.path``, ``.name``,
``.version``); ``build``/``add_sdist`` pass ``index_options={...}`` on to ``add``.

Files for the other kinds of location, no server needed:
``make_find_links_dir(directory, files)`` (a flat directory) and
``make_file_index(directory, files, json_pages=False)`` (a ``file://`` simple tree; returns its URL).
``build_sdist(directory, name, version, ...)`` writes a ``.tar.gz`` with ``PKG-INFO``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import shutil
import socket
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from packaging.metadata import Metadata
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from tests.support.wheels import build_wheel, dist_name, metadata_text

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True)
class RequestRecord:
    """One request the server saw (headers with lower-cased names) and the status it answered."""

    method: str
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class ServedFile:
    path: Path
    filename: str
    name: str
    version: str
    sha256: str
    metadata_bytes: bytes
    yanked: bool | str = False
    requires_python: str | None = None
    metadata: bool | None = None
    hashes: dict[str, str] | None = None
    upload_time: str | None = None

    @property
    def advertised_hashes(self) -> dict[str, str]:
        return dict(self.hashes) if self.hashes is not None else {"sha256": self.sha256}


@dataclass
class _Rule:
    remaining: int
    status: int
    path: str


def build_sdist(
    directory: Path,
    name: str,
    version: str,
    *,
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    metadata_version: str = "2.1",
    dynamic: Iterable[str] = (),
) -> Path:
    """Write ``<name>-<version>.tar.gz`` holding ``PKG-INFO`` and a minimal ``pyproject.toml``."""
    directory.mkdir(parents=True, exist_ok=True)
    base = f"{dist_name(name)}-{version}"
    text = metadata_text(name, version, requires_dist=requires_dist, requires_python=requires_python)
    text = text.replace("Metadata-Version: 2.1", f"Metadata-Version: {metadata_version}", 1)
    extra = "".join(f"Dynamic: {d}\n" for d in dynamic)
    if extra:
        text = text.rstrip("\n") + "\n" + extra + "\n"
    members = {
        f"{base}/PKG-INFO": text.encode(),
        f"{base}/pyproject.toml": b'[build-system]\nrequires = []\nbuild-backend = "backend"\n',
    }
    path = directory / f"{base}.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for member, content in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(content)
            info.mtime = 1704067200
            tf.addfile(info, io.BytesIO(content))
    return path


def read_metadata_bytes(path: Path) -> bytes:
    """The core metadata inside a wheel (``*.dist-info/METADATA``) or an sdist (``PKG-INFO``)."""
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as zf:
            name = next(n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
            return zf.read(name)
    with tarfile.open(path) as tf:
        for member in tf:
            if member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                extracted = tf.extractfile(member)
                assert extracted is not None
                return extracted.read()
    raise ValueError(f"no metadata in {path}")


def _describe(path: Path) -> tuple[str, str]:
    if path.name.endswith(".whl"):
        name, version, _, _ = parse_wheel_filename(path.name)
    else:
        name, version = parse_sdist_filename(path.name)
    return str(name), str(version)


def _served(path: Path, **options: Any) -> ServedFile:
    name, version = _describe(path)
    meta_bytes = read_metadata_bytes(path)
    requires_python = options.pop("requires_python", None)
    if requires_python is None:
        requires_python = Metadata.from_email(meta_bytes, validate=False).requires_python
        requires_python = str(requires_python) if requires_python is not None else None
    return ServedFile(
        path=path,
        filename=path.name,
        name=name,
        version=version,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        metadata_bytes=meta_bytes,
        requires_python=requires_python,
        **options,
    )


def _metadata_value(served: ServedFile, json_form: bool) -> Any:
    digest = hashlib.sha256(served.metadata_bytes).hexdigest()
    return {"sha256": digest} if json_form else f"sha256={digest}"


def render_html(files: Iterable[ServedFile], name: str, file_base: str, *, metadata: bool, metadata_attr: str) -> str:
    """A PEP 503 project page (with PEP 592 / 658 / 714 attributes)."""
    rows = []
    for f in files:
        attrs = [f'href="{html.escape(file_base + f.filename)}#{_fragment(f)}"']
        if f.requires_python:
            attrs.append(f'data-requires-python="{html.escape(f.requires_python)}"')
        if f.yanked is not False:
            reason = f.yanked if isinstance(f.yanked, str) else ""
            attrs.append(f'data-yanked="{html.escape(reason)}"')
        if f.metadata if f.metadata is not None else metadata:
            value = html.escape(_metadata_value(f, json_form=False))
            if metadata_attr in ("both", "core-metadata"):
                attrs.append(f'data-core-metadata="{value}"')
            if metadata_attr in ("both", "dist-info-metadata"):
                attrs.append(f'data-dist-info-metadata="{value}"')
        rows.append(f"    <a {' '.join(attrs)}>{html.escape(f.filename)}</a><br/>")
    body = "\n".join(rows)
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n"
        f"    <title>Links for {html.escape(name)}</title>\n  </head>\n  <body>\n"
        f"    <h1>Links for {html.escape(name)}</h1>\n{body}\n  </body>\n</html>\n"
    )


def _fragment(f: ServedFile) -> str:
    hashes = f.advertised_hashes
    algo = "sha256" if "sha256" in hashes else next(iter(hashes), None)
    return f"{algo}={hashes[algo]}" if algo else ""


def render_json(files: Iterable[ServedFile], name: str, file_base: str, *, metadata: bool, metadata_attr: str) -> str:
    """A PEP 691 project page (API 1.1: PEP 700 ``versions``, ``size``, ``upload-time``)."""
    entries = []
    versions: set[str] = set()
    for f in files:
        versions.add(f.version)
        entry: dict[str, Any] = {
            "filename": f.filename,
            "url": file_base + f.filename,
            "hashes": f.advertised_hashes,
            "requires-python": f.requires_python,
            "yanked": f.yanked,
            "size": f.path.stat().st_size,
        }
        if f.upload_time:
            entry["upload-time"] = f.upload_time
        if f.metadata if f.metadata is not None else metadata:
            value = _metadata_value(f, json_form=True)
            if metadata_attr in ("both", "core-metadata"):
                entry["core-metadata"] = value
            if metadata_attr in ("both", "dist-info-metadata"):
                entry["dist-info-metadata"] = value
        entries.append(entry)
    data = {
        "meta": {"api-version": "1.1"},
        "name": name,
        "files": entries,
        "versions": sorted(versions, key=Version),
    }
    return json.dumps(data)


def _wants_json(accept: str | None) -> bool:
    """Content negotiation: JSON when the client ranks the PEP 691 JSON type above every HTML type."""
    best_json, best_html = 0.0, 0.0
    for part in (accept or "").split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media == JSON_TYPE:
            best_json = max(best_json, q)
        elif media in ("application/vnd.pypi.simple.v1+html", "text/html", "*/*", "text/*"):
            best_html = max(best_html, q)
    if not accept:
        best_html = 1.0
    return best_json > 0 and best_json >= best_html


def start_server(handler: type[BaseHTTPRequestHandler], index: object, *, backlog: int = 128, name: str) -> ThreadingHTTPServer:
    """A server on 127.0.0.1 (a free port) whose ``handler`` sees ``index`` as ``self.index``,
    answering on a daemon thread until ``stop_server``.

    The listen backlog is deep: the default (5) drops parallel connects, which then wait 1 s
    for a SYN retry.
    """
    handler_class = type("Handler", (handler,), {"index": index})
    server_class = type("Server", (ThreadingHTTPServer,), {"request_queue_size": backlog})
    server = server_class(("127.0.0.1", 0), handler_class)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True).start()
    return server


def stop_server(server: ThreadingHTTPServer) -> None:
    """Stop answering and close the listening socket."""
    server.shutdown()
    server.server_close()


class LocalIndex:
    """One running test index; see the module docstring for the whole API."""

    def __init__(
        self,
        root: Path,
        *,
        html_only: bool = False,
        metadata: bool = True,
        metadata_attr: str = "both",
        auth: tuple[str, str] | None = None,
        cache_control: str | None = "max-age=0, must-revalidate",
        relative_urls: bool = True,
        etag: bool = True,
    ) -> None:
        self.root = root
        self.files_dir = root / "files"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.html_only = html_only
        self.metadata = metadata
        self.metadata_attr = metadata_attr
        self.auth = auth
        self.cache_control = cache_control
        self.relative_urls = relative_urls
        self.etag = etag
        #: answer ``Range`` requests for files with 206 (as real indexes do); False: always 200
        self.ranges = True
        self.files: dict[str, ServedFile] = {}
        #: project name → (body, content type) served instead of the generated page
        self.page_overrides: dict[str, tuple[bytes, str]] = {}
        self.requests: list[RequestRecord] = []
        self._rules: list[_Rule] = []
        self._drops: dict[str, int] = {}
        #: seconds each request waits before answering (to observe concurrency)
        self.delay = 0.0
        #: the most requests that were being answered at the same moment
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> LocalIndex:
        self._server = start_server(_Handler, self, name="local-index")
        return self

    def close(self) -> None:
        if self._server is not None:
            stop_server(self._server)
            self._server = None

    # -- addresses ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "index not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The simple index URL (no credentials)."""
        return f"{self.base_url}/simple/"

    @property
    def auth_url(self) -> str:
        """The simple index URL with the ``auth`` credentials embedded."""
        assert self.auth is not None, "index was created without auth"
        user, password = self.auth
        return f"http://{user}:{password}@127.0.0.1:{self.port}/simple/"

    def file_url(self, filename: str) -> str:
        return f"{self.base_url}/files/{filename}"

    # -- content ------------------------------------------------------------------------------

    def add(
        self,
        path: Path,
        *,
        yanked: bool | str = False,
        requires_python: str | None = None,
        metadata: bool | None = None,
        hashes: dict[str, str] | None = None,
        upload_time: str | None = None,
    ) -> ServedFile:
        """Serve the wheel or sdist at ``path`` (copied into the index's file area)."""
        target = self.files_dir / path.name
        if path.resolve() != target.resolve():
            shutil.copyfile(path, target)
        served = _served(
            target,
            yanked=yanked,
            requires_python=requires_python,
            metadata=metadata,
            hashes=hashes,
            upload_time=upload_time,
        )
        with self._lock:
            self.files[served.filename] = served
        return served

    def build(self, name: str, version: str, *, index_options: dict[str, Any] | None = None, **wheel_options: Any) -> ServedFile:
        """``build_wheel(...)`` straight into the index; ``index_options`` go to ``add``."""
        path = build_wheel(self.files_dir, name, version, **wheel_options)
        return self.add(path, **(index_options or {}))

    def add_sdist(self, name: str, version: str, *, index_options: dict[str, Any] | None = None, **sdist_options: Any) -> ServedFile:
        path = build_sdist(self.files_dir, name, version, **sdist_options)
        return self.add(path, **(index_options or {}))

    def remove(self, filename: str) -> None:
        with self._lock:
            self.files.pop(filename, None)

    def project_files(self, name: str) -> list[ServedFile]:
        wanted = canonicalize_name(name)
        with self._lock:
            return [f for f in self.files.values() if canonicalize_name(f.name) == wanted]

    # -- misbehaviour ---------------------------------------------------------------------------

    def fail(self, times: int = 1, *, status: int = 500, path: str = "/") -> None:
        """The next ``times`` requests whose path starts with ``path`` answer ``status``."""
        with self._lock:
            self._rules.append(_Rule(times, status, path))

    def drop_connection(self, filename: str, times: int = 1) -> None:
        """The next ``times`` downloads of ``filename`` send half the bytes and close the socket."""
        with self._lock:
            self._drops[filename] = self._drops.get(filename, 0) + times

    # -- the request log ------------------------------------------------------------------------

    def count(self, path: str, *, status: int | None = None) -> int:
        """Requests whose path equals ``path`` (and answered ``status``, when given)."""
        with self._lock:
            return sum(1 for r in self.requests if r.path == path and (status is None or r.status == status))

    def requests_to(self, path: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- used by the handler ------------------------------------------------------------------------

    def _take_rule(self, path: str) -> int | None:
        with self._lock:
            for rule in self._rules:
                if rule.remaining > 0 and path.startswith(rule.path):
                    rule.remaining -= 1
                    return rule.status
        return None

    def _take_drop(self, filename: str) -> bool:
        with self._lock:
            if self._drops.get(filename, 0) > 0:
                self._drops[filename] -= 1
                return True
        return False

    def _log(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # answer at once: without this, keep-alive responses wait ~40 ms for delayed ACKs (Nagle)
    disable_nagle_algorithm = True
    index: LocalIndex  # set on the per-server subclass

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's spelling
        path = unquote(urlsplit(self.path).path)
        index = self.index
        with index._lock:
            index._in_flight += 1
            index.max_in_flight = max(index.max_in_flight, index._in_flight)
        self._log_path = path
        try:
            if index.delay:
                time.sleep(index.delay)
            self._route(path)
        finally:
            with index._lock:
                index._in_flight -= 1

    def send_response(self, code: int, message: str | None = None) -> None:
        # logged before the first byte goes out, so a client that has its answer can rely on the log
        self.index._log(
            RequestRecord(
                method="GET",
                path=self._log_path,
                headers={k.lower(): v for k, v in self.headers.items()},
                status=code,
            )
        )
        super().send_response(code, message)

    def _route(self, path: str) -> int:
        index = self.index
        failing = index._take_rule(path)
        if failing is not None:
            return self._send(failing, b"server error\n", "text/plain")
        if index.auth is not None:
            expected = "Basic " + base64.b64encode(":".join(index.auth).encode()).decode()
            if self.headers.get("Authorization") != expected:
                return self._send(401, b"unauthorized\n", "text/plain", {"WWW-Authenticate": 'Basic realm="pyx-test"'})
        if path in ("/simple", "/simple/"):
            return self._root()
        if path.startswith("/simple/"):
            name = path[len("/simple/") :].strip("/")
            if "/" in name:
                return self._send(404, b"not found\n", "text/plain")
            canonical = canonicalize_name(name)
            if name != canonical or not path.endswith("/"):
                return self._send(301, b"", "text/plain", {"Location": f"/simple/{canonical}/"})
            return self._project(canonical)
        if path.startswith("/files/"):
            return self._file(path[len("/files/") :])
        return self._send(404, b"not found\n", "text/plain")

    def _root(self) -> int:
        names = sorted({canonicalize_name(f.name) for f in self.index.files.values()})
        if not self.index.html_only and _wants_json(self.headers.get("Accept")):
            body = json.dumps({"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]})
            return self._page(body.encode(), JSON_TYPE)
        links = "".join(f'<a href="{n}/">{n}</a>\n' for n in names)
        return self._page(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode(), HTML_TYPE)

    def _project(self, name: str) -> int:
        index = self.index
        if name in index.page_overrides:
            return self._page(*index.page_overrides[name])
        files = index.project_files(name)
        if not files:
            return self._send(404, b"not found\n", "text/plain")
        base = "../../files/" if index.relative_urls else f"{index.base_url}/files/"
        options = {"metadata": index.metadata, "metadata_attr": index.metadata_attr}
        if not index.html_only and _wants_json(self.headers.get("Accept")):
            return self._page(render_json(files, name, base, **options).encode(), JSON_TYPE)
        return self._page(render_html(files, name, base, **options).encode(), HTML_TYPE)

    def _page(self, body: bytes, content_type: str) -> int:
        etag = '"' + hashlib.sha256(body + content_type.encode()).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Vary": "Accept"} if self.index.etag else {"Vary": "Accept"}
        if self.index.cache_control is not None:
            headers["Cache-Control"] = self.index.cache_control
        candidates = [t.strip() for t in (self.headers.get("If-None-Match") or "").split(",")]
        if self.index.etag and etag in candidates:
            return self._send(304, b"", None, headers)
        return self._send(200, body, content_type, headers)

    def _file(self, filename: str) -> int:
        index = self.index
        if filename.endswith(".metadata"):
            served = index.files.get(filename[: -len(".metadata")])
            offered = served is not None and (served.metadata if served.metadata is not None else index.metadata)
            if not offered:
                return self._send(404, b"not found\n", "text/plain")
            assert served is not None
            return self._send(200, served.metadata_bytes, "application/octet-stream")
        served = index.files.get(filename)
        if served is None:
            return self._send(404, b"not found\n", "text/plain")
        data = served.path.read_bytes()
        if index._take_drop(filename):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return 200
        ranged = self.headers.get("Range") if index.ranges else None
        if ranged and ranged.startswith("bytes="):
            first, _, last = ranged[len("bytes="):].partition("-")
            size = len(data)
            if not first:  # the last N bytes
                start, end = max(0, size - int(last)), size - 1
            else:
                start, end = int(first), min(size - 1, int(last)) if last else size - 1
            headers = {"Content-Range": f"bytes {start}-{end}/{size}", "Accept-Ranges": "bytes"}
            return self._send(206, data[start : end + 1], "application/octet-stream", headers)
        return self._send(200, data, "application/octet-stream")

    def _send(self, status: int, body: bytes, content_type: str | None, headers: dict[str, str] | None = None) -> int:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)
        return status


# -- local (no server) locations -----------------------------------------------------------------


def make_find_links_dir(directory: Path, files: Iterable[Path]) -> Path:
    """A flat find-links directory holding copies of ``files``; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in files:
        if path.parent.resolve() != directory.resolve():
            shutil.copyfile(path, directory / path.name)
    return directory


def make_file_index(directory: Path, files: Iterable[Path], *, json_pages: bool = False, metadata: bool = True) -> str:
    """A ``file://`` simple index (``simple/<name>/index.html`` or ``index.json``); returns its URL.

    Files live in ``directory/files`` and are linked relatively with ``#sha256=`` hashes;
    PEP 658 ``.metadata`` files are written next to them when ``metadata`` is true.
    """
    files_dir = directory / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    by_name: dict[str, list[ServedFile]] = {}
    for path in files:
        target = files_dir / path.name
        if path.resolve() != target.resolve():
            shutil.copyfile(path, target)
        served = _served(target)
        by_name.setdefault(str(canonicalize_name(served.name)), []).append(served)
        if metadata:
            (files_dir / f"{served.filename}.metadata").write_bytes(served.metadata_bytes)
    simple = directory / "simple"
    for name, served_files in by_name.items():
        page_dir = simple / name
        page_dir.mkdir(parents=True, exist_ok=True)
        options = {"metadata": metadata, "metadata_attr": "core-metadata"}
        if json_pages:
            (page_dir / "index.json").write_text(render_json(served_files, name, "../../files/", **options))
        else:
            (page_dir / "index.html").write_text(render_html(served_files, name, "../../files/", **options))
    simple.mkdir(parents=True, exist_ok=True)
    return simple.as_uri()


def server_factory(tmp_path_factory: pytest.TempPathFactory, server_class: Any, prefix: str) -> Iterator[Callable[..., Any]]:
    """A fixture body: a factory starting ``server_class(directory, **options)``, all stopped after the test."""
    started: list[Any] = []

    def factory(**options: Any) -> Any:
        server = server_class(tmp_path_factory.mktemp(prefix), **options).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.close()


@pytest.fixture
def local_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LocalIndex]]:
    """Factory: ``local_index(**options)`` starts a ``LocalIndex`` (stopped after the test)."""
    yield from server_factory(tmp_path_factory, LocalIndex, "index")


__all__ = [
    "LocalIndex",
    "RequestRecord",
    "ServedFile",
    "build_sdist",
    "local_index",
    "make_file_index",
    "make_find_links_dir",
    "read_metadata_bytes",
]
