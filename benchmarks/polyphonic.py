"""RNN vs LSTM vs GRU on a polyphonic piano-roll benchmark, beside the published table.

For each model and output, trains `noizenet run --repr pianoroll --model M --data
FILE.mat --max-minutes MIN --seed S --set repr.output=O` (equal budgets, the file's
own train/valid/test split) into a scratch folder and prints its test negative
log-likelihood in nats per frame (-log p(frame t+1 | frames up to t), summed over
the 88 keys, averaged over every test frame after each piece's first, as the TCN
code of Bai et al. scores it) beside the published figures for that data and the
baseline that predicts each key from its training frequency. Outputs: `independent`
(one Bernoulli per key, what the RNN/GRU/LSTM of Chung et al. and Bai et al.
predict) and `nade` (the keys of a frame one after another, as RNN-NADE).

    .venv/bin/python benchmarks/polyphonic.py --data ../shared/data/JSB_Chorales.mat [--minutes 3] [--models rnn lstm gru] [--outputs nade independent]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import report  # noqa: E402

from noizenet.datasets.midi_files import PianorollMat, PianorollMatConfig  # noqa: E402
from noizenet.plugins.midi.pianoroll import PianorollConfig, PianorollRepresentation, frequency_baseline  # noqa: E402

# Test NLL in nats per frame: Chung et al. 2014 (tanh RNN, GRU, LSTM, ~20k parameters
# each), Bai et al. 2018 (RNN, GRU, LSTM, TCN), Boulanger-Lewandowski et al. 2012 (RNN-NADE).
PUBLISHED = {
    "jsb": {"chung": {"rnn": 9.10, "gru": 8.54, "lstm": 8.67}, "bai": {"rnn": 8.91, "gru": 8.43, "lstm": 8.45, "tcn": 8.10},
            "rnn-nade": 5.56},
    "nottingham": {"chung": {"rnn": 3.13, "gru": 3.23, "lstm": 3.20}, "bai": {"rnn": 4.05, "gru": 3.46, "lstm": 3.29, "tcn": 3.07},
                   "rnn-nade": 2.31},
    "musedata": {"chung": {"rnn": 6.23, "gru": 5.99, "lstm": 6.23}, "bai": {}, "rnn-nade": 5.60},
    "piano": {"chung": {"rnn": 9.03, "gru": 8.82, "lstm": 9.03}, "bai": {}, "rnn-nade": 7.05},
}


def published_for(path: Path) -> dict | None:
    """The published figures for a file named like the benchmark's (JSB_Chorales.mat, ...)."""
    name = path.stem.lower()
    return next((figures for key, figures in PUBLISHED.items() if key in name), None)


def baseline(path: Path) -> float:
    """Test NLL of predicting each key from its frequency in the training frames."""
    representation = PianorollRepresentation(PianorollConfig())
    pieces = list(PianorollMat(PianorollMatConfig(), path).pieces())
    rolls = {split: [representation.encode(p) for p in pieces if p.meta["split"] == split] for split in ("train", "test")}
    return frequency_baseline(rolls["train"], rolls["test"])


def train(model: str, output: str, args: argparse.Namespace, folder: Path) -> dict:
    out = folder / f"{model}-{output}"
    command = [sys.executable, "-m", "noizenet", "run", "--repr", "pianoroll", "--model", model, "--data", str(args.data),
               "--max-minutes", str(args.minutes), "--seed", str(args.seed), "--set", f"repr.output={output}",
               "--out", str(out), "-q"]
    subprocess.run(command, check=True)
    metrics = json.loads((out / "metrics.json").read_text())
    trained = json.loads((out / "status.json").read_text())["train"]
    return {"test": metrics["test_loss"], "val": metrics["val_loss"], "epochs": trained["epochs"],
            "seconds": trained["seconds"], "stopped": trained["stopped"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a piano-roll .mat file (JSB_Chorales.mat, ...)")
    parser.add_argument("--minutes", type=float, default=3.0, help="training budget of each model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=["rnn", "lstm", "gru"])
    parser.add_argument("--outputs", nargs="+", default=["nade", "independent"], help="repr.output values")
    args = parser.parse_args()
    published = published_for(args.data)
    floor = baseline(args.data)
    print(f"frequency baseline (each key from its training rate): test NLL {floor:.3f} nats/frame")
    with tempfile.TemporaryDirectory() as scratch:
        results = {(m, o): train(m, o, args, Path(scratch)) for o in args.outputs for m in args.models}
    print(f"\n{args.data.name}, {args.minutes:g} min per model, seed {args.seed}; test NLL in nats/frame (lower is better)")
    print(f"{'model':6} {'output':12} {'noizenet':>9} {'val':>7} {'Chung 2014':>11} {'Bai 2018':>9}  beats Chung  (trained)")
    for (model, output), result in results.items():
        chung = published["chung"].get(model) if published else None
        bai = published["bai"].get(model) if published else None
        verdict = "-" if chung is None else ("yes" if result["test"] < chung else "no")
        trained = f"{result['epochs']:g} epochs, {result['seconds']:.0f} s, {result['stopped']}"
        print(f"{model:6} {output:12} {result['test']:9.3f} {result['val']:7.3f} {chung or '-':>11} {bai or '-':>9}  "
              f"{verdict:11}  ({trained})")
    if published:
        best = min(r["test"] for r in results.values())
        tcn = published["bai"].get("tcn")
        if tcn:
            print(f"best of the models {best:.3f} vs TCN (Bai 2018) {tcn}: {'beats it' if best < tcn else 'does not beat it'}")
        print(f"RNN-NADE (Boulanger-Lewandowski 2012, keys of a frame modelled jointly): {published['rnn-nade']}")
    report("polyphonic", {"data": args.data.name, "minutes": args.minutes, "seed": args.seed, "frequency_baseline": floor,
                          "published": published, "runs": {f"{m}-{o}": r for (m, o), r in results.items()}})


if __name__ == "__main__":
    main()
