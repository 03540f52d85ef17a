"""On a terminal, `pyx pip install|sync` draws bars only once there is something to draw.

The use case finds a warm sync's nothing-to-do itself (``engine.api.pip``), after the CLI
has handed it a reporter; the bars (and rich) must still wait for a first event, or every
warm sync on a terminal would pay for loading rich and starting a redrawing thread.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.cli import fresh_python
from tests.test_cli_process import _on_a_terminal, make_venv


def test_lazy_bars_start_with_the_first_event_and_respect_no_threads() -> None:
    out = fresh_python(
        "import sys, threading\n"
        "from pyx_server.cli.main import Console\n"
        "from pyx_server.cli.progressbars import reporter_for\n"
        "from pyx_server.engine.progress import PhaseStarted\n"
        "with reporter_for(Console(), enabled=True, lazy=True) as reporter:\n"
        "    quiet = ('rich' in sys.modules, threading.active_count())\n"
        "    with reporter.no_threads():\n"
        "        reporter.report(PhaseStarted('install', 1))\n"
        "        paused = ('rich' in sys.modules, threading.active_count())\n"
        "    drawing = threading.active_count()\n"
        "print(*quiet, *paused, drawing, threading.active_count())\n"
    )
    # nothing until the first event; started inside no_threads, the redrawing thread waits
    assert out.split() == ["False", "1", "True", "1", "2", "1"]


def test_a_warm_sync_on_a_terminal_never_loads_rich(local_index, tmp_path: Path, cache_dir: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0")
    req = tmp_path / "r.txt"
    req.write_text("alpha==1.0\n")
    venv = make_venv(tmp_path / "v", cache_dir)
    script = (
        "import sys\n"
        "from pyx_server.cli.launch import main\n"
        "try:\n"
        "    code = main()\n"
        "finally:\n"
        "    sys.stderr.write(f'\\nrich loaded: {\"rich\" in sys.modules}\\n')\n"
        "sys.exit(code)\n"
    )
    argv = [sys.executable, "-c", script, "pip", "sync", str(req), "-i", index.url, "-p", str(venv)]
    code, cold = _on_a_terminal(argv)
    assert code == 0, cold
    assert "rich loaded: True" in cold  # the cold sync drew its bars
    code, warm = _on_a_terminal(argv)
    assert code == 0, warm
    assert "Audited 1 package" in warm and "rich loaded: False" in warm
