"""``noizenet prepare`` and ``noizenet cache``: prepared corpora, made ahead and listed."""

from __future__ import annotations

from typing import Annotated

import typer

from noizenet import config as configuration
from noizenet.cli.app import app
from noizenet.cli.options import (
    ConfigFile,
    DataOpt,
    Debug,
    PluginsDir,
    Quiet,
    ReprOpt,
    Seed,
    SetValues,
    apply_sets,
    resolve_naming_flags,
    run_paths,
    say,
    user_errors,
)
from noizenet.deferred import deferred
from noizenet.errors import DataError

# imported when a command first uses them: what needs no model imports no torch
plugin_registry = deferred("noizenet.plugin.registry")
prepared = deferred("noizenet.data.prepared")
runs = deferred("noizenet.runs.pipeline")


@app.command("prepare", help="Prepare a corpus ahead of training: read, fit and encode it once into the cache that "
             "`run` and `train` with the same --repr, --data, --config and --set options then memory-map.")


def prepare_command(
    repr: ReprOpt = None,
    data: DataOpt = None,
    config_file: ConfigFile = None,
    set_values: SetValues = [],
    seed: Seed = None,
    plugins_dir: PluginsDir = [],
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    with user_errors(debug, quiet):
        registry = plugin_registry.load_registry(plugins_dir)
        given = {"repr": repr, "seed": seed, **run_paths(data, plugins_dir)}
        named = {"run": {k: v for k, v in given.items() if v is not None}}
        raw = configuration.read_toml(config_file) if config_file else {}
        raw = apply_sets(configuration.merge(raw, named, "command line"), set_values)
        corpus = runs.prepare_only(resolve_naming_flags(raw, registry, named, set_values), registry, quiet=quiet)
        say(quiet, f"prepared corpus {corpus.folder.name}: {corpus.originals}/{len(corpus.val)}/{len(corpus.test)} "
                    f"pieces ({len(corpus.train)} training pieces with augmented copies) in {corpus.folder}")


cache_app = typer.Typer(help="Prepared corpora: the encoded splits that runs memory-map instead of encoding anew.",
                        no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("list", help="List the prepared corpora: key, size on disk, pieces, what they were made from.")


def cache_list_command(debug: Debug = False) -> None:
    with user_errors(debug):
        corpora = prepared.cached_corpora()
        for corpus in corpora:
            pieces = "/".join(str(corpus.pieces.get(name, "?")) for name in prepared.SPLITS)
            what = ", ".join(f"{k} {v}" for k, v in corpus.describe.items())
            typer.echo(f"{corpus.key}  {corpus.bytes / 1e6:9.1f} MB  {corpus.created}  {pieces:>14} pieces  {what}")
        total = sum(c.bytes for c in corpora)
        typer.echo(f"{len(corpora)} prepared corpora, {total / 1e6:.1f} MB in {prepared.root()}")


@cache_app.command("remove", help="Remove prepared corpora by key (a prefix is enough), or all of them.")


def cache_remove_command(
    keys: Annotated[list[str] | None, typer.Argument(help="Keys (or prefixes) from `noizenet cache list`.")] = None,
    all_: Annotated[bool, typer.Option("--all", metavar="", help="Remove every prepared corpus.")] = False,
    debug: Debug = False,
) -> None:
    with user_errors(debug):
        if not keys and not all_:
            raise configuration.ConfigError("name the keys to remove (noizenet cache list), or pass --all")
        removed = prepared.remove([""] if all_ else keys or [])
        if keys and not removed:
            raise DataError(f"no prepared corpus has a key starting with {', '.join(keys)} (noizenet cache list)")
        typer.echo(f"removed {len(removed)} prepared corpora")
