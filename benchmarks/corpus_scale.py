"""Real corpora: what preparing, mapping and training cost as a corpus grows.

For each corpus (ABC tunes; MIDI files; one piano-roll .mat file made from them;
rendered audio for the codebook and for waveform samples) and each scale (1x, 10x,
...: copies of the 1x folder, each copy transposed for ABC and MIDI and shifted in
gain for audio, so that no two files are byte-identical), runs
`noizenet train --max-minutes MIN` on it in a fresh cache folder of its own: cold
(reads, fits, encodes, writes the prepared corpus), warm (maps the prepared corpus) and, at 1x,
warm again with `--no-cache` (encodes in memory). It prints per run the seconds from
the command to the end of the first training step (status.json gives its step),
the peak resident memory (`/usr/bin/time`), training tokens per second, and per
corpus the preparation time, files per second and the prepared corpus's size on
disk, beside the goals of issue 22 (first step within 3 s once prepared, aim 1 s;
peak memory at the largest scale at most 1.2x that at 1x; speed from the cache at
least 0.95x from memory; waveform audio at most 60 MB an hour).

    .venv/bin/python benchmarks/corpus_scale.py [--corpora abc midi pianoroll codebook waveform] [--scales 1 10] [--minutes 0.2]
        [--audio-files 8] [--speed-runs 3] [--midi-folder DIR]

``--speed-runs N`` runs the smallest scale N times from the prepared corpus and N times
from memory, interleaved, and divides the medians: one run's speed moves by about 10%.

``--midi-folder DIR`` takes the 1x MIDI folder from DIR (e.g. band songs with drums,
`benchmarks/multitrack.py` fetches some) instead of corpus folk tunes.

``--audio-files 80`` makes the 1x audio folder large enough (over 64 training pieces)
that every scale trains the full batch, so that the peak-memory ratio measures the
corpus alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.io
import soundfile as sf

sys.path.insert(0, str(Path(__file__).parent))
from corpora import AUDIO_SECONDS, make_folder  # noqa: E402
from machine import report  # noqa: E402

from noizenet.plugins.abc.transpose import transpose_tune  # noqa: E402
from noizenet.plugins.midi.notes import DRUMS, PROGRAM, read_midi, roll_from_notes, write_notes_midi  # noqa: E402

# corpus: (the files it is made of, how many at 1x (audio: 15 s each) from O'Neill's 1850 tunes, representation)
CORPORA = {"abc": ("abc", 400, "abc"), "midi": ("midi", 100, "midi"), "pianoroll": ("midi", 100, "pianoroll"),
           "codebook": ("audio", 8, "codebook"), "waveform": ("audio", 8, "waveform")}
ROLL_FRAME = 0.5  # quarter notes per piano-roll frame (an eighth note: the tunes' shortest common value)
SHIFTS = [0, 2, -2, 5, -5, 3, -3, 7, -7, 1, -1, 4, -4, 6, -6]  # semitones (ABC, MIDI) of each copy


def scaled_folder(kind: str, base: Path, scale: int, out: Path) -> Path:
    """``scale`` copies of every file of ``base`` in ``out``, none byte-identical to another."""
    out.mkdir(parents=True)
    for copy in range(scale):
        for file in sorted(base.iterdir()):
            target = out / f"{copy:03d}-{file.name}"
            if copy == 0:
                shutil.copy(file, target)
            elif kind == "abc":
                text = file.read_text(encoding="utf-8")
                target.write_text(transpose_tune(text, SHIFTS[copy % len(SHIFTS)]) or text + f"\n% copy {copy}\n")
            elif kind == "midi":
                notes = read_midi(file)
                tuned = notes[:, PROGRAM] != DRUMS  # the drums stay
                notes[tuned, 2] = np.clip(notes[tuned, 2] + SHIFTS[copy % len(SHIFTS)], 0, 127)
                write_notes_midi(notes, target)
            else:
                audio, rate = sf.read(file, dtype="float32")
                sf.write(target, audio * (0.95 ** copy), rate, subtype="PCM_16")
    return out


def piano_roll_file(folder: Path) -> Path:
    """The MIDI files of ``folder`` as one piano-roll .mat file (Boulanger-Lewandowski's
    layout: traindata, validdata, testdata), every tenth piece held out for each."""
    rolls = []
    for file in sorted(folder.glob("*.mid")):
        notes = read_midi(file)
        rolls.append(roll_from_notes(notes, float(notes[:, 1].max()), ROLL_FRAME).astype(np.uint8))
    parts = {"traindata": [r for i, r in enumerate(rolls) if i % 10 < 8], "validdata": rolls[8::10], "testdata": rolls[9::10]}
    content = {}
    for key, part in parts.items():
        content[key] = np.empty(len(part), dtype=object)
        content[key][:] = part
    path = folder / "corpus.mat"
    scipy.io.savemat(path, content)
    return path


def train(corpus: str, data: Path, cache: Path, out: Path, minutes: float, *extra: str) -> dict:
    """One `noizenet train` run: seconds to the end of the first step, peak memory,
    tokens per second."""
    peak_file = out.with_suffix(".peak")
    command = ["/usr/bin/time", "-f", "%M", "-o", str(peak_file), sys.executable, "-m", "noizenet", "train",
               "--repr", CORPORA[corpus][2], "--data", str(data), "--out", str(out), "--max-minutes", str(minutes),
               "--seed", "0", "-q", *(["--set", f"data.frame={ROLL_FRAME}"] if corpus == "pianoroll" else []), *extra]
    started = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, "NOIZENET_CACHE": str(cache)})
    first_step = None
    while process.poll() is None:
        if first_step is None and (out / "status.json").exists():
            try:
                if "step" in json.loads((out / "status.json").read_text()):
                    first_step = time.perf_counter() - started
            except (ValueError, KeyError):
                pass
        time.sleep(0.05)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with {process.returncode}")
    summary = json.loads((out / "status.json").read_text())["train"]
    return {"first_step_s": round(first_step, 2) if first_step else None,
            "peak_mb": round(int(peak_file.read_text().split()[-1]) / 1024, 1),
            "tokens_per_s": summary["tokens_per_s"], "batch_size": summary["batch_size"]}


def prepared_corpus(cache: Path) -> dict:
    """Preparation seconds and size on disk of the one prepared corpus in ``cache``."""
    (folder,) = [p for p in (cache / "prepared").iterdir() if p.is_dir()]
    manifest = json.loads((folder / "manifest.json").read_text())
    size = sum(f.stat().st_size for f in folder.iterdir())
    return {"prepare_s": manifest["seconds"], "disk_mb": round(size / 1e6, 2),
            "steps": sum(entry["steps"] for entry in manifest["splits"].values())}


def torch_floor(tries: int = 3) -> float:
    """Median seconds a fresh Python takes to import torch and torch._dynamo: what any
    torch training process pays before its first step (torch.optim imports
    torch._dynamo on an optimizer's first call), whatever noizenet does."""
    times = []
    for _ in range(tries):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch, torch._dynamo"], check=True)
        times.append(time.perf_counter() - started)
    return round(float(np.median(times)), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", nargs="+", choices=list(CORPORA), default=list(CORPORA))
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--minutes", type=float, default=0.2, help="--max-minutes of every run")
    parser.add_argument("--audio-files", type=int, default=CORPORA["codebook"][1],
                        help="files of 15 s in the 1x audio folder")
    parser.add_argument("--midi-folder", type=Path, help="the 1x MIDI folder (default: corpus folk tunes)")
    parser.add_argument("--speed-runs", type=int, default=1,
                        help="runs from the prepared corpus and from memory, interleaved, behind the speed ratio")
    args = parser.parse_args()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for corpus in args.corpora:
            kind, count, _ = CORPORA[corpus]
            count = args.audio_files if kind == "audio" else count
            base = root / f"{kind}-base"
            if not base.exists() and kind == "midi" and args.midi_folder:
                shutil.copytree(args.midi_folder, base)
            elif not base.exists():
                make_folder(kind, count, base, collections=("oneills1850",))
            for scale in args.scales:
                name = f"{corpus} {scale}x"
                folder = root / f"{kind}-{scale}x"
                if not folder.exists():
                    scaled_folder(kind, base, scale, folder)
                files = len([f for f in folder.iterdir() if f.suffix != ".mat"])
                data = piano_roll_file(folder) if corpus == "pianoroll" else folder
                cache = root / f"cache-{corpus}-{scale}"
                cold = train(corpus, data, cache, root / f"cold-{corpus}-{scale}", args.minutes)
                warm = train(corpus, data, cache, root / f"warm-{corpus}-{scale}", args.minutes)
                row = {"files": files, "cold": cold, "warm": warm, **prepared_corpus(cache)}
                row["files_per_s"] = round(files / max(row["prepare_s"], 1e-3), 1)
                if kind == "audio":
                    row["mb_per_hour"] = round(row["disk_mb"] / (files * AUDIO_SECONDS / 3600), 1)
                if scale == args.scales[0]:
                    row.update(speed_over_memory(corpus, data, cache, root, args, warm))
                results[name] = row
    floor = torch_floor()
    report("corpus_scale", {"minutes": args.minutes, "results": results, "torch_import_floor_s": floor})
    print("| corpus | files | prepare s | files/s | first step cold s | first step warm s (goal <= 3) | "
          f"peak MB warm | rows a step | tokens/s warm | cache / memory speed (median of {args.speed_runs} runs each; "
          "goal >= 0.95) | disk MB |")
    print("|" + " --- |" * 11)
    for name, row in results.items():
        print(f"| {name} | {row['files']} | {row['prepare_s']} | {row['files_per_s']} | {row['cold']['first_step_s']} | "
              f"{row['warm']['first_step_s']} | {row['warm']['peak_mb']} | "
              f"{row['warm']['batch_size']} | "
              f"{row['warm']['tokens_per_s']:,.0f} | "
              f"{row.get('cache_speed_over_memory', '-')} | {row['disk_mb']} |")
    print(f"floor: a fresh python imports torch and torch._dynamo in {floor} s of every first step above")
    for name, row in results.items():
        if "mb_per_hour" in row:
            print(f"{name}: {row['mb_per_hour']} MB on disk per hour of audio (waveform goal <= 60)")
    for corpus in args.corpora:
        print(memory_growth(corpus, {scale: results[f"{corpus} {scale}x"]["warm"] for scale in args.scales}))


def speed_over_memory(corpus: str, data: Path, cache: Path, root: Path, args: argparse.Namespace,
                      warm: dict) -> dict:
    """Training tokens per second from the prepared corpus over from memory (``--no-cache``):
    ``--speed-runs`` runs of each, interleaved (memory, warm, memory, ...; ``warm`` is the
    first warm one), and the ratio of their medians, since one run's speed moves by about
    10% on a shared machine."""
    cached, memory = [warm["tokens_per_s"]], []
    for run in range(args.speed_runs):
        memory.append(train(corpus, data, cache, root / f"memory-{corpus}-{run}", args.minutes, "--no-cache"))
        if run + 1 < args.speed_runs:
            cached.append(train(corpus, data, cache, root / f"warm-{corpus}-again-{run}", args.minutes)["tokens_per_s"])
    speeds = [m["tokens_per_s"] for m in memory]
    return {"memory": memory[-1], "cached_tokens_per_s": cached, "memory_tokens_per_s": speeds,
            "cache_speed_over_memory": round(float(np.median(cached) / np.median(speeds)), 3)}


def memory_growth(corpus: str, warm: dict[int, dict]) -> str:
    """The peak memory of the largest scale over the smallest's (goal <= 1.2); where
    the smallest trains fewer rows a step (a corpus of fewer pieces than
    train.batch_size), also over the smallest scale with the full batch, since the
    batch's activations are then what grew, not what the corpus costs."""
    scales = sorted(warm)
    low, high = scales[0], scales[-1]
    line = f"{corpus}: peak memory {high}x / {low}x = {warm[high]['peak_mb'] / warm[low]['peak_mb']:.2f} (goal <= 1.2)"
    full = [s for s in scales if warm[s]["batch_size"] == warm[high]["batch_size"]][0]
    if full != low:
        line += f"; {low}x trains {warm[low]['batch_size']} rows a step, {full}x and up {warm[high]['batch_size']}"
        if full != high:
            line += f": {high}x / {full}x = {warm[high]['peak_mb'] / warm[full]['peak_mb']:.2f}"
    return line


if __name__ == "__main__":
    main()
