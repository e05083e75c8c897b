"""Users' own MIDI: folk tunes with chords under the melody, as many users have them.

Writes `--tunes` tunes of music21's bundled ABC collections that carry chord
symbols (the Nottingham Music Database, Ryan's Mammoth, O'Neill's, ...) as MIDI files, the chord symbols played as block chords under
the melody, into a folder; trains `noizenet run --repr midi --model M --data FOLDER
--max-minutes MIN --seed S` on it; and prints the run's polyphonic measures of the
continuations beside the training pieces', and how many samples open in music21
and pretty_midi and have chords under a melody (two or more notes sounding in at
least half of their sounding sixteenths).

    .venv/bin/python benchmarks/midi_folk.py [--tunes 300] [--minutes 3] [--model lstm] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import music21
import pretty_midi

sys.path.insert(0, str(Path(__file__).parent))
from machine import report  # noqa: E402

from noizenet.datasets.abc_files import read_text  # noqa: E402
from noizenet.plugins.abc.text import parse_abc, split_tunes  # noqa: E402
from noizenet.plugins.midi.metrics import MEASURES  # noqa: E402
from noizenet.plugins.midi.notes import read_midi, roll_from_notes, notes_from_score, write_notes_midi  # noqa: E402
from noizenet.plugins.synthesis import quiet_music21  # noqa: E402

CORPUS = Path(music21.__file__).parent / "corpus"
CHORD = re.compile(r'"[A-G][#b]?(m|7|m7|maj7|dim|sus4)?"')  # a quoted chord symbol in ABC


def write_folk_midi(folder: Path, tunes: int) -> int:
    """Up to ``tunes`` corpus tunes with chord symbols as MIDI files in ``folder``."""
    written = 0
    for path in sorted(CORPUS.rglob("*.abc")):
        for number, tune in enumerate(split_tunes(read_text(path))):
            if written >= tunes:
                return written
            if len(CHORD.findall(tune)) < 4:
                continue
            score, _ = parse_abc(tune)
            if score is None or not score.recurse().getElementsByClass(music21.harmony.ChordSymbol):
                continue
            with quiet_music21():
                music21.harmony.realizeChordSymbolDurations(score)
            write_notes_midi(notes_from_score(score), folder / f"{path.stem}-{number:03d}.mid")
            written += 1
    return written


def chords_under_melody(path: Path) -> bool:
    """Two or more notes sound in at least half of the sixteenths where any sounds."""
    notes = read_midi(path)
    if len(notes) == 0:
        return False
    sounding = roll_from_notes(notes, float(notes[:, 1].max()), 0.25).sum(axis=1)
    return bool((sounding[sounding > 0] >= 2).mean() >= 0.5)


def opens_everywhere(path: Path) -> bool:
    try:
        with quiet_music21():
            music21.converter.parse(path)
        return bool(pretty_midi.PrettyMIDI(str(path)).instruments)
    except Exception:  # a sample either opens or it does not
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tunes", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--model", default="lstm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the MIDI folder and the run here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        data, out = root / "folk-midi", root / "run"
        data.mkdir(parents=True, exist_ok=True)
        count = write_folk_midi(data, args.tunes)
        print(f"{count} corpus tunes with chords written as MIDI to {data}")
        subprocess.run([sys.executable, "-m", "noizenet", "run", "--repr", "midi", "--model", args.model, "--data", str(data),
                        "--max-minutes", str(args.minutes), "--seed", str(args.seed), "--out", str(out), "--overwrite", "-q"],
                       check=True)
        metrics = json.loads((out / "metrics.json").read_text())
        samples = sorted((out / "samples").glob("*.mid"))
        opened = sum(opens_everywhere(p) for p in samples)
        chorded = sum(chords_under_melody(p) for p in samples)
    print(f"\nmidi + {args.model}, {args.minutes:g} min, seed {args.seed}: test loss {metrics['test_loss']:.3f} nats/token")
    print(f"{'measure':52} {'continuations':>13} {'training':>9}")
    for key, (label, unit, fmt) in MEASURES.items():
        generated, training = metrics[f"{key}_generated"], metrics[f"{key}_training"]
        shown = [fmt.format(v) if v is not None else "-" for v in (generated, training)]
        print(f"{label + (f' ({unit})' if unit else ''):52} {shown[0]:>13} {shown[1]:>9}")
    print(f"samples that open in music21 and pretty_midi: {opened}/{len(samples)}; with chords under the melody: {chorded}/{len(samples)}")
    report("midi_folk", {"tunes": count, "model": args.model, "minutes": args.minutes, "seed": args.seed,
                         "test_loss": metrics["test_loss"], "opened": opened, "chords_under_melody": chorded,
                         "samples": len(samples), **{k: metrics[k] for k in metrics if k.endswith(("_generated", "_training"))}})


if __name__ == "__main__":
    main()
