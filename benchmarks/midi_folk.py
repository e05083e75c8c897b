"""Users' own MIDI: folk tunes with chords under the melody, as many users have them.

Writes `--tunes` tunes of music21's bundled ABC collections as MIDI files with block
chords under the melody, into a folder: the few tunes that carry chord symbols play
those, every other tune gets a chord per bar the way a folk accompanist picks one
(the triad of the key that holds most of the bar's melody, by duration); trains `noizenet run --repr midi --model M --data FOLDER
--max-minutes MIN --seed S` on it; and prints the run's polyphonic measures of the
continuations beside the training pieces', and how many samples open in music21
and pretty_midi and have chords under a melody (two or more notes sounding in at
least half of their sounding sixteenths).

    .venv/bin/python benchmarks/midi_folk.py [--tunes 300] [--minutes 3] [--steps N] [--model lstm] [--keep DIR]

``--steps N`` trains exactly N steps (the minutes then only bound the run), so that
two versions of the code compare alike on a busy machine.
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
import numpy as np
import pretty_midi

sys.path.insert(0, str(Path(__file__).parent))
from machine import report  # noqa: E402

from noizenet.datasets.abc_files import read_text  # noqa: E402
from noizenet.plugins.abc.text import parse_abc, split_tunes  # noqa: E402
from noizenet.plugins.midi.metrics import MEASURES  # noqa: E402
from noizenet.plugins.midi.notes import notes_array, notes_from_score, read_midi, roll_from_notes, write_notes_midi  # noqa: E402
from noizenet.plugins.synthesis import quiet_music21  # noqa: E402

CORPUS = Path(music21.__file__).parent / "corpus"
CHORD = re.compile(r'"[A-G][#b]?(m|7|m7|maj7|dim|sus4)?"')  # a quoted chord symbol in ABC


def write_folk_midi(folder: Path, tunes: int) -> tuple[int, int]:
    """Up to ``tunes`` corpus tunes as MIDI files with chords in ``folder``: how many
    were written, and how many of them play their own chord symbols."""
    written = symbols = 0
    for path in sorted(CORPUS.rglob("*.abc")):
        for number, tune in enumerate(split_tunes(read_text(path))):
            if written >= tunes:
                return written, symbols
            score, _ = parse_abc(tune)
            if score is None or not score.parts or len(score.flatten().notes) < 16:
                continue
            with quiet_music21():
                if len(CHORD.findall(tune)) >= 4 and score.recurse().getElementsByClass(music21.harmony.ChordSymbol):
                    music21.harmony.realizeChordSymbolDurations(score)
                    notes = notes_from_score(score)
                    symbols += 1
                else:
                    notes = np.concatenate([notes_from_score(score), bar_chords(score)])
            write_notes_midi(notes[np.argsort(notes[:, 0], kind="stable")], folder / f"{path.stem}-{number:03d}.mid")
            written += 1
    return written, symbols


def bar_chords(score: music21.stream.Score) -> np.ndarray:
    """Piano notes ``(N, 5)``: one block triad per bar of the melody, in the octave below
    middle C: of the key's seven triads, the one whose pitch classes the bar's
    notes hold longest (ties: I, V, IV, vi, ii, iii before vii)."""
    key = score.analyze("key")
    scale = [key.pitchFromDegree(degree).pitchClass for degree in range(1, 8)]
    preference = [0, 4, 3, 5, 1, 2, 6]  # scale degrees - 1 in the order ties go
    rows = []
    for measure in score.parts[0].getElementsByClass(music21.stream.Measure):
        held = np.zeros(12)
        for note in measure.flatten().notes:
            for pitch in note.pitches:
                held[pitch.pitchClass] += float(note.duration.quarterLength)
        if not held.any():
            continue
        best = max(preference, key=lambda d: (sum(held[scale[(d + k) % 7]] for k in (0, 2, 4)), -preference.index(d)))
        start = float(measure.getOffsetInHierarchy(score))
        end = start + float(measure.duration.quarterLength)
        root = 48 + scale[best]
        rows += [(start, end, root + (scale[(best + k) % 7] - scale[best]) % 12, 70) for k in (0, 2, 4)]
    return notes_array(rows)


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
    parser.add_argument("--steps", type=int, default=0, help="train exactly this many steps (0: the minutes decide)")
    parser.add_argument("--keep", type=Path, help="keep the MIDI folder and the run here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        data, out = root / "folk-midi", root / "run"
        data.mkdir(parents=True, exist_ok=True)
        count, symbols = write_folk_midi(data, args.tunes)
        print(f"{count} corpus tunes written as MIDI with chords to {data} ({symbols} play their own chord symbols)")
        subprocess.run([sys.executable, "-m", "noizenet", "run", "--repr", "midi", "--model", args.model, "--data", str(data),
                        "--max-minutes", str(args.minutes), "--seed", str(args.seed), "--out", str(out), "--overwrite", "-q",
                        "--set", f"train.max_steps={args.steps}"],
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
    report("midi_folk", {"tunes": count, "model": args.model, "minutes": args.minutes, "steps": args.steps, "seed": args.seed,
                         "test_loss": metrics["test_loss"], "opened": opened, "chords_under_melody": chorded,
                         "samples": len(samples), **{k: metrics[k] for k in metrics if k.endswith(("_generated", "_training"))}})


if __name__ == "__main__":
    main()
