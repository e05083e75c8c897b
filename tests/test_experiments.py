"""What a researcher runs: `noizenet compare`, music statistics and novelty."""

import json
import os
from pathlib import Path

from conftest import TINY

from noizenet.plugins.abc import metrics as abc_metrics
from noizenet.plugins.abc.text import body, parse_abc, split_tunes


def real_tunes(tunes_file):
    return split_tunes(tunes_file.read_text())


def test_music_statistics_tell_real_tunes_from_a_drone(tunes_file):
    tunes = real_tunes(tunes_file)
    stats = abc_metrics.statistics_of(tunes[:20])
    drone = abc_metrics.statistics_of(["X:1\nM:4/4\nL:1/8\nK:C\n" + "C8|" * 8 + "\n"])
    alike = abc_metrics.music_statistics(stats[:10], stats[10:])
    apart = abc_metrics.music_statistics(drone, stats[10:])
    for key in ("pitch_class", "interval", "note_length", "pitch_range"):
        assert alike[f"{key}_overlap"] > apart[f"{key}_overlap"], key
        assert alike[f"{key}_kl"] < apart[f"{key}_kl"], key
    assert alike["pitch_class_overlap"] > 0.7 and apart["interval_kl"] > 1


def test_chord_symbols_are_not_notes_even_empty_ones():
    plain = abc_metrics.tune_statistics(parse_abc("X:1\nM:2/4\nL:1/8\nK:D\nDEFG|ABcd|\n")[0])
    symbols = abc_metrics.tune_statistics(parse_abc('X:1\nM:2/4\nL:1/8\nK:D\n"Am"DEFG|""ABcd|\n')[0])
    for key in plain:  # a generated tune once stopped the whole evaluation with an empty ""
        assert (plain[key] == symbols[key]).all(), key


def test_novelty_finds_a_copied_tune_and_a_new_one(tunes_file):
    tunes = real_tunes(tunes_file)
    copied, fresh = tunes[3], "X:1\nK:C\nzzzz qqqq xxxx zzzz qqqq|\n"
    result = abc_metrics.novelty([copied, fresh], tunes)
    (copy_facts, fresh_facts) = result["per_tune"]
    assert copy_facts["longest_copied"] == len(body(copied)) and copy_facts["share_8grams_in_training"] == 1.0
    assert fresh_facts["longest_copied"] < 5 and fresh_facts["share_8grams_in_training"] == 0.0


def test_abc_runs_report_novelty_and_compare_writes_a_table_and_a_plot(cli, tmp_path, tunes_file, trained_run):
    metrics = json.loads((trained_run / "metrics.json").read_text())
    quality = metrics["quality"]
    assert len(quality["novelty"]["per_tune"]) == len(metrics["samples"])
    assert "longest stretch copied from a training tune, mean" in (trained_run / "report.md").read_text()

    other = tmp_path / "gru"
    assert cli("run", "--model", "gru", "--data", tunes_file, "--out", other, *TINY).exit_code == 0
    third = tmp_path / "rnn"
    assert cli("train", "--model", "rnn", "--data", tunes_file, "--out", third, *TINY).exit_code == 0
    out = tmp_path / "comparison"
    result = cli("compare", trained_run, other, third, "--out", out)
    assert result.exit_code == 0, result.output
    table = (out / "comparison.md").read_text()
    assert "| run.model | lstm | gru | rnn |" in table and "**val_loss**" in table
    assert (out / "val_loss.png").stat().st_size > 1000
    runs = json.loads((out / "comparison.json").read_text())["runs"]
    assert [r["settings"]["run.model"] for r in runs] == ["lstm", "gru", "rnn"]
    printed = cli("compare", trained_run, other, "--out", tmp_path / "again", "--json")
    assert printed.exit_code == 0 and [r["settings"]["run.model"] for r in json.loads(printed.output)["runs"]] == \
        ["lstm", "gru"]


def test_compare_refuses_a_folder_that_is_not_a_run(cli, tmp_path, trained_run):
    result = cli("compare", trained_run, tmp_path)
    assert result.exit_code == 2 and "is not a noizenet run" in result.output


def test_the_training_tunes_statistics_are_parsed_once_and_kept_and_a_damaged_copy_is_made_again(tunes_file, monkeypatch):
    texts = real_tunes(tunes_file)[:12]
    first = abc_metrics.reference_statistics(texts)
    assert len(first) == len(abc_metrics.statistics_of(texts)) > 0
    parsed = []
    monkeypatch.setattr(abc_metrics, "parse_abc", lambda text: parsed.append(text) or parse_abc(text))
    again = abc_metrics.reference_statistics(texts)
    assert not parsed and len(again) == len(first)
    assert all((a[key] == b[key]).all() for a, b in zip(first, again, strict=True) for key in abc_metrics.FEATURES)
    for kept in (Path(os.environ["NOIZENET_CACHE"]) / "abc-statistics").glob("*.npz"):
        kept.write_bytes(b"damaged")
    assert len(abc_metrics.reference_statistics(texts)) == len(first) and len(parsed) == 12
