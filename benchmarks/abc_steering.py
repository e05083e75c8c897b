"""Steering ABC like folk-rnn: how many tunes keep the meter and key they are asked for.

Takes a finished `abc` run (`--run`), or trains one (`noizenet run --repr abc --model
lstm --max-minutes MIN --seed 0`), then runs `noizenet generate RUN --meter M --key K
-n N --seed S` twice: in whole bars (the default) and sampling every character freely
(`repr.whole_bars = false` in a copy of the run). Of the tunes that parse into 8 or
more notes, it prints how many keep the meter (music21's bars, all but the first and
last, fill it in 80% of cases) and the key (music21's key analysis has the stated key
signature), beside the same measures of the corpus tunes that state that meter and
key: the ceiling of a model that writes like the corpus.

    .venv/bin/python benchmarks/abc_steering.py [--run RUN | --minutes 4] [--meter 6/8] [--key D] [-n 40] [--seed 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import tomli_w

sys.path.insert(0, str(Path(__file__).parent))
from machine import report  # noqa: E402

from noizenet.datasets.abc_files import Music21Abc, Music21AbcConfig  # noqa: E402
from noizenet.plugins.abc.metrics import MIN_NOTES, asked_for, keeps_key, keeps_meter  # noqa: E402
from noizenet.plugins.abc.text import parse_abc  # noqa: E402


def noizenet(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "noizenet", *args, "-q"], check=True)


def steered(run: Path, out: Path, args: argparse.Namespace) -> dict[str, int]:
    """Counts over one generation's samples.json: tunes, parsed, meter kept, key kept, both."""
    noizenet("generate", str(run), "--meter", args.meter, "--key", args.key, "-n", str(args.n),
             "--seed", str(args.seed), "--out", str(out))
    rows = json.loads((out / "samples.json").read_text())["samples"]
    parsed = [r for r in rows if r["valid"]]
    return {"tunes": len(rows), "parsed": len(parsed), "meter": sum(bool(r.get("meter_kept")) for r in parsed),
            "key": sum(bool(r.get("key_kept")) for r in parsed),
            "both": sum(bool(r.get("meter_kept") and r.get("key_kept")) for r in parsed)}


def corpus(meter: str, key: str) -> dict[str, int]:
    """The same counts over music21's corpus tunes whose header states ``meter`` and ``key``."""
    counts = {"tunes": 0, "parsed": 0, "meter": 0, "key": 0, "both": 0}
    for piece in Music21Abc(Music21AbcConfig(), None).pieces():
        if asked_for(piece.data) != {"meter": meter, "key": key}:
            continue
        counts["tunes"] += 1
        score, _ = parse_abc(piece.data)
        if score is None or len(score.flatten().notes) < MIN_NOTES:
            continue
        kept = keeps_meter(score, meter), keeps_key(score)
        counts["parsed"] += 1
        counts["meter"] += kept[0]
        counts["key"] += kept[1]
        counts["both"] += all(kept)
    return counts


def sampling_freely(run: Path, copy: Path) -> Path:
    """A copy of ``run`` whose config samples every character freely."""
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("samples", "generations", "last.pt"))
    config = tomllib.loads((copy / "config.toml").read_text())
    config.setdefault("repr", {})["whole_bars"] = False
    (copy / "config.toml").write_text(tomli_w.dumps(config))
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="a finished abc run (default: train one)")
    parser.add_argument("--minutes", type=float, default=4.0, help="training minutes when no --run is given")
    parser.add_argument("--meter", default="6/8")
    parser.add_argument("--key", default="D")
    parser.add_argument("-n", type=int, default=40, help="samples per generation")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        run = args.run
        if run is None:
            run = scratch / "run"
            noizenet("run", "--repr", "abc", "--model", "lstm", "--seed", "0", "--max-minutes", str(args.minutes),
                     "--num-samples", "1", "--out", str(run))
        rows = {"whole bars": steered(run, scratch / "bars", args),
                "free sampling": steered(sampling_freely(run, scratch / "free-run"), scratch / "free", args)}
    rows[f"corpus tunes in {args.meter}, K:{args.key}"] = corpus(args.meter, args.key)
    print(f"\n--meter {args.meter} --key {args.key}, {args.n} samples, seed {args.seed}, run {args.run or f'{args.minutes:g} min'}")
    print(f"{'':34} {'tunes':>6} {'parse':>6} {'meter kept':>11} {'key kept':>9} {'both':>6}")
    for name, c in rows.items():
        shares = [f"{c[k]}/{c['parsed']}" for k in ("meter", "key", "both")]
        print(f"{name:34} {c['tunes']:>6} {c['parsed']:>6} {shares[0]:>11} {shares[1]:>9} {shares[2]:>6}")
    report("abc_steering", {"meter": args.meter, "key": args.key, "n": args.n, "seed": args.seed,
                            "run": str(args.run) if args.run else f"{args.minutes:g} min", **{
                                name.replace(" ", "_"): counts for name, counts in rows.items()}})


if __name__ == "__main__":
    main()
