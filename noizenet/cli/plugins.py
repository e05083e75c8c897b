"""``noizenet plugins`` and ``noizenet doctor``: what is loaded, and what this machine has."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import typer

from noizenet.cli.app import app
from noizenet.cli.options import Debug, Json, PluginsDir, user_errors
from noizenet.deferred import deferred

# imported when a command first uses them: what needs no model imports no torch
compat = deferred("noizenet.plugin.compat")
doctor = deferred("noizenet.doctor")
plugin_registry = deferred("noizenet.plugin.registry")


@app.command("plugins", help="List every plugin by kind, with the plugin API it is written for and where it came from.")


def plugins_command(plugins_dir: PluginsDir = [], as_json: Json = False, debug: Debug = False) -> None:
    with user_errors(debug):
        registry = plugin_registry.load_registry(plugins_dir)
        if as_json:
            typer.echo(json.dumps({kind: [{"name": entry.name, "api": compat.api_version(entry.plugin),
                                           "origin": entry.origin,
                                           "description": getattr(entry.plugin, "description", "")}
                                          for entry in registry.entries(kind)] for kind in plugin_registry.KINDS}, indent=2))
            return
        for kind in plugin_registry.KINDS:
            typer.echo(f"{kind}s:")
            for entry in registry.entries(kind):
                description = getattr(entry.plugin, "description", "")
                api = f"API {compat.api_version(entry.plugin)}"
                typer.echo(f"  {entry.name:<16} {api}  {entry.origin}" + (f"  - {description}" if description else ""))


@app.command("doctor", help="Check this machine: Python, torch, GPU, bf16, the cache folder, and the programs plugins "
                             "use (abcm2ps, abc2midi, FluidSynth); say what each missing one costs.")


def doctor_command(
    as_json: Annotated[bool, typer.Option("--json", metavar="", help="Print the checks as JSON.")] = False,
    plugins_dir: PluginsDir = [],
    debug: Debug = False,
) -> None:
    with user_errors(debug):
        found = doctor.checks(plugin_registry.load_registry(plugins_dir))
        if as_json:
            typer.echo(json.dumps([dataclasses.asdict(check) for check in found], indent=2))
            return
        for check in found:
            typer.echo(f"{'ok' if check.ok else 'missing':8} {check.name}: {check.found}")
            if not check.ok and check.without:
                typer.echo(f"{'':8} without it: {check.without}")
