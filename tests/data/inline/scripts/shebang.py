#!/usr/bin/env -S uv run --script
# /// script
# requires-python = ">=3.10"
# dependencies = ["click>=8", "tabulate"]
# ///
"""List the largest files under a directory."""

import os
import sys

import click
from tabulate import tabulate


@click.command()
@click.argument("root", default=".")
def main(root: str) -> None:
    sizes = [(os.path.getsize(os.path.join(d, f)), os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs]
    click.echo(tabulate(sorted(sizes, reverse=True)[:10], headers=["bytes", "path"]))


if __name__ == "__main__":
    sys.exit(main())
