"""Progress as typed events, and the ``Reporter`` that receives them.

The engine never prints. Long operations call ``reporter.report(event)`` with one of the
frozen dataclasses below; the default ``Reporter`` ignores them, so engine code can always
report without checking. Each front subclasses ``Reporter`` once and renders events its own
way (terminal bars in the CLI, JSON over a websocket in Jupyter, ``$/progress`` in LSP).
``event_to_dict`` gives the JSON form the fronts send over the wire.

Every event carries ``operation``: the id of the use-case call it belongs to (a server runs
many at once). Engine code never fills it in; the use case wraps the context's reporter in
``for_operation``, which stamps each event on its way out.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pyx_server.engine.errors import Hint


@dataclass(frozen=True)
class PhaseStarted:
    """A stage begins: ``phase`` is one of resolve, prepare, build, install, uninstall."""

    phase: str
    total: int | None = None
    operation: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class PhaseFinished:
    phase: str
    count: int
    seconds: float
    operation: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class DownloadStarted:
    name: str
    version: str
    total_bytes: int | None
    operation: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class DownloadProgress:
    """``advance`` bytes more of ``name`` arrived."""

    name: str
    advance: int
    operation: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class DownloadFinished:
    name: str
    version: str
    bytes: int
    operation: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class Installed:
    name: str
    version: str
    operation: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class Uninstalled:
    name: str
    version: str
    operation: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class Retrying:
    """A request failed transiently and will be tried again after ``delay`` seconds."""

    url: str  # always redacted
    attempt: int
    delay: float
    reason: str
    operation: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class Notice:
    """Something a user may want to know that is not an error (``level``: info or warning)."""

    message: str
    level: str = "info"
    #: a stable code for warnings a front may act on (empty for plain information)
    code: str = ""
    #: ``errors.Hint`` values: a hint with an ``action`` is a button or a code action
    hints: tuple[str, ...] = ()
    #: where in a file, for a warning about one (an ``errors.Location``)
    location: Any = None
    operation: str = field(default="", kw_only=True)

    @classmethod
    def warning(cls, warning: Any) -> Notice:
        """The notice of an ``errors.PyxWarning``: same code, message, hints and location."""
        return cls(warning.message, "warning", warning.code, tuple(warning.hints), warning.location)


@dataclass(frozen=True)
class DeclarationEdited:
    """A script, notebook or ``pyproject.toml`` was given new content (written, or handed to
    the front that owns the document)."""

    path: str
    operation: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class LockWritten:
    """A lock was written: ``path`` is the ``pylock.toml``, or the notebook that holds it."""

    path: str
    packages: int
    operation: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class EnvironmentReady:
    """The environment of a declaration is ready at ``path``: ``created`` new, or reused."""

    path: str
    created: bool
    operation: str = field(default="", kw_only=True)


Event = (
    PhaseStarted
    | PhaseFinished
    | DownloadStarted
    | DownloadProgress
    | DownloadFinished
    | Installed
    | Uninstalled
    | Retrying
    | Notice
    | DeclarationEdited
    | LockWritten
    | EnvironmentReady
)


class Reporter:
    """Receives progress events; does nothing unless a front overrides ``report``.

    Thread contract: the engine calls ``report`` only on the thread that runs the operation:
    the event loop's thread when one runs, else the caller's own thread (``engine.loop.run``
    without a loop). Never from a pool thread, a forked worker or a download thread: work
    done there hands its events back (as results, or through ``loop.call_soon_threadsafe``)
    and the coordinating coroutine reports them. So a front needs no locking in ``report``,
    and a front that must draw on its own thread while the engine runs on a worker thread
    (an IPython cell: ``engine.loop.run`` under a running loop) wraps its reporter in
    ``engine.loop.Relay``. ``tests/test_reporter_threads.py`` holds the engine to it.
    """

    #: whether ``DownloadProgress`` events are wanted. A front that draws no progress (piped
    #: output) says False: downloads then report only their start and end, which spares a
    #: hand-over to the event loop's thread every 256 KiB of every body.
    wants_progress: bool = True

    @contextlib.contextmanager
    def no_threads(self) -> Iterator[None]:
        """For the block, the front runs no thread of its own (a display's redrawing thread
        stops, and starts again after): the engine forks its worker processes only from a
        process with a single thread (``engine.forked``)."""
        yield

    def report(self, event: Event) -> None:  # noqa: B027 - deliberately empty
        pass


class CollectingReporter(Reporter):
    """Keeps every event in order: for tests and for fronts that replay progress."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def report(self, event: Event) -> None:
        self.events.append(event)


class _OperationReporter(Reporter):
    """Passes each event on to ``inner`` stamped with the operation id (see the module docs)."""

    def __init__(self, inner: Reporter, operation: str) -> None:
        self.inner = inner
        self.operation = operation
        self.wants_progress = inner.wants_progress

    def no_threads(self):
        return self.inner.no_threads()

    def report(self, event: Event) -> None:
        self.inner.report(event if event.operation else dataclasses.replace(event, operation=self.operation))


def for_operation(reporter: Reporter, operation: str) -> Reporter:
    """``reporter`` with every event stamped with ``operation`` (a no-op without an id)."""
    if not operation:
        return reporter
    return _OperationReporter(reporter, operation)


def event_to_dict(event: Event) -> dict[str, Any]:
    """The wire form of an event: its fields plus ``type`` (the class name, kebab-cased).

    JSON-ready: numbers stay numbers, hints become ``{"text", "action"}`` objects and a
    location its ``to_dict()``, so ``json.dumps`` needs no help and loses nothing.
    """
    name = type(event).__name__
    kind = "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")
    out: dict[str, Any] = {"type": kind}
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        # a plain-string hint is a hint without an action: every hint has one wire shape
        out[item.name] = [Hint(h).to_dict() for h in value] if item.name == "hints" else _json_ready(value)
    return out


def _json_ready(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if callable(getattr(value, "to_dict", None)):  # Hint, Location, PyxWarning
        return value.to_dict()
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    return str(value)  # a Path, a Version
