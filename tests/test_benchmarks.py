"""The benchmark scripts still run against today's code. Their figures are measured
by hand (benchmarks/README.md); here they only run on tiny settings, or import."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
TINY = {
    "generate_speed": ["--steps", "3", "--repeats", "1"],
    "audio_speed": ["--seconds", "0.02", "--fft-seconds", "0.1", "--repeats", "1"],
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_speed_benchmark_runs_and_reports(name, tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / f"{name}.py"), *TINY[name]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "benchmarks" / "results" / f"{name}.json").read_text())
    assert result["benchmark"] == name and result["torch"]


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("*.py")), ids=lambda p: p.name)
def test_every_benchmark_imports(path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"benchmark_{path.stem}", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # main() runs only as a script


def test_corpus_scale_compares_memory_at_the_full_batch_where_the_smallest_corpus_lacks_it(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from corpus_scale import memory_growth

    warm = {1: {"peak_mb": 400, "batch_size": 19}, 10: {"peak_mb": 500, "batch_size": 64},
            100: {"peak_mb": 525, "batch_size": 64}}
    assert memory_growth("waveform", warm) == ("waveform: peak memory 100x / 1x = 1.31 (goal <= 1.2); 1x trains 19 "
                                               "rows a step, 10x and up 64: 100x / 10x = 1.05")
    assert memory_growth("abc", {1: warm[10], 10: warm[100]}) == "abc: peak memory 10x / 1x = 1.05 (goal <= 1.2)"
    assert memory_growth("codebook", {1: warm[1], 10: warm[10]}) == ("codebook: peak memory 10x / 1x = 1.25 (goal <= "
                                                                    "1.2); 1x trains 19 rows a step, 10x and up 64")


def test_corpus_scale_interleaves_cached_and_memory_runs_and_divides_their_medians(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import corpus_scale

    ran = []
    speeds = iter([100.0, 90.0, 300.0, 110.0, 95.0])  # memory, cached, memory, cached, memory

    def train(corpus, data, cache, out, minutes, *extra):
        ran.append("memory" if "--no-cache" in extra else "cached")
        return {"tokens_per_s": next(speeds)}

    monkeypatch.setattr(corpus_scale, "train", train)
    args = SimpleNamespace(speed_runs=3, minutes=0.1)
    row = corpus_scale.speed_over_memory("abc", tmp_path, tmp_path, tmp_path, args, {"tokens_per_s": 105.0})
    assert ran == ["memory", "cached", "memory", "cached", "memory"]
    assert row["cached_tokens_per_s"] == [105.0, 90.0, 110.0] and row["memory_tokens_per_s"] == [100.0, 300.0, 95.0]
    assert row["cache_speed_over_memory"] == 1.05  # 105 / 100: one slow or fast run does not move it
