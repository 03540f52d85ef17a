"""Progress as typed events, and the ``Reporter`` that receives them.

The engine never prints. Long operations call ``reporter.report(event)`` with one of the
frozen dataclasses below; the default ``Reporter`` ignores them, so engine code can always
report without checking. Each front subclasses ``Reporter`` once and renders events its own
way (terminal bars in the CLI, JSON over a websocket in Jupyter, ``$/progress`` in LSP).
``event_to_dict`` gives the JSON form the fronts send over the wire.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PhaseStarted:
    """A stage begins: ``phase`` is one of resolve, prepare, build, install, uninstall."""

    phase: str
    total: int | None = None


@dataclass(frozen=True)
class PhaseFinished:
    phase: str
    count: int
    seconds: float


@dataclass(frozen=True)
class DownloadStarted:
    name: str
    version: str
    total_bytes: int | None


@dataclass(frozen=True)
class DownloadProgress:
    """``advance`` bytes more of ``name`` arrived."""

    name: str
    advance: int


@dataclass(frozen=True)
class DownloadFinished:
    name: str
    version: str
    bytes: int


@dataclass(frozen=True)
class Installed:
    name: str
    version: str


@dataclass(frozen=True)
class Uninstalled:
    name: str
    version: str


@dataclass(frozen=True)
class Retrying:
    """A request failed transiently and will be tried again after ``delay`` seconds."""

    url: str  # always redacted
    attempt: int
    delay: float
    reason: str


@dataclass(frozen=True)
class Notice:
    """Something a user may want to know that is not an error (``level``: info or warning)."""

    message: str
    level: str = "info"


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
)


class Reporter:
    """Receives progress events; does nothing unless a front overrides ``report``."""

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


def event_to_dict(event: Event) -> dict[str, Any]:
    """The wire form of an event: its fields plus ``type`` (the class name, kebab-cased)."""
    name = type(event).__name__
    kind = "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")
    return {"type": kind, **dataclasses.asdict(event)}
