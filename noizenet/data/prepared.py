"""Prepared corpora: a run's encoded splits, written once as flat arrays and
memory-mapped by every later run on the same pieces with the same options.

Fitting a representation and encoding every piece (transposed and augmented
copies included) is most of a run's start-up: the k-means codebook, pyin's pitch
tracking, four transpositions of 4,400 tunes. A prepared corpus keeps the result
under ``$NOIZENET_CACHE/prepared/KEY/`` (nanoGPT's ``train.bin``, fairseq's indexed
datasets: the steps of every piece end to end plus an offsets index)::

    manifest.json        format, key inputs, per split: piece ids, dtype, shape, sizes, sha256
    state.pt             the representation's state after fit
    openings-Ns.pt       the test pieces' encoded openings of N seconds (song primes), added when first needed
    conditions-SPLIT.pt  float32 (pieces, C): each piece's condition, for conditioned representations, likewise
    SPLIT.steps          every step of the split's pieces end to end, in the smallest dtype
    SPLIT.offsets.npy    int64 (pieces + 1,): piece i is steps[offsets[i]:offsets[i + 1]]

The key covers what the encoding depends on: this format, noizenet's version, the
representation (its class, the file that defines it, its name and config) and the
data: where the dataset names its source files (:meth:`Dataset.sources`), their
paths, sizes and modification times with the dataset's options and the split's seed
and fractions, so that a run finding its corpus prepared reads no piece at all;
else the pieces of each split (ids and contents, hashed: another seed is another
split). Changed data or options give another folder, never stale steps. A folder is written
under a temporary name and renamed into place, so an interrupted preparation leaves
nothing a later run would trust; a lock file lets one of two runs started together prepare while the other
waits and then maps what it wrote. Sizes are checked on every open and checksums
for files up to :data:`CHECKSUM_LIMIT`; a damaged folder is named, removed and
prepared again.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import inspect
import json
import logging
import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from noizenet import __version__
from noizenet.data.cache import cache_folder
from noizenet.deferred import deferred
from noizenet.runs.rundir import DIR_MODE, atomic_torch_save, atomic_write_json

if TYPE_CHECKING:
    from noizenet.plugin.interfaces import Piece, Representation

torch = deferred("torch")  # imported when a corpus is encoded or mapped: `noizenet cache list` reads manifests only

log = logging.getLogger("noizenet")

FORMAT = 2  # bump when the layout changes
SPLITS = ("train", "val", "test")
CHECKSUM_LIMIT = 64 << 20  # bytes: larger step files are checked by size alone on open (reading them costs more)
FOLDER = "prepared"


class PreparedCorpusError(Exception):
    """A prepared folder that is incomplete, truncated or altered."""


# -- mapped pieces ------------------------------------------------------------------------
class MappedPiece:
    """One piece's steps in a memory map, read on slicing: ``piece[lo:hi]`` is a
    tensor of the encoding's dtype (int64 tokens or float32 frames), and only those
    steps are read; any other index reads the whole piece first."""

    def __init__(self, steps: np.ndarray, dtype: torch.dtype) -> None:
        self.steps = steps  # a view into the split's memory map
        self.dtype = dtype
        self._numpy_dtype = np.int64 if dtype == torch.int64 else np.float32

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.steps.shape)

    def __getitem__(self, index: Any) -> torch.Tensor:
        if isinstance(index, slice):
            return torch.from_numpy(np.array(self.steps[index], dtype=self._numpy_dtype))  # a copy: the map is read-only
        return self.tensor()[index]

    def tensor(self) -> torch.Tensor:
        return self[:]


class MappedSplit(Sequence[MappedPiece]):
    """The pieces of one split, each a :class:`MappedPiece` of a shared memory map."""

    def __init__(self, steps: np.ndarray, offsets: np.ndarray, dtype: torch.dtype) -> None:
        self.steps, self.offsets, self.dtype = steps, offsets, dtype

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return MappedPiece(self.steps[self.offsets[index] : self.offsets[index + 1]], self.dtype)

    def __iter__(self) -> Iterator[MappedPiece]:
        return (self[i] for i in range(len(self)))


@dataclass
class Encoded:
    """What preparing makes: per split, the piece ids and encoded pieces (``(T,)``
    int64 tokens or ``(T, D)`` float32 frames); the training split's first
    ``originals`` pieces are the dataset's, its augmented copies follow."""

    ids: dict[str, list[str]]
    pieces: dict[str, list[torch.Tensor]]
    originals: int
    split_source: str  # how the split was made, as splits.json says it


