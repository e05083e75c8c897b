import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import tomllib

import music21
import pytest
import soundfile
import torch
from conftest import TINY, TINY_ANY_REPR, latest_generation
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_polyphony import write_mat

from noizenet.cli import join_list_options


def test_run_writes_a_complete_run_directory(trained_run):
    for name in ("config.toml", "metrics.jsonl", "metrics.json", "report.md", "loss.png", "heatmap.png",
                 "checkpoints/best.pt", "checkpoints/last.pt", "splits.json", "status.json"):
        assert (trained_run / name).is_file(), name
    metrics = json.loads((trained_run / "metrics.json").read_text())
    for key in ("val_loss", "test_loss", "val_accuracy", "test_accuracy", "bits_per_token",
                "train_tokens_per_s", "generate_tokens_per_s", "abc_valid_rate"):
        assert metrics[key] is not None, key
    assert 0 <= metrics["val_accuracy"] <= 1 and metrics["val_loss"] > 0
    status = json.loads((trained_run / "status.json").read_text())
    assert status["state"] == "finished" and status["train"]["batch_size"] == 8  # --batch-size, 32 training tunes
    report = (trained_run / "report.md").read_text()
    assert "loss.png" in report and "samples/start-t1-00.abc" in report


def test_loss_goes_down(trained_run):
    records = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 2
    assert records[-1]["val_loss"] < records[0]["val_loss"]
    first_train_loss = torch.load(trained_run / "checkpoints" / "last.pt", weights_only=True)["trainer"]["initial_loss"]
    assert records[-1]["train_loss"] < first_train_loss


def test_samples_are_abc_files_and_every_midi_opens(trained_run):
    samples = sorted((trained_run / "samples").glob("*.abc"))
    assert len(samples) == 2
    for path in samples:
        assert path.read_text().startswith("X:")  # every written tune has its reference line
    for path in (trained_run / "samples").glob("*.mid"):
        assert music21.converter.parse(path) is not None
    for path in (trained_run / "samples").glob("*.wav"):
        assert soundfile.info(path).samplerate == 22050
    manifest = json.loads((trained_run / "samples" / "samples.json").read_text())
    for sample in manifest["samples"]:
        if sample["valid"]:
            assert f"{sample['name']}.mid" in sample["files"]


def test_checkpoint_holds_model_optimizer_vocabulary_and_config(trained_run):
    checkpoint = torch.load(trained_run / "checkpoints" / "best.pt", weights_only=True)
    assert {"model", "optimizer", "representation", "config", "trainer"} <= set(checkpoint)
    assert checkpoint["representation"]["chars"]
    assert checkpoint["config"]["run"]["repr"] == "abc"


def test_generate_from_a_run_with_new_options(cli, trained_run, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    result = cli("generate", run, "--temperature", "0,0.8", "--num-samples", "2", "--prime", "start,song", "--seed", "5")
    assert result.exit_code == 0, result.output
    manifest = json.loads((latest_generation(run) / "samples.json").read_text())
    assert {(s["prime"], s["temperature"]) for s in manifest["samples"]} == {
        ("start", 0.0), ("start", 0.8), ("song", 0.0), ("song", 0.8)
    }
    assert len(list(latest_generation(run).glob("*.abc"))) == 8
    result = cli("evaluate", run)
    assert result.exit_code == 0, result.output
    assert "val_accuracy=" in result.output


def test_a_length_option_that_does_not_apply_is_named(cli, trained_run, tmp_path, caplog):
    import shutil

    caplog.set_level(logging.WARNING, logger="noizenet")
    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    result = cli("generate", run, "--seconds", "2", "--num-samples", "1")
    assert result.exit_code == 0, result.output
    assert "--seconds does not apply to 'abc'" in caplog.text


def test_rerun_from_saved_config_gives_the_same_run(cli, trained_run, tmp_path):
    again = tmp_path / "again"
    result = cli("run", "--config", trained_run / "config.toml", "--out", again, "-q")
    assert result.exit_code == 0, result.output
    a = json.loads((trained_run / "metrics.json").read_text())
    b = json.loads((again / "metrics.json").read_text())
    assert a["val_loss"] == b["val_loss"]
    assert (trained_run / "samples" / "start-t1-00.abc").read_text() == (again / "samples" / "start-t1-00.abc").read_text()


def test_resume_continues_from_last_checkpoint(cli, tunes_file, tmp_path):
    out = tmp_path / "resumed"
    tiny = [a for a in TINY]
    tiny[tiny.index("--epochs") + 1] = "1"
    result = cli("train", "--data", tunes_file, "--out", out, *tiny)
    assert result.exit_code == 0, result.output
    steps_before = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["trainer"]["step"]
    result = cli("run", "--resume", out, "--epochs", "3", "-q")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1.0, 2.0, 3.0]
    assert records[0]["step"] == steps_before < records[1]["step"] < records[2]["step"]
    assert (out / "metrics.json").exists()


