"""Run the command line as ``python -m pyx_server``."""

from pyx_server.cli.launch import main

raise SystemExit(main())
