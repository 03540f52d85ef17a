"""The ``pyx`` command's entry point: a script whose environment is ready starts at once.

``pyx run script.py`` is mostly run again and again on an unchanged script, so the check
that its environment is still right must cost next to nothing. Here, before argparse or any
other part of pyx is imported, a run stamp (``engine.runstamp``) is consulted; when it holds,
pyx replaces itself with the environment's interpreter. Every other command, and every run
the stamp cannot vouch for, goes to the full command line (``pyx_server.cli.main``).
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["run"]:
        from pyx_server import __version__
        from pyx_server.engine.envs.runstamp import ready_python

        try:
            found = ready_python(argv[1:], os.environ, os.getcwd(), __version__)
        except OSError:
            found = None
        if found is not None:
            python, script, rest = found
            try:
                os.execv(python, [python, script, *rest])
            except OSError:
                pass  # the full path explains what is wrong
    import gc

    # A command is one short process: the cyclic collector's default pace (a collection per
    # 700 new objects) ran 54 times, about 6 ms, in a warm install that frees everything on
    # exit anyway. Young collections still come, every 50,000 objects, so the short-lived
    # cycles of a long resolve or download are reclaimed.
    gc.set_threshold(50_000, 20, 100)
    from pyx_server.cli.main import main as cli_main

    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
