"""Does generated audio sound like music? Every audio representation in one run.

For each representation, trains `noizenet run --repr R --model M --max-minutes MIN
--seed S --prime song noise perlin --seconds 4 -n N` (on `--data DIR`, or the default
rendered corpus) into a scratch folder, and prints the tonality measures of its 4 s
continuations (N of each prime; the key kept is the mean over the N song-primed ones,
also in windows 0-1, 1-2 and 2-4 s after the prime, and as the Krumhansl-Schmuckler
key of prime and continuation, MIREX-scored) beside held-out audio and white noise
(the run's own `tonality`, `audio-quality` and `collapse` metrics). A representation
that takes `--key` (codebook, harmonic, waveform) is then asked for each of
``ASKED_KEYS`` (`noizenet generate RUN --key K --prime noise`, evaluated): the MIREX
score of the continuations' keys against the asked one, beside held-out audio's
(chance); and, for the control, N song primes are each fed another held-out tune's
profile (`--prime crossed`): the share of continuations nearer the fed profile
than their prime's, which must pass one half. Then the acceptance checks: voiced
share >= 0.8 x real's, chroma entropy <= real's + 0.4 bits, pitch changes per
second between 0.5x and 2x real's, no collapsed clip (of the run's continuations,
and again of the `--key` ones), different primes differ; and the aims: key correlation >= 0.7,
Fréchet distance below a third of the waveform figure published before the codebook
(13,800 on the default data).

With several ``--seeds`` (each a different split, so real audio and chance move
too) it ends with the key kept per representation over the seeds: the mean, and
the mean of ``(kept - chance) / (real - chance)`` (0 = chance, 1 = as well as the
tunes themselves), with its 95% bootstrap interval over the seeds and, within each,
the continuations (and the same for `--key`); the table's real-audio and noise
columns are the first run's. ``--set SECTION.KEY=VALUE`` is passed to every run.

    .venv/bin/python benchmarks/audio_tonality.py [--data DIR] [--minutes 3] [--samples 8]
        [--reprs codebook:lstm waveform:gru] [--seeds 0 1 2] [--guidances 1 2] [--set model.dropout=0.2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import report  # noqa: E402

WAVEFORM_FRECHET_BEFORE = 13_800  # benchmarks/README.md, "Audio acceptance runs", default data
ASKED_KEYS = ("D major", "E minor", "G major", "A minor")  # --key asked of representations that take it
TONAL_CHECKED = ("voiced_share_generated", "chroma_entropy_generated", "pitch_changes_per_s_generated",
                 "collapsed_samples")  # the continuations' figures the acceptance checks read
BOOTSTRAP_DRAWS = 2000  # resamplings of seeds and continuations behind each 95% interval
ROWS = [  # (label, key of the continuations' figure, key of real audio's, key of white noise's)
    ("frames pyin calls voiced (65-2100 Hz)", "voiced_share_generated", "voiced_share_real", "voiced_share_white_noise"),
    ("chroma entropy per frame, bits (max 3.58)", "chroma_entropy_generated", "chroma_entropy_real",
     "chroma_entropy_white_noise"),
    ("pitch changes of >= 1 semitone per second", "pitch_changes_per_s_generated", "pitch_changes_per_s_real",
     "pitch_changes_per_s_white_noise"),
    ("spectral flatness (1024-point frames)", "flatness_generated", "flatness_real", "flatness_white_noise"),
    ("key kept after a song prime (correlation)", "key_correlation", "key_correlation_real", None),
    ("... one held-out tune's opening vs another's sequel (chance)", None, "key_correlation_other", None),
    ("... 0-1 s after the prime", "key_correlation_0_1s", "key_correlation_real_0_1s", None),
    ("... 1-2 s after the prime", "key_correlation_1_2s", "key_correlation_real_1_2s", None),
    ("... 2-4 s after the prime", "key_correlation_2_4s", "key_correlation_real_2_4s", None),
    ("key of prime and continuation (MIREX score)", "key_mirex", "key_mirex_real", None),
    ("... one held-out tune's opening vs another's sequel (chance)", None, "key_mirex_other", None),
    ("continuations in the prime's key (share)", "key_agreement", None, None),
    ("--key continuations in the asked key (MIREX score)", "key_asked_mirex", "key_asked_mirex_chance", None),
    ("... their frames pyin calls voiced", "key_asked_voiced_share_generated", "voiced_share_real", None),
    ("... their chroma entropy per frame, bits", "key_asked_chroma_entropy_generated", "chroma_entropy_real", None),
    ("... their pitch changes per second", "key_asked_pitch_changes_per_s_generated", "pitch_changes_per_s_real", None),
    ("... collapsed", "key_asked_collapsed_samples", None, None),
    ("control: song primes fed another tune's profile, kept fed (correlation)", "key_crossed_fed", None, None),
    ("... kept their prime's (correlation)", "key_crossed_prime", None, None),
    ("... the fed profile against the prime's (how alike the pairs were)", "key_crossed_pair", None, None),
    ("... share nearer the fed profile than the prime's", "key_crossed_follows", None, None),
    ("... key against the fed profile's (MIREX score)", "key_crossed_mirex_fed", None, None),
    ("... key against the prime's (MIREX score)", "key_crossed_mirex_prime", None, None),
    ("Fréchet distance to held-out audio", "frechet_generated", None, "frechet_white_noise"),
    ("collapsed continuations", "collapsed_samples", None, None),
]


def run(representation: str, model: str, seed: int, args: argparse.Namespace, folder: Path) -> dict:
    out = folder / f"{representation}-{seed}"
    command = [sys.executable, "-m", "noizenet", "run", "--repr", representation, "--model", model,
               "--max-minutes", str(args.minutes), "--seed", str(seed), "--prime", "song,noise,perlin",
               "--seconds", "4", "--num-samples", str(args.samples), "--out", str(out), "-q"]
    if args.data:
        command += ["--data", str(args.data)]
    for value in args.set:
        command += ["--set", value]
    subprocess.run(command, check=True)
    results = {args.guidances[0]: {**json.loads((out / "metrics.json").read_text()), **asked_keys(out, args, args.guidances[0]),
                                   **crossed(out, args, args.guidances[0])}}
    for guidance in args.guidances[1:]:  # the same model, sampled again at another guidance
        name = f"guidance-{guidance:g}"
        subprocess.run([sys.executable, "-m", "noizenet", "generate", str(out), "--guidance", str(guidance), "--out",
                        str(out / "generations" / name), "-q"], check=True)
        subprocess.run([sys.executable, "-m", "noizenet", "evaluate", str(out), "--generations", name, "-q"], check=True)
        results[guidance] = {**json.loads((out / "metrics.json").read_text()),  # held-out loss, training
                             **json.loads((out / "generations" / name / "metrics.json").read_text()),
                             **asked_keys(out, args, guidance), **crossed(out, args, guidance)}
    return results


def crossed(out: Path, args: argparse.Namespace, guidance: float) -> dict:
    """The control of conditioning: ``--samples`` song primes (the run's seed draws the
    same openings as its ``song`` samples), each fed the profile of another held-out
    tune (`--prime crossed`), evaluated at ``guidance``: the ``key_crossed_*`` figures
    and each continuation's row; nothing for a representation without conditions."""
    name = f"crossed-guidance-{guidance:g}"
    made = subprocess.run([sys.executable, "-m", "noizenet", "generate", str(out), "--prime", "crossed", "-n",
                           str(args.samples), "--seconds", "4", "--guidance", str(guidance), "--out",
                           str(out / "generations" / name), "-q"], capture_output=True)
    if made.returncode != 0:
        return {}
    subprocess.run([sys.executable, "-m", "noizenet", "evaluate", str(out), "--generations", name, "-q"], check=True)
    metrics = json.loads((out / "generations" / name / "metrics.json").read_text())
    return {**{k: v for k, v in metrics.items() if k.startswith("key_crossed")},
            "key_crossed_rows": metrics["quality"]["tonality"].get("key_crossed", [])}


