"""Terminal progress for the CLI: renders the engine's progress events as rich progress bars.

Only the CLI imports this (the engine stays free of terminal libraries). Downloads show
bytes, installs show packages; with progress disabled (piped output, ``-q``,
``--no-progress``) a do-nothing reporter is used and rich is never imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pyx_server.engine.progress import (
    DownloadFinished,
    DownloadProgress,
    DownloadStarted,
    Event,
    Installed,
    Notice,
    PhaseFinished,
    PhaseStarted,
    Reporter,
    Retrying,
    Uninstalled,
)


class RichReporter(Reporter):
    """One bar for all downloads (bytes) and one for the install phase (packages).

    The display is redrawn by a thread of this reporter's (``_Redrawing``) rather than rich's
    own, so that ``no_threads`` can stop it while the engine forks its worker processes.
    """

    def __init__(self, progress, console) -> None:
        self.progress = progress
        self.console = console
        self.download_task = None
        self.phase_task = None
        self.per_file: dict[str, int | None] = {}
        self.redrawing = _Redrawing(progress)

    @contextlib.contextmanager
    def no_threads(self) -> Iterator[None]:
        self.redrawing.stop()
        try:
            yield
        finally:
            self.redrawing.start()

    def report(self, event: Event) -> None:
        p = self.progress
        if isinstance(event, PhaseStarted) and event.phase in ("install", "uninstall"):
            label = "Installing" if event.phase == "install" else "Uninstalling"
            self.phase_task = p.add_task(label, total=event.total or None, unit="pkg")
        elif isinstance(event, PhaseFinished) and event.phase in ("install", "uninstall") and self.phase_task is not None:
            p.remove_task(self.phase_task)
            self.phase_task = None
        elif isinstance(event, (Installed, Uninstalled)) and self.phase_task is not None:
            p.advance(self.phase_task, 1)
        elif isinstance(event, DownloadStarted):
            self.per_file[event.name] = event.total_bytes
            if self.download_task is None:
                self.download_task = p.add_task("Downloading", total=0, unit="B")
            if event.total_bytes:
                task = p.tasks[self._index(self.download_task)]
                p.update(self.download_task, total=(task.total or 0) + event.total_bytes)
        elif isinstance(event, DownloadProgress) and self.download_task is not None:
            p.advance(self.download_task, event.advance)
        elif isinstance(event, DownloadFinished) and self.download_task is not None:
            if self.per_file.get(event.name) is None:
                task = p.tasks[self._index(self.download_task)]
                p.update(self.download_task, total=(task.total or 0) + event.bytes)
        elif isinstance(event, PhaseFinished) and event.phase == "prepare" and self.download_task is not None:
            p.remove_task(self.download_task)
            self.download_task = None
        elif isinstance(event, Retrying):
            p.console.print(f"[yellow]retrying[/] {event.url} in {event.delay:.1f}s ({event.reason})", markup=True)
        elif isinstance(event, Notice):
            style = "yellow" if event.level == "warning" else "dim"
            p.console.print(event.message, style=style, markup=False, highlight=False)
        elif isinstance(event, PhaseStarted) and event.phase == "resolve":
            if getattr(self, "resolve_task", None) is None:
                self.resolve_task = p.add_task("Resolving", total=None, unit="pkg")
        elif isinstance(event, PhaseFinished) and event.phase == "resolve" and getattr(self, "resolve_task", None) is not None:
            p.remove_task(self.resolve_task)
            self.resolve_task = None
        elif isinstance(event, PhaseStarted) and event.phase == "build":
            self.build_task = p.add_task("Building", total=None, unit="pkg")
        elif isinstance(event, PhaseFinished) and event.phase == "build" and getattr(self, "build_task", None) is not None:
            p.remove_task(self.build_task)
            self.build_task = None

    def _index(self, task_id) -> int:
        for i, task in enumerate(self.progress.tasks):
            if task.id == task_id:
                return i
        raise KeyError(task_id)


class _Redrawing:
    """Redraws a rich ``Progress`` ten times a second on a thread that can be stopped and
    started again (rich's own refresh thread cannot)."""

    def __init__(self, progress, per_second: float = 10) -> None:
        self.progress = progress
        self.interval = 1 / per_second
        self._thread = None
        self._stop = None

    def start(self) -> None:
        import threading

        if self._thread is None:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name="pyx-progress", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self.progress.refresh()

    def _run(self, stop) -> None:
        while not stop.wait(self.interval):
            self.progress.refresh()


class NoticePrinter(Reporter):
    """For piped output: no bars, but warnings (and with ``-v`` other notices) as lines."""

    wants_progress = False

    def __init__(self, console) -> None:
        self.console = console

    def report(self, event: Event) -> None:
        if isinstance(event, Notice):
            if event.level == "warning":
                self.console.warn(event.message)
            elif event.code == "waiting-for-lock":  # a command that seems to hang says why
                self.console.status(event.message)
            else:
                self.console.detail(event.message)
        elif isinstance(event, Retrying):
            self.console.detail(f"retrying {event.url} in {event.delay:.1f}s ({event.reason})")


@contextlib.contextmanager
def reporter_for(console, *, enabled: bool, lazy: bool = False) -> Iterator[Reporter]:
    """A reporter drawing bars on stderr while the block runs; without bars, one that still
    passes the engine's notices on (warnings always, the rest with ``-v``).

    ``lazy``: the display (and rich) starts with the first event, so a call that reports
    nothing, such as a warm ``pip sync`` that finds everything in place, never loads it.
    """
    if not enabled:
        yield NoticePrinter(console)
        return
    if lazy:
        reporter = _LazyBars(console)
        try:
            yield reporter
        finally:
            reporter.close()
        return
    with contextlib.ExitStack() as stack:
        reporter = _open_bars(console, stack)
        reporter.redrawing.start()
        yield reporter


def _open_bars(console, stack: contextlib.ExitStack) -> RichReporter:
    """A live rich display on stderr (closed by ``stack``), its redrawing thread not started."""
    from rich.console import Console as RichConsole
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    class _Amount(DownloadColumn):
        def render(self, task):  # bytes for downloads, counts for packages
            if task.fields.get("unit") == "pkg":
                return MofNCompleteColumn().render(task)
            return super().render(task)

    class _Speed(TransferSpeedColumn):
        def render(self, task):
            if task.fields.get("unit") == "pkg":
                return ""
            return super().render(task)

    progress = Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(bar_width=30),
        _Amount(),
        _Speed(),
        console=RichConsole(stderr=True),
        transient=True,
        auto_refresh=False,  # RichReporter's own thread redraws it (see ``_Redrawing``)
    )
    stack.enter_context(progress)
    reporter = RichReporter(progress, console)
    stack.callback(reporter.redrawing.stop)
    return reporter


class _LazyBars(Reporter):
    """Bars that appear with the first event (see ``reporter_for``'s ``lazy``).

    Events may come from the engine's threads: the display is started once, under a lock.
    Started inside a ``no_threads`` block, its redrawing thread waits for the block's end.
    """

    def __init__(self, console) -> None:
        import threading

        self.console = console
        self.bars: RichReporter | None = None
        self._stack = contextlib.ExitStack()
        self._lock = threading.Lock()
        self._paused = 0

    def _started(self) -> RichReporter:
        with self._lock:
            if self.bars is None:
                self.bars = _open_bars(self.console, self._stack)
                if not self._paused:
                    self.bars.redrawing.start()
            return self.bars

    @contextlib.contextmanager
    def no_threads(self) -> Iterator[None]:
        with self._lock:
            self._paused += 1
            if self.bars is not None:
                self.bars.redrawing.stop()
        try:
            yield
        finally:
            with self._lock:
                self._paused -= 1
                if self.bars is not None and not self._paused:
                    self.bars.redrawing.start()

    def report(self, event: Event) -> None:
        self._started().report(event)

    def close(self) -> None:
        self._stack.close()
