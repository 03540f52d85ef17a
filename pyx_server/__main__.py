"""Run the command line as ``python -m pyx_server``."""

from pyx_server.launch import main

raise SystemExit(main())
