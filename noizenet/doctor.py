"""``noizenet doctor``: what this machine has for noizenet, and what each missing
part costs. The core checks Python, torch, the devices, the cache folder,
and TensorBoard; each plugin adds the programs it uses (``noizenet_checks``: abcm2ps,
FluidSynth, ...)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import tempfile

import torch

from noizenet import __version__

from noizenet.plugin import compat
from noizenet.data.cache import cache_folder
from noizenet.train.device import cpu_has_native_bf16
from noizenet.plugin.interfaces import Check
from noizenet.plugin.registry import KINDS, Registry


def core_checks(registry: Registry) -> list[Check]:
    """noizenet, Python and torch; CUDA and bf16; the cache folder; the plugins
    loaded; TensorBoard."""
    cuda = torch.cuda.is_available()
    gpus = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) if cuda else "none"
    bf16 = torch.cuda.is_bf16_supported() if cuda else cpu_has_native_bf16()
    plugins = ", ".join(f"{len(registry.names(kind))} {kind}s" for kind in KINDS)
    return [
        Check("noizenet", True, f"{__version__} (plugin API {compat.API_VERSION}), Python {platform.python_version()}, "
                                f"torch {torch.__version__}"),
        Check("plugins", True, plugins),
        Check("CUDA GPU", cuda, gpus, "training on a GPU (--device cuda); runs train on the CPU's "
                                      f"{len(os.sched_getaffinity(0))} cores"),
        Check("bf16 in hardware", bf16, "yes" if bf16 else "no (bf16 would be emulated)",
              "the 1.5-2x faster bf16 training of --precision auto; runs train in fp32"),
        cache_check(),
        tensorboard_check(),
    ]


def tensorboard_check() -> Check:
    """The optional tensorboard package, which --tensorboard writes its event files with."""
    found = importlib.util.find_spec("tensorboard") is not None
    return Check("tensorboard", found, importlib.metadata.version("tensorboard") if found else "not installed",
                 "--tensorboard's event files (pip install 'noizenet[tensorboard]'); metrics.jsonl has the same losses")


def cache_check() -> Check:
    """Whether the cache folder (prepared corpora, rendered audio) can be written."""
    try:
        folder = cache_folder("", "")
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as error:
        return Check("cache folder", False, f"{error.filename or ''}: {error.strerror or error}",
                     "prepared corpora and rendered audio: runs stop where they would write them "
                     "(set $NOIZENET_CACHE to a folder you can write, or pass --no-cache)")
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return Check("cache folder", True, f"{folder} ({size / 1e6:.1f} MB)")


def checks(registry: Registry) -> list[Check]:
    return core_checks(registry) + registry.checks()