@dataclass
class PreparedCorpus:
    """A run's encoded splits (mapped from disk, or in memory with ``--no-cache``),
    with their piece ids (training: ``originals`` of the dataset's, then augmented
    copies) and the folder they are mapped from (None in memory)."""

    train: Sequence[Any]  # training pieces and their augmented copies
    val: Sequence[Any]
    test: Sequence[Any]
    ids: dict[str, list[str]]
    originals: int
    split_source: str
    folder: Path | None = None

    def split_ids(self) -> dict[str, list[str]]:
        """The dataset's piece ids per split (augmented copies left out), as splits.json keeps them."""
        return {"train": self.ids["train"][: self.originals], "val": self.ids["val"], "test": self.ids["test"]}

    def kept(self, name: str) -> Any:
        """What a run derived from the pieces and kept with the prepared corpus under
        ``name`` (:meth:`keep`), or None: not kept, in memory, or damaged."""
        path = self._kept_path(name)
        if path is None or not path.exists():
            return None
        try:
            return torch.load(path, weights_only=True)
        except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError):
            return None  # damaged: made again from the pieces

    def keep(self, name: str, value: Any) -> None:
        """Keep ``value`` (tensors, lists of them) for later runs: the test openings,
        each piece's condition. A read-only cache just goes without."""
        path = self._kept_path(name)
        if path is not None:
            try:
                atomic_torch_save(path, value)
            except OSError as error:
                log.debug("%s not kept in %s: %s", name, path, error)

    def _kept_path(self, name: str) -> Path | None:
        return self.folder / f"{name}.pt" if self.folder is not None else None


