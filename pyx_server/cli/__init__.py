"""The ``pyx`` command: argparse, rendering, progress bars, and the fast ``run`` launcher."""
