"""What a run directory promises: generating needs nothing else (no data, no
--plugins-dir), evaluating says what it needs, and teammates can read its files."""

import json
import logging
import os
import shutil
import stat

import torch
from conftest import TINY, latest_generation

from noizenet.runs import pipeline as runs
from test_docs import README, example


def test_generate_needs_no_data_and_evaluate_says_why_it_does(cli, tunes_file, tmp_path):
    data = tmp_path / "tunes.abc"
    shutil.copy(tunes_file, data)
    out = tmp_path / "run"
    assert cli("run", "--data", data, "--out", out, *TINY, "--prime", "start,song,perlin").exit_code == 0
    first = torch.load(out / "samples" / "sequences.pt", weights_only=True)
    data.unlink()
    result = cli("generate", out, "--prime", "start,song,perlin", "--seed", "0")
    assert result.exit_code == 0, result.output
    again = torch.load(latest_generation(out) / "sequences.pt", weights_only=True)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))  # the same song openings, from best.pt
    kept = torch.load(out / "checkpoints" / "best.pt", weights_only=True)["openings"]["pieces"]
    assert kept and all(opening.dtype == torch.uint8 for opening in kept)  # tokens kept compact, widened to generate
    assert "tunes that parse" in result.output
    evaluate = cli("evaluate", out)
    assert evaluate.exit_code == 2 and "needs the run's data" in evaluate.output and "no such file" in evaluate.output


def test_the_checkpoint_keeps_a_bounded_spread_of_the_test_openings(cli, tunes_file, tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "MAX_OPENINGS", 3)
    out = tmp_path / "run"
    assert cli("train", "--data", tunes_file, "--out", out, *TINY, "--set", "train.split=[0.5, 0.1, 0.4]").exit_code == 0
    tests = json.loads((out / "splits.json").read_text())["test"]
    kept = torch.load(out / "checkpoints" / "best.pt", weights_only=True)["openings"]["pieces"]
    assert len(tests) > 3 and len(kept) == 3  # the first, the middle and the last test piece's
    assert cli("generate", out, "--prime", "song", "-n", "5", "-q").exit_code == 0  # drawn again among them


def test_a_run_made_with_plugins_dir_generates_without_naming_it_again(cli, tunes_file, tmp_path):
    module = example(README, tmp_path / "my_plugins")
    out = tmp_path / "run"
    assert cli("run", "--plugins-dir", module.parent, "--model", "wide-gru", "--data", tunes_file, "--out", out,
               *TINY).exit_code == 0
    assert cli("generate", out, "-n", "1", "-q").exit_code == 0
    assert cli("evaluate", out, "-q").exit_code == 0
    shutil.rmtree(module.parent)
    gone = cli("generate", out)
    assert gone.exit_code == 2 and f"was made with --plugins-dir {module.parent}, which is gone" in gone.output


def test_run_files_get_the_permissions_of_any_new_file(trained_run, tmp_path):
    mask = os.umask(0)
    os.umask(mask)
    usual = 0o666 & ~mask  # 0644 under the default umask 022: readable by group and others
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert stat.S_IMODE(plain.stat().st_mode) == usual
    files = [p for p in trained_run.rglob("*") if p.is_file()]
    assert {"config.toml", "splits.json", "status.json", "best.pt", "metrics.json", "samples.json"} <= {p.name for p in files}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == usual, path