# -- keys -----------------------------------------------------------------------------------
def pieces_digest(splits: dict[str, Sequence[Piece]]) -> str:
    """A hash of every piece's id and contents, split by split."""
    digest = hashlib.sha256()
    for name in SPLITS:
        digest.update(f"|{name}:{len(splits[name])}".encode())
        for piece in splits[name]:
            digest.update(piece.id.encode("utf-8", "surrogateescape") + b"\0")
            data = piece.data
            if isinstance(data, str):
                digest.update(data.encode("utf-8", "surrogateescape"))
            elif isinstance(data, np.ndarray):
                digest.update(f"{data.dtype}{data.shape}".encode())
                digest.update(np.ascontiguousarray(data).data)
            else:
                digest.update(repr(data).encode())
            digest.update(json.dumps(piece.meta, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def sources_digest(identity: dict[str, Any], files: Sequence[Path]) -> str:
    """A hash of what a dataset reads, without reading it: ``identity`` (the dataset,
    its options, the split's seed and fractions) and each source file's path, size
    and modification time (a missing file counts as one that changed)."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    for file in files:
        try:
            stat = os.stat(file)
            digest.update(f"{file}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
        except OSError:
            digest.update(f"{file}\0missing\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def key_inputs(representation: Representation, digest: str) -> dict[str, Any]:
    """What a prepared corpus depends on, as plain values (kept in its manifest)."""
    cls = type(representation)
    config = dataclasses.asdict(representation.config) if dataclasses.is_dataclass(representation.config) else {}
    return {"format": FORMAT, "noizenet": __version__, "representation": representation.name,
            "class": f"{cls.__module__}.{cls.__qualname__}", "source": source_digest(cls), "config": config,
            "pieces": digest}


def source_digest(cls: type) -> str:
    """A hash of the file that defines ``cls`` (an edited plugin encodes anew), or "" if it has none."""
    try:
        return hashlib.sha256(Path(inspect.getsourcefile(cls) or "").read_bytes()).hexdigest()[:16]
    except (OSError, TypeError):
        return ""


def corpus_key(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:24]


# -- storage ---------------------------------------------------------------------------------
def storage_dtype(encoded: Sequence[torch.Tensor], vocabulary: int) -> np.dtype:
    """The smallest dtype that holds the steps exactly: uint8 / uint16 / int32 for tokens
    (``vocabulary`` symbols), uint8 for 0/1 frames (piano rolls), else float32."""
    first = encoded[0]
    if not first.dtype.is_floating_point:
        return np.dtype(np.uint8 if vocabulary <= 256 else np.uint16 if vocabulary <= 65536 else np.int32)
    if all(bool(((e == 0) | (e == 1)).all()) for e in encoded):
        return np.dtype(np.uint8)
    return np.dtype(np.float32)


def compact_tokens(pieces: Sequence[torch.Tensor], vocabulary: int) -> list[torch.Tensor]:
    """Token ``pieces`` in the smallest integer dtype that holds ``vocabulary`` symbols
    (uint8 / int16 / int32; frames as they are): how openings are kept, in the
    prepared corpus and in checkpoints (int64 would take 8x the room: 10 MB a run for
    a second of each held-out waveform clip). :func:`widened` undoes it."""
    if not pieces or pieces[0].dtype.is_floating_point:
        return list(pieces)
    dtype = torch.uint8 if vocabulary <= 256 else torch.int16 if vocabulary <= 32768 else torch.int32
    return [piece.to(dtype) for piece in pieces]


def widened(pieces: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Pieces kept by :func:`compact_tokens` as the int64 tokens models take (frames as they are)."""
    return [p if p.dtype.is_floating_point or p.dtype == torch.int64 else p.long() for p in pieces]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_split(folder: Path, name: str, encoded: Sequence[torch.Tensor], ids: list[str], vocabulary: int) -> dict[str, Any]:
    """``encoded`` pieces as ``NAME.steps`` + ``NAME.offsets.npy`` in ``folder``; their manifest entry."""
    dtype = storage_dtype(encoded, vocabulary) if encoded else np.dtype(np.uint8)
    offsets = np.zeros(len(encoded) + 1, np.int64)
    offsets[1:] = np.cumsum([len(e) for e in encoded])
    frame = tuple(encoded[0].shape[1:]) if encoded else ()
    steps_path = folder / f"{name}.steps"
    with open(steps_path, "wb") as handle:
        for piece in encoded:
            handle.write(np.ascontiguousarray(piece.numpy().astype(dtype, copy=False)).data)
        handle.flush()
        os.fsync(handle.fileno())
    np.save(folder / f"{name}.offsets.npy", offsets)
    return {"ids": ids, "dtype": dtype.str, "frame": list(frame), "steps": int(offsets[-1]),
            "encoding": "int64" if encoded and not encoded[0].dtype.is_floating_point else "float32",
            "bytes": steps_path.stat().st_size, "sha256": _sha256(steps_path)}


def open_split(folder: Path, name: str, entry: dict[str, Any], *, verify: bool) -> MappedSplit:
    steps_path, offsets_path = folder / f"{name}.steps", folder / f"{name}.offsets.npy"
    if not steps_path.exists() or steps_path.stat().st_size != entry["bytes"]:
        raise PreparedCorpusError(f"{steps_path.name} is missing or has the wrong size")
    if verify and entry["bytes"] <= CHECKSUM_LIMIT and _sha256(steps_path) != entry["sha256"]:
        raise PreparedCorpusError(f"{steps_path.name} does not match its checksum")
    try:
        offsets = np.load(offsets_path)
    except (OSError, ValueError) as error:
        raise PreparedCorpusError(f"{offsets_path.name}: {error}") from None
    if len(offsets) != len(entry["ids"]) + 1 or int(offsets[-1]) != entry["steps"]:
        raise PreparedCorpusError(f"{offsets_path.name} does not match the manifest")
    dtype = np.dtype(entry["dtype"])
    shape = (entry["steps"], *entry["frame"])
    steps = np.memmap(steps_path, dtype=dtype, mode="r", shape=shape) if entry["steps"] else np.zeros(shape, dtype)
    return MappedSplit(steps, offsets, torch.int64 if entry["encoding"] == "int64" else torch.float32)


def root() -> Path:
    """Where prepared corpora live: ``$NOIZENET_CACHE/prepared`` (or ``~/.cache/noizenet``)."""
    return cache_folder("", FOLDER)


def open_prepared(folder: Path, representation: Representation, *, verify: bool = True,
                  restore: bool = True) -> PreparedCorpus:
    """Map a prepared folder; ``restore``: and set the representation's fitted state from it."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        state = torch.load(folder / "state.pt", weights_only=True)
    except (OSError, ValueError, RuntimeError) as error:
        raise PreparedCorpusError(f"manifest or state unreadable ({error})") from None
    if manifest.get("format") != FORMAT:
        raise PreparedCorpusError(f"format {manifest.get('format')}, this noizenet reads {FORMAT}")
    splits = {name: open_split(folder, name, manifest["splits"][name], verify=verify) for name in SPLITS}
    if restore:
        representation.load_state_dict(state)
    ids = {name: manifest["splits"][name]["ids"] for name in SPLITS}
    return PreparedCorpus(splits["train"], splits["val"], splits["test"], ids, manifest["originals"],
                          manifest["split_source"], folder)


def prepare(
    representation: Representation,
    data_digest: str,
    encode: Callable[[], Encoded],
    *,
    describe: dict[str, Any],
    restore: bool = True,
) -> PreparedCorpus:
    """The prepared corpus of this data (``data_digest``: :func:`sources_digest` or
    :func:`pieces_digest`) and representation: mapped from the cache when it is there
    and sound, else made by ``encode`` (which reads the data, fits the representation
    and encodes every split) and written first. ``describe``: what the corpus is, for
    ``noizenet cache list``; ``restore``: set the representation's state from a
    cached corpus (off when it is already fitted)."""
    inputs = key_inputs(representation, data_digest)
    folder = root() / corpus_key(inputs)
    lock_path = folder.with_name(folder.name + ".lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second run on the same corpus waits here, then maps it
        if folder.exists():
            try:
                corpus = open_prepared(folder, representation, restore=restore)
                log.info("prepared corpus %s mapped (noizenet cache list)", folder)
                return corpus
            except (PreparedCorpusError, KeyError) as error:
                log.warning("prepared corpus %s is damaged (%s): preparing it again", folder, error)
                shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        encoded = encode()
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        try:
            os.chmod(tmp, DIR_MODE)  # mkdtemp makes it 0700: teammates share the cache
            entries = {name: write_split(tmp, name, encoded.pieces[name], encoded.ids[name], representation.spec.size)
                       for name in SPLITS}
            atomic_torch_save(tmp / "state.pt", representation.state_dict())
            atomic_write_json(tmp / "manifest.json", {
                "format": FORMAT, "key": inputs, "describe": describe, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                "seconds": round(time.perf_counter() - started, 1), "originals": encoded.originals, "split_source": encoded.split_source,
                "splits": entries})
            os.rename(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("prepared corpus written to %s in %.1f s", folder, time.perf_counter() - started)
        return open_prepared(folder, representation, verify=False, restore=False)


def in_memory(encoded: Encoded) -> PreparedCorpus:
    """``--no-cache``: the encoded splits held in memory, as before caches existed."""
    return PreparedCorpus(*(encoded.pieces[name] for name in SPLITS), encoded.ids, encoded.originals, encoded.split_source)


# -- listing and removing ------------------------------------------------------------------------
@dataclass
class CachedCorpus:
    key: str
    folder: Path
    bytes: int
    created: str
    describe: dict[str, Any]
    pieces: dict[str, int]


def cached_corpora() -> list[CachedCorpus]:
    """Every prepared corpus under :func:`root`, oldest first (unreadable ones too, described as such)."""
    found = []
    for folder in sorted(p for p in root().iterdir() if p.is_dir() and not p.name.startswith(".")):
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            pieces = {name: len(entry["ids"]) for name, entry in manifest["splits"].items()}
            found.append(CachedCorpus(folder.name, folder, size, manifest["created"], manifest["describe"], pieces))
        except (OSError, ValueError, KeyError):
            found.append(CachedCorpus(folder.name, folder, size, "?", {"damaged": True}, {}))
    return sorted(found, key=lambda c: c.created)


def remove(keys: Sequence[str]) -> list[str]:
    """Remove the prepared corpora whose keys start with one of ``keys``; their keys."""
    removed = []
    for corpus in cached_corpora():
        if any(corpus.key.startswith(k) for k in keys):
            shutil.rmtree(corpus.folder)
            corpus.folder.with_name(corpus.key + ".lock").unlink(missing_ok=True)
            removed.append(corpus.key)
    return removed
