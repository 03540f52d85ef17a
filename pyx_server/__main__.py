"""Run the command line as ``python -m pyx_server``."""

from pyx_server.cli import main

raise SystemExit(main())
