"""Running a call on a thread of its own, as another operation (another context) would."""

from __future__ import annotations

import threading


def in_thread(fn, timeout: float = 60):
    """``fn()`` on a new thread; its result returned, or its exception raised, here."""
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout)
    if "error" in box:
        raise box["error"]
    return box.get("value")
