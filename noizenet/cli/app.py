"""The ``noizenet`` Typer app, which every command module registers with, and its
``--version``."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from noizenet import __version__
from noizenet.plugin.hookspecs import API_VERSION

app = typer.Typer(
    help="Learn music with recurrent networks and generate new music (ABC, MIDI, WAV).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("noizenet")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"noizenet {__version__} (plugin API {API_VERSION})")
        raise typer.Exit()


@app.callback()


def _options(
    version: Annotated[bool, typer.Option("--version", metavar="", callback=_print_version, is_eager=True,
                                          help="Print noizenet's version and plugin API version, then exit.")] = False,
) -> None:
    """Options that come before the command; --version acts through its callback."""