def asked_keys(out: Path, args: argparse.Namespace, guidance: float) -> dict:
    """``key_asked_mirex`` and its chance over ``ASKED_KEYS`` (each: a generation of
    ``--samples`` / 2 noise-primed continuations at ``guidance``, evaluated), and the
    continuations' tonal figures (``key_asked_`` + ``TONAL_CHECKED``: the mean over
    the keys; collapsed clips: their sum); nothing for a representation that does not
    take ``--key``."""
    found: dict[str, list[float]] = {"key_asked_mirex": [], "key_asked_mirex_chance": [],
                                     **{f"key_asked_{figure}": [] for figure in TONAL_CHECKED}}
    rows: list[dict] = []  # every continuation's detected key and score, for the interval over samples
    for key in ASKED_KEYS:
        name = f"key-{key.replace(' ', '-')}-guidance-{guidance:g}"
        generated = subprocess.run([sys.executable, "-m", "noizenet", "generate", str(out), "--key", key, "--prime",
                                    "noise", "-n", str(max(1, args.samples // 2)), "--seconds", "4", "--guidance",
                                    str(guidance), "--out", str(out / "generations" / name), "-q"], capture_output=True)
        if generated.returncode != 0:
            return {}
        subprocess.run([sys.executable, "-m", "noizenet", "evaluate", str(out), "--generations", name, "-q"], check=True)
        metrics = json.loads((out / "generations" / name / "metrics.json").read_text())
        if metrics.get("key_asked_mirex") is None:
            return {}  # --key steered nothing here (a representation without conditions)
        for figure, values in found.items():
            values.append(metrics[figure.removeprefix("key_asked_") if figure.endswith(TONAL_CHECKED) else figure])
        rows += metrics["quality"]["tonality"].get("key_asked", [])
    return {**{figure: float(np.sum(values) if figure.endswith("collapsed_samples") else np.mean(values))
               for figure, values in found.items()}, "key_asked_rows": rows}


def tonal_checks(m: dict, prefix: str = "") -> dict[str, bool]:
    """The tonal-audio acceptance checks of the continuations whose figures are
    ``prefix`` + ``TONAL_CHECKED`` in ``m``, against real audio's."""
    real_voiced, real_changes = m["voiced_share_real"], m["pitch_changes_per_s_real"]
    voiced, entropy, changes, collapsed = (m[prefix + figure] for figure in TONAL_CHECKED)
    return {
        "voiced >= 0.8 x real": voiced >= 0.8 * real_voiced,
        "chroma entropy <= real + 0.4": entropy <= m["chroma_entropy_real"] + 0.4,
        "pitch changes 0.5x-2x real": 0.5 * real_changes <= changes <= 2 * real_changes,
        "no collapsed clip": collapsed == 0,
    }


def checks(m: dict) -> dict[str, bool]:
    return {
        **tonal_checks(m),
        **({f"--key continuations: {check}": ok for check, ok in tonal_checks(m, "key_asked_").items()}
           if m.get("key_asked_mirex") is not None else {}),
        "primes differ": bool(m["primes_differ"]),
        "aim: key correlation >= 0.7": (m["key_correlation"] or 0) >= 0.7,
        "key kept 2-4 s >= 0-1 s": (m.get("key_correlation_2_4s") or 0) >= (m.get("key_correlation_0_1s") or 1),
        **({"--key in the asked key >= 0.7 (MIREX)": m["key_asked_mirex"] >= 0.7}
           if m.get("key_asked_mirex") is not None else {}),
        **({"control: fed another profile, follows it (share > 0.5, fed > prime's)":
            m["key_crossed_follows"] > 0.5 and m["key_crossed_fed"] > m["key_crossed_prime"]}
           if m.get("key_crossed_follows") is not None else {}),
        "aim: Fréchet < 1/3 of the waveform's before": (m["frechet_generated"] or 1e12) < WAVEFORM_FRECHET_BEFORE / 3,
    }


def table(results: dict[str, dict]) -> str:
    first = next(iter(results.values()))
    names = list(results)
    lines = ["| | real audio | " + " | ".join(names) + " | white noise |", "|" + " --- |" * (len(names) + 3)]
    for label, key, real, noise in ROWS:
        cells = [f"{results[n].get(key):.4g}" if results[n].get(key) is not None else "-" for n in names]
        real_cell = f"{first[real]:.4g}" if real and first.get(real) is not None else "-"
        noise_cell = f"{first[noise]:.4g}" if noise and first.get(noise) is not None else "-"
        lines.append(f"| {label} | {real_cell} | " + " | ".join(cells) + f" | {noise_cell} |")
    return "\n".join(lines)


def samples_of(m: dict, rows: str, figure: str) -> np.ndarray:
    """One run's per-continuation values of ``figure`` (``rows``: the tonality metric's
    ``key_kept`` details, or the asked keys' or crossed primes' rows), those measured."""
    found = m.get(f"{rows}_rows", []) if rows in ("key_asked", "key_crossed") else m["quality"]["tonality"].get(rows, [])
    return np.array([r[figure] for r in found if r[figure] is not None], dtype=float)


def interval(runs: list[dict], per_run: Callable[[dict, np.ndarray], float], rows: str, figure: str) -> str:
    """95% bootstrap interval of the mean over seeds of ``per_run(run, values)``: each of
    ``BOOTSTRAP_DRAWS`` draws picks the seeds with replacement, then each picked seed's
    continuations with replacement (a hierarchical bootstrap over seeds and primes)."""
    rng = np.random.default_rng(0)
    values = [samples_of(m, rows, figure) for m in runs]
    if any(len(v) == 0 for v in values):
        return "-"
    means = [np.mean([per_run(runs[i], rng.choice(values[i], len(values[i])))
                      for i in rng.integers(len(runs), size=len(runs))]) for _ in range(BOOTSTRAP_DRAWS)]
    low, high = np.percentile(means, [2.5, 97.5])
    return f"[{low:.2f}, {high:.2f}]"


def key_over_seeds(by_pair: dict[str, list[dict]]) -> str:
    """Per REPRESENTATION:MODEL pair (its runs' metrics, one per seed), each the mean
    over the seeds: the key kept (as a correlation, then as a MIREX score), real
    audio's and chance, and (kept - chance) / (real - chance) with its 95% interval
    over seeds and primes; the correlation 0-1 s and 2-4 s after the prime; and --key
    continuations in the asked key, with theirs; and the control, song primes fed
    another tune's profile: the share that follows the fed profile rather than the
    prime's, and both correlations."""
    lines = ["| key kept, mean over seeds | measure | kept | real audio | chance | (kept - chance) / (real - chance) "
             "[95% interval] | kept 0-1 s | kept 2-4 s | --key in the asked key (chance) [95% interval] "
             "| fed another profile: follows it [95% interval] (fed / prime's) |",
             "|" + " --- |" * 10]
    for pair, runs in by_pair.items():
        for measure, (kept_key, real_key, chance_key) in {
            "correlation": ("key_correlation", "key_correlation_real", "key_correlation_other"),
            "MIREX": ("key_mirex", "key_mirex_real", "key_mirex_other"),
        }.items():
            kept, real, chance = (np.mean([m[key] for m in runs]) for key in (kept_key, real_key, chance_key))
            relative = np.mean([(m[kept_key] - m[chance_key]) / (m[real_key] - m[chance_key]) for m in runs])
            spread = interval(runs, lambda m, v: (v.mean() - m[chance_key]) / (m[real_key] - m[chance_key]),
                              "key_kept", kept_key)
            windows = (f"{np.mean([m['key_correlation_0_1s'] for m in runs]):.3f} | "
                       f"{np.mean([m['key_correlation_2_4s'] for m in runs]):.3f}") if measure == "correlation" else "- | -"
            asked = "-"
            if measure == "MIREX" and all(m.get("key_asked_mirex") is not None for m in runs):
                asked = (f"{np.mean([m['key_asked_mirex'] for m in runs]):.3f} "
                         f"({np.mean([m['key_asked_mirex_chance'] for m in runs]):.3f}) "
                         f"{interval(runs, lambda m, v: v.mean(), 'key_asked', 'key_mirex')}")
            control = "-"
            if measure == "correlation" and all(m.get("key_crossed_follows") is not None for m in runs):
                control = (f"{np.mean([m['key_crossed_follows'] for m in runs]):.3f} "
                           f"{interval(runs, lambda m, v: v.mean(), 'key_crossed', 'follows')} "
                           f"({np.mean([m['key_crossed_fed'] for m in runs]):.3f} / "
                           f"{np.mean([m['key_crossed_prime'] for m in runs]):.3f})")
            lines.append(f"| {pair_label(pair)}, {len(runs)} seeds | {measure} | {kept:.3f} | {real:.3f} | {chance:.3f} "
                         f"| {relative:.2f} {spread} | {windows} | {asked} | {control} |")
    return "\n".join(lines)


def pair_label(pair: str) -> str:
    representation, model, *guidance = pair.split(":")
    return f"{representation} ({model}{', guidance ' + guidance[0] if guidance else ''})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="a folder of audio (default: the rendered corpus)")
    parser.add_argument("--minutes", type=float, default=3.0, help="training minutes per representation")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed and representation")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="passed to every run (repeatable)")
    parser.add_argument("--samples", type=int, default=8, help="continuations per prime (song, noise, perlin)")
    parser.add_argument("--guidances", type=float, nargs="+", default=[1.0],
                        help="--guidance values each trained model is sampled at (conditioned representations)")
    parser.add_argument("--reprs", nargs="+", default=["harmonic:lstm", "codebook:lstm", "waveform:gru", "fft:lstm"],
                        help="REPRESENTATION:MODEL pairs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        trained = {pair: [run(*pair.split(":"), seed, args, Path(scratch)) for seed in args.seeds] for pair in args.reprs}
    by_pair = {pair + (f":{g:g}" if len(args.guidances) > 1 else ""): [runs[g] for runs in seeds]
               for pair, seeds in trained.items() for g in args.guidances}
    results = {pair_label(pair) + (f" seed {seed}" if len(args.seeds) > 1 else ""): m
               for pair, runs in by_pair.items() for seed, m in zip(args.seeds, runs)}
    keys = {key for _, *row in ROWS for key in row if key}
    report("audio_tonality", {
        "minutes": args.minutes, "samples": args.samples, "seeds": args.seeds, "set": args.set,
        "guidances": args.guidances,
        "data": str(args.data or "rendered corpus"),
        "runs": {name: {**{k: m.get(k) for k in sorted(keys)}, "checks": checks(m), "train": m["train"]}
                 for name, m in results.items()},
    })
    print(table(results))
    for name, m in results.items():
        print(f"{name}: " + ", ".join(f"{check} {'yes' if ok else 'NO'}" for check, ok in checks(m).items()))
    print(key_over_seeds(by_pair))


if __name__ == "__main__":
    main()
