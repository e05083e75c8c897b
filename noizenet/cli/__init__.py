"""The ``noizenet`` command line (typer): one module per command or group, each of
which parses options and prints; :mod:`noizenet.runs.pipeline` does the work.
Importing this package registers every command on :data:`app`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from noizenet.cli.app import app
from noizenet.cli.options import LIST_OPTIONS

# Each command module registers its commands on `app` when imported, in the order
# `noizenet --help` lists them.
# isort: off
from noizenet.cli import train, generate, evaluate, runs, serve, plugins, prepare  # noqa: E402, F401
# isort: on

__all__ = ["app", "join_list_options", "main"]


def join_list_options(argv: list[str]) -> list[str]:
    """``--prime song noise perlin`` -> ``--prime song,noise,perlin`` (and likewise for
    ``--temperature``): the values after a list option up to the next option, the
    first word that is a path (a run directory given after the option) or, after
    ``--temperature``, the first word that is not a number (``-t 0.8 myrun``)."""
    joined: list[str] = []
    i = 0
    while i < len(argv):
        joined.append(argv[i])
        if argv[i] in LIST_OPTIONS:
            numbers = argv[i] in ("--temperature", "-t")
            values = []
            while i + 1 < len(argv) and _is_list_value(argv[i + 1], numbers=numbers):
                i += 1
                values.append(argv[i])
            if values:
                joined.append(",".join(values))
        i += 1
    return joined


def _is_list_value(text: str, *, numbers: bool) -> bool:
    if "/" in text or Path(text).exists():
        return False
    try:
        [float(v) for v in text.split(",") if v]
    except ValueError:
        return not numbers and not text.startswith("-")
    return True


def main() -> None:
    """The console script: usage errors (a bad option value, an unknown option) become
    one line too, with exit code 2, instead of a framed usage box."""
    try:
        code = app(args=join_list_options(sys.argv[1:]), prog_name="noizenet", standalone_mode=False)
    except typer.Abort:
        typer.echo("noizenet: interrupted", err=True)
        code = 130
    except typer.Exit as done:
        code = done.exit_code
    except Exception as error:
        # typer's (vendored) click usage errors; anything else is a bug: re-raise it
        if not (hasattr(error, "format_message") and hasattr(error, "exit_code")):
            raise
        if error.format_message():  # empty when no arguments brought up the help
            typer.echo(f"noizenet: error: {error.format_message()}", err=True)
        code = error.exit_code
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