def test_generate_continues_the_users_whole_tune_or_its_first_bars(cli, trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    tune = tmp_path / "my_tune.abc"
    whole = "X:1\nT:My tune\nM:6/8\nL:1/8\nK:G\nGAB cBA|BGG G2D|GAB cBA|BGE E2D|\nDGG GBd|ecA BGE|DGG GBd|ecA G3|\n"
    tune.write_text(whole)
    result = cli("generate", run, "--prime-file", tune, "-n", "2", "--seed", "1")
    assert result.exit_code == 0, result.output
    manifest = json.loads((latest_generation(run) / "samples.json").read_text())
    assert [s["name"] for s in manifest["samples"]] == ["file-my_tune-t1-00", "file-my_tune-t1-01"]
    assert {s["prime"] for s in manifest["samples"]} == {"file:my_tune.abc"}
    for sample in manifest["samples"]:  # all of the tune, verbatim, then the model's continuation
        text = (latest_generation(run) / f"{sample['name']}.abc").read_text()
        assert text.startswith(whole), text
        assert sample["prime_steps"] == 1 + len(whole)  # the start token and every character
    cut = cli("generate", run, "--prime-file", tune, "--prime-bars", "2", "-n", "1", "--seed", "1", "-q")
    assert cut.exit_code == 0, cut.output
    (sample,) = json.loads((latest_generation(run) / "samples.json").read_text())["samples"]
    assert sample["prime_steps"] == 1 + len("X:1\nT:My tune\nM:6/8\nL:1/8\nK:G\nGAB cBA|BGG G2D|")
    wrong = cli("generate", run, "--prime-file", tmp_path / "nothing.abc")
    assert wrong.exit_code == 2 and "--prime-file" in wrong.output and "nothing.abc" in wrong.output


def test_a_header_alone_primes_a_tune_that_the_model_writes(cli, trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    header = tmp_path / "header.abc"
    header.write_text("X:1\nT:A tune\nM:6/8\nL:1/8\nK:D\n")
    result = cli("generate", run, "--prime-file", header, "-n", "1", "--seed", "1", "-q")
    assert result.exit_code == 0, result.output
    text = next(latest_generation(run).glob("*.abc")).read_text()
    assert text.startswith(header.read_text()) and len(text) > len(header.read_text()) + 20, text


def test_characters_of_a_prime_file_the_run_never_saw_are_named(cli, trained_run, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="noizenet")
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    tune = tmp_path / "snow.abc"
    tune.write_text("X:1\nT:Schnee \u2603\nM:6/8\nL:1/8\nK:D\nDFA dAF|\n")
    assert cli("generate", run, "--prime-file", tune, "-n", "1").exit_code == 0
    assert "never saw in training, left out: '\u2603'" in caplog.text
    text = next(latest_generation(run).glob("*.abc")).read_text()
    assert text.startswith("X:1\nT:Schnee \nM:6/8")  # what the model can read, the rest left out as said


def test_generations_never_overwrite_each_other_and_the_report_lists_them(cli, trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    before = (run / "samples" / "samples.json").read_text()
    for seed in ("1", "2"):
        assert cli("generate", run, "-n", "1", "--seed", seed, "-q").exit_code == 0
    folders = sorted((run / "generations").iterdir())
    assert len(folders) == 2 and all((f / "samples.json").exists() and list(f.glob("*.abc")) for f in folders)
    assert (run / "samples" / "samples.json").read_text() == before  # the run's own samples stay
    report = (run / "report.md").read_text()
    assert all(f"generations/{f.name}/samples.json" in report for f in folders)
    mine = tmp_path / "mine"
    result = cli("generate", run, "-n", "1", "--out", mine)
    assert result.exit_code == 0 and str(mine) in result.output and list(mine.glob("*.abc"))
    again = cli("generate", run, "-n", "1", "--out", mine)
    assert again.exit_code == 2 and "not an empty folder" in again.output


def test_evaluate_scores_later_generations_and_the_report_shows_their_figures(cli, trained_run, tunes_file, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    assert cli("generate", run, "--meter", "6/8", "--key", "D", "-n", "2", "-q").exit_code == 0
    (folder,) = (run / "generations").iterdir()
    wrong = cli("evaluate", run, "--generations", "nosuch")
    assert wrong.exit_code == 2 and "not a generation" in wrong.output and folder.name in wrong.output
    result = cli("evaluate", run, "--generations", "all")
    assert result.exit_code == 0, result.output
    assert f"generations/{folder.name}: abc_valid_rate=" in result.output
    figures = json.loads((folder / "metrics.json").read_text())
    assert figures["abc_valid_rate"] is not None and figures["meter_kept_rate"] is not None  # steered: header kept
    assert "pitch_class_overlap" in figures and "mean_longest_copied" in figures  # against the training tunes
    section = (run / "report.md").read_text().split(f"Generated later: generations/{folder.name}")[1]
    assert "tunes that parse (8+ notes)" in section and "bars fill the meter" in section