def test_train_only_leaves_checkpoints_and_no_samples(cli, tunes_file, tmp_path):
    out = tmp_path / "trained"
    result = cli("train", "--data", tunes_file, "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    assert (out / "checkpoints" / "best.pt").exists() and not (out / "samples").exists()


def test_existing_out_is_refused_and_left_alone(cli, trained_run, tunes_file):
    before = (trained_run / "metrics.json").read_text()
    result = cli("run", "--data", tunes_file, "--out", trained_run, *TINY)
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert (trained_run / "metrics.json").read_text() == before


def test_missing_data_is_one_line_and_exit_2(cli, tmp_path):
    logger = logging.getLogger("noizenet")
    before = logger.level
    result = cli("run", "--data", tmp_path / "nope.abc", "--out", tmp_path / "r", "-q")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "no such file or folder" in result.output and "Traceback" not in result.output
    assert logger.level == before  # -q quiets that command, not the rest of the process


def test_unknown_model_names_the_closest(cli, tmp_path):
    result = cli("run", "--model", "lstn", "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert "did you mean 'lstm'" in result.output


def test_generate_on_a_folder_that_is_not_a_run(cli, tmp_path):
    result = cli("generate", tmp_path)
    assert result.exit_code == 2 and "not a noizenet run" in result.output


def test_plugins_lists_every_kind(cli):
    result = cli("plugins")
    assert result.exit_code == 0
    for word in ("representations:", "models:", "primes:", "datasets:", "abc", "lstm", "gru", "rnn", "song"):
        assert word in result.output
    listed = json.loads(cli("plugins", "--json").output)
    assert {"abc", "codebook"} <= {p["name"] for p in listed["representation"]}
    assert all(p["api"] == 2 for kind in listed.values() for p in kind) and "lstm" in str(listed["model"])


def test_help_explains_the_options(cli):
    result = cli("run", "--help")
    assert result.exit_code == 0
    for option in ("--repr", "--model", "--data", "--max-minutes", "--temperature", "--plugins-dir", "--resume"):
        assert option in result.output
    assert result.output.count("<bool>") == 1  # typer's own --help; our flags show no value to type
    train = cli("train", "--help").output
    assert "--max-minutes" in train and "--temperature" not in train and "--top-k" not in train  # hidden: they set
    # the run's defaults for a later generate only


def test_usage_errors_are_one_line_through_the_console_script(tmp_path):
    import subprocess
    import sys

    for args, expected in (
        (["run", "--epochs", "abc"], "Invalid value for '--epochs'"),
        (["run", "--epoch", "3"], "No such option: --epoch"),
        (["run", "--data", str(tmp_path / "none.abc")], "no such file or folder"),
    ):
        done = subprocess.run([sys.executable, "-m", "noizenet", *args], capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
    assert not list(tmp_path.glob("runs/*"))  # a run that failed on its data leaves no run directory


def test_bad_abc_files_are_one_clear_line(cli, tmp_path):
    empty = tmp_path / "empty.abc"
    empty.write_text("")
    noise = tmp_path / "noise.abc"
    noise.write_bytes(bytes(range(256)) * 40)
    for path in (empty, noise):
        result = cli("run", "--data", path, "--out", tmp_path / "r", "-q")
        assert result.exit_code == 2 and "no ABC tunes found" in result.output
    assert not (tmp_path / "r").exists()


def test_list_options_take_space_separated_values_but_not_a_run_directory(tmp_path):
    assert join_list_options(["run", "--prime", "song", "noise", "perlin", "--seed", "1"]) == [
        "run", "--prime", "song,noise,perlin", "--seed", "1"
    ]
    assert join_list_options(["run", "-t", "0.5", "1"]) == ["run", "-t", "0.5,1"]
    assert join_list_options(["generate", "--prime", "noise", str(tmp_path)]) == ["generate", "--prime", "noise", str(tmp_path)]
    assert join_list_options(["generate", "-t", "0.8", "1.0", "myrun"]) == ["generate", "-t", "0.8,1.0", "myrun"]  # not a number


def test_generate_takes_generate_and_repr_settings_only(cli, trained_run, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    texts = {}
    for whole_bars in ("true", "false"):
        out = tmp_path / whole_bars
        result = cli("generate", run, "--set", f"repr.whole_bars={whole_bars}", "--set", "generate.max_length=300",
                     "-n", "4", "--seed", "1", "--out", out, "-q")
        assert result.exit_code == 0, result.output
        texts[whole_bars] = [p.read_text() for p in sorted(out.glob("*.abc"))]
    assert texts["true"] != texts["false"]
    result = cli("generate", run, "--set", "model.hidden=8")
    assert result.exit_code != 0 and "only generate and repr keys" in result.output


def test_a_run_without_a_terminal_logs_one_line_per_validation(tunes_file, tmp_path):
    """nohup, a batch scheduler, `| tee`: no progress bar, so each validation is a log line."""
    out = tmp_path / "run"
    args = [a for a in TINY if a != "-q"]
    done = subprocess.run([sys.executable, "-m", "noizenet", "train", "--data", str(tunes_file), "--out", str(out), *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if " val loss " in line]
    records = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len(records) >= 2
    assert lines[0].startswith("noizenet: INFO: epoch 1.00 step ") and "% of the budget" in lines[0]


def test_tensorboard_event_files_hold_the_losses_and_the_samples_audio_and_pictures(cli, tmp_path):
    write_mat(tmp_path / "songs.mat")
    out = tmp_path / "run"
    result = cli("run", "--repr", "pianoroll", "--model", "gru", "--data", tmp_path / "songs.mat", "--out", out,
                 *TINY_ANY_REPR, "--set", "generate.max_length=24", "--tensorboard")
    assert result.exit_code == 0, result.output
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0, "audio": 0, "images": 0}).Reload()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    logged = events.Scalars("loss/validation")
    assert [e.step for e in logged] == [r["step"] for r in records] and len(records) >= 2
    assert [e.value for e in logged] == pytest.approx([r["val_loss"] for r in records], rel=1e-5)
    assert {"loss/train", "learning_rate", "tokens_per_second"} <= set(events.Tags()["scalars"])
    assert [t for t in events.Tags()["audio"] if t.startswith("samples/") and t.endswith(".wav")]
    assert [t for t in events.Tags()["images"] if t.startswith("samples/") and t.endswith(".png")]


def test_tensorboard_without_its_package_is_one_line_before_training(cli, tunes_file, tmp_path, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else find_spec(name, *a))
    result = cli("train", "--data", tunes_file, "--out", tmp_path / "run", *TINY, "--tensorboard")
    assert result.exit_code == 2 and "pip install 'noizenet[tensorboard]'" in result.output
    assert not (tmp_path / "run").exists()


def test_a_bad_prime_file_or_resume_option_is_refused_before_training(cli, tunes_file, trained_run, tmp_path):
    started = time.perf_counter()
    bad = cli("run", "--data", tunes_file, "--out", tmp_path / "run", "--prime-file", tmp_path / "missing.abc", *TINY,
              "--epochs", "200")  # minutes of training, were it not refused first
    assert bad.exit_code == 2 and "missing.abc" in bad.output and time.perf_counter() - started < 5
    assert not (tmp_path / "run").exists()  # nothing trained, no debris
    both = cli("run", "--resume", trained_run, "--out", tmp_path / "elsewhere")
    assert both.exit_code == 2 and "--resume continues a run in its own folder" in both.output


def test_version_names_the_package_and_the_plugin_api(cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.output.strip() == "noizenet 0.2.0 (plugin API 2)"


def test_runs_and_show_tell_what_a_folder_of_runs_holds(cli, trained_run, tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    shutil.copytree(trained_run, folder / "tiny")
    (folder / "not-a-run").mkdir()
    listing = cli("runs", folder)
    assert listing.exit_code == 0 and "1 runs in" in listing.output
    row = next(line for line in listing.output.splitlines() if line.startswith("tiny"))
    assert row.split()[1:5] == ["abc", "lstm", "finished", f"{json.loads((trained_run / 'metrics.json').read_text())['test_loss']:.4f}"]
    (facts,) = json.loads(cli("runs", folder, "--json").output)
    assert facts["samples"] == 2 and facts["status"] == "finished" and facts["report"].endswith("report.html")
    shown = cli("show", folder / "tiny")
    assert shown.exit_code == 0 and "stopped:" in shown.output and "abc_valid_rate=" in shown.output
    assert json.loads(cli("show", folder / "tiny", "--json").output)["name"] == "tiny"
    assert cli("show", folder / "not-a-run").exit_code == 2 and cli("runs", tmp_path / "nothing").exit_code == 2
    shutil.copytree(trained_run, folder / "damaged")  # a damaged file is said, and the other runs still listed
    (folder / "damaged" / "metrics.json").write_text("{not json")
    listing = cli("runs", folder)
    assert listing.exit_code == 0 and "2 runs in" in listing.output and "metrics.json cannot be read" in listing.output
    shown = cli("show", folder / "damaged")
    assert shown.exit_code == 0 and "error:" in shown.output and "metrics.json cannot be read" in shown.output


def test_print_config_shows_the_resolved_config_and_runs_nothing(cli, tmp_path):
    result = cli("run", "--repr", "codebook", "--hidden", "64", "--set", "train.lr=0.01", "--print-config",
                 "--out", tmp_path / "never")
    assert result.exit_code == 0 and not (tmp_path / "never").exists()
    resolved = tomllib.loads(result.output)
    assert resolved["run"]["repr"] == "codebook" and resolved["model"]["hidden"] == 64
    assert resolved["train"]["lr"] == 0.01 and resolved["train"]["max_minutes"] == 3.0  # the codebook's suggestion
    assert resolved["repr"]["codes"] == 256


def test_doctor_says_what_is_there_and_what_a_missing_program_costs(cli, tmp_path, monkeypatch):
    plugin = tmp_path / "plugins" / "needs_tool.py"
    plugin.parent.mkdir()
    plugin.write_text("from noizenet import hookimpl\nfrom noizenet.plugin.interfaces import Check\n\n"
                      "@hookimpl\ndef noizenet_checks():\n"
                      "    return [Check('lilypond', False, 'not found', 'engraved PDF scores')]\n")
    monkeypatch.setenv("PATH", str(tmp_path))  # no abcm2ps, abc2midi or fluidsynth on it
    result = cli("doctor", "--plugins-dir", plugin.parent)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("ok       noizenet: 0.2.0 (plugin API 2)")
    assert "missing  abcm2ps: not found (apt-get install abcm2ps)" in lines
    assert "without it: sheet music (.svg) of ABC samples in the report" in result.output
    assert "missing  lilypond: not found" in lines and "without it: engraved PDF scores" in result.output
    assert result.output.count("FluidSynth + General MIDI SoundFont") == 1  # abc and midi both use it: said once
    checks = json.loads(cli("doctor", "--json").output)
    assert {"noizenet", "cache folder", "CUDA GPU", "tensorboard", "abcm2ps"} <= {c["name"] for c in checks}
    assert all(set(c) == {"name", "ok", "found", "without"} for c in checks)


def test_shell_completion_completes_commands(tmp_path):
    env = {**os.environ, "_NOIZENET_COMPLETE": "complete_bash", "COMP_WORDS": "noizenet gen", "COMP_CWORD": "1"}
    done = subprocess.run([sys.executable, "-m", "noizenet"], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["generate"]


def test_a_shipped_model_gives_tunes_in_seconds_without_training(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    result = cli("generate", "--pretrained", "folk-abc", "-n", "5")
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert seconds < 10, f"{seconds:.1f} s"
    assert "pretrained model folk-abc copied to runs/folk-abc" in result.output
    tunes = sorted((tmp_path / "runs" / "folk-abc" / "generations").glob("*/*.abc"))
    assert len(tunes) == 5
    parsed = 0
    for tune in tunes:
        try:
            parsed += len(music21.converter.parse(tune.read_text(), format="abc").flatten().notes) >= 8
        except Exception:  # music21 raises many kinds for text it cannot read
            pass
    assert parsed >= 4, [t.read_text()[:200] for t in tunes]
    again = cli("generate", "--pretrained", "folk-abc", "-n", "2", "--seed", "1")  # the copy is reused
    assert again.exit_code == 0 and "copied" not in again.output
    assert len(list((tmp_path / "runs" / "folk-abc" / "generations").iterdir())) == 2
    assert cli("generate", "--pretrained", "nosuch").exit_code == 2
    neither = cli("generate", "-n", "2")
    assert neither.exit_code == 2 and "a run directory or --pretrained NAME" in neither.output


def test_rough_edges_a_flag_is_named_as_typed_and_a_failed_generate_leaves_no_folder(cli, trained_run, tmp_path):
    wrong = cli("run", "--optimizer", "lamb", "--out", tmp_path / "never")
    assert wrong.exit_code == 2 and wrong.output.startswith("noizenet: error: --optimizer lamb: train.optimizer must be one of")
    assert not (tmp_path / "never").exists()
    via_set = cli("run", "--set", "train.optimizer=lamb", "--out", tmp_path / "never")
    assert via_set.exit_code == 2 and via_set.output.startswith("noizenet: error: train.optimizer must be one of")
    layers = cli("run", "--hidden", "32", "--layers", "0", "--out", tmp_path / "never")  # the flag at fault, of two
    assert layers.exit_code == 2 and layers.output.startswith("noizenet: error: --layers 0: model.layers must be >= 1")
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    before = sorted((run / "generations").iterdir()) if (run / "generations").exists() else []
    bad = cli("generate", run, "--prime-file", tmp_path / "missing.abc")
    assert bad.exit_code == 2 and "--prime-file" in bad.output
    assert (sorted((run / "generations").iterdir()) if (run / "generations").exists() else []) == before
    (run / "checkpoints" / "best.pt").write_bytes(b"not a checkpoint")
    damaged = cli("generate", run)
    assert damaged.exit_code == 2
    assert damaged.output.strip().endswith("is damaged or unreadable (Weights only load failed); train the run again")



@pytest.mark.parametrize("command", [["--version"], ["--help"], ["runs", "RUNS"], ["show", "RUN"], ["cache", "list"],
                                     ["show", "--help"]], ids=" ".join)
def test_commands_that_need_no_model_import_no_torch(command, trained_run):
    args = [str(trained_run.parent) if a == "RUNS" else str(trained_run) if a == "RUN" else a for a in command]
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "noizenet", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert imported and not [name for name in imported if name.split(".")[0] == "torch"], command
    assert done.stdout.strip()
