"""The pay-off map (deepprune.tools.payoff) end to end on tiny trace files whose outcome is known by construction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepprune.data.io import write_problems
from deepprune.data.schema import Problem, Trace
from deepprune.data.truncation import FirstTokens
from deepprune.methods.deepprune import FINISH_RULES, DeepPruneMethod
from deepprune.runner import run_prune
from deepprune.tools import payoff
from tests.helpers.configs import compose_entry
from tests.helpers.run_entry import run_entry

# Single-wordpiece words: the bundled MiniLM tokenizer (the unit of a file that names none) counts one per word.
FILLER = ["the", "cat", "sat", "on", "mat", "and", "then", "it", "ran", "far", "away", "home"]
AUROCS = ["0.55", "0.7", "0.85", "1.0"]
# The MATH recipe's finishing sizes (K2 = K3 = 3 of 8 traces); fast runs of the bootstrap.
COMMON = ["--benchmark", "last_letters", "--resamples", "200", "--finish", "paper"]
RECIPE = ["--override", "method.finish_largest=3", "--override", "method.finish_singletons=3"]


def write_traces(path: Path, problems: int, answers: list[str], words: int) -> Path:
    """``problems`` problems whose traces end in ``answers`` (``gold`` is the correct one), ``words`` tokens each."""
    records = []
    for p in range(problems):
        traces = []
        for answer in answers:
            named = f"{answer}{p}" if answer.startswith("wrong") else answer
            text = " ".join((FILLER * words)[: words - 3] + ["answer", "is", named])
            traces.append(Trace(text=text, answer=named))
        records.append(Problem(id=f"q{p}", question=f"question {p}", gold="gold", traces=traces, benchmark="toy"))
    write_problems(path, records)
    return path


@pytest.fixture(scope="module")
def crossing_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 traces of 60 tokens: the first four end in four different wrong answers, the last four in the gold one.

    cons@8 is always right, cons@1 half the time. The ideal judge clusters the four right traces, three of them
    finish: right at 3 x 60 + 5 x 4 tokens, far above the curve there. A near-random judge merges most prefixes into
    the cluster trace 0 founds: its first three members, wrong and all different, finish and vote wrong.
    """
    answers = ["wrong_a", "wrong_b", "wrong_c", "wrong_d", "gold", "gold", "gold", "gold"]
    return write_traces(tmp_path_factory.mktemp("crossing") / "crossing.jsonl", 40, answers, 60)


@pytest.fixture(scope="module")
def judge_run(crossing_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prune.py run of DeepPrune on the crossing file, as a trained judge's run would be (here the oracle)."""
    run_dir = tmp_path_factory.mktemp("judge_run")
    overrides = [f"data.traces={crossing_file}", "benchmark=last_letters", "method=deepprune", "judge=oracle"]
    overrides += ["truncation.k=4", "method.finish_largest=3", "method.finish_singletons=3"]
    run_prune(compose_entry("prune", *overrides), run_dir)
    return run_dir


@pytest.fixture(scope="module")
def crossing_map(crossing_file: Path, judge_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("map") / "out"
    argv = [str(crossing_file), "--out", str(out), "--k", "4", "--auroc", *AUROCS, *COMMON, *RECIPE]
    assert payoff.main([*argv, "--judge-run", f"{judge_run}=1.0"]) == 0
    return {"out": out, "report": json.loads((out / "payoff.json").read_text())}


def test_writes_json_png_and_the_verdict(crossing_map, capsys):
    out = crossing_map["out"]
    assert (out / "payoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = crossing_map["report"]
    assert report["settings"]["auroc"] == [float(a) for a in AUROCS] and report["settings"]["finish"] == ["paper"]
    (entry,) = report["files"]
    assert entry["num_problems"] == 40 and entry["pool"] == 8
    assert [(p["k"], p["finish"], p["auroc"]) for p in entry["points"]] == [(4, "paper", float(a)) for a in AUROCS]
    for point in entry["points"]:
        low, high = point["delta_ci95"]
        assert low <= point["delta"] <= high
    assert "k=4: paper 0." in report["verdict"][0]


def test_break_even_lies_between_the_near_random_and_the_ideal_judge(crossing_map):
    (entry,) = crossing_map["report"]["files"]
    deltas = {p["auroc"]: p["delta"] for p in entry["points"]}
    # The ideal judge: right on every problem at 200 tokens a problem; cons@n there is 0.5-0.8.
    ideal = next(p for p in entry["points"] if p["auroc"] == 1.0)
    assert ideal["accuracy"] == 1.0 and ideal["total_tokens"] == 40 * (3 * 60 + 5 * 4)
    assert deltas[1.0] > 0.15 and deltas[0.55] < -0.15
    (crossing,) = entry["break_even"]
    assert crossing["status"] == "crossing" and 0.55 < crossing["auroc"] < 1.0
    aurocs = sorted(deltas)
    last_below = max(a for a in aurocs if deltas[a] <= 0)
    assert last_below < crossing["auroc"] < min(a for a in aurocs if a > last_below)


def test_a_judge_run_is_placed_with_its_interval(crossing_map):
    (entry,) = crossing_map["report"]["files"]
    (point,) = entry["judges"]
    assert point["auroc"] == 1.0 and point["auroc_source"] == "given" and point["k"] == 4 and point["placed"]
    # The oracle clusters as the synthetic judge at AUROC 1 does (scores 0 or 1), so its point is the map's.
    ideal = next(p for p in entry["points"] if p["auroc"] == 1.0)
    assert point["delta"] == pytest.approx(ideal["delta"]) and point["delta_ci95"] == pytest.approx(ideal["delta_ci95"])
    assert point["settings_differing_from_map"] == {}
    assert "your judge: oracle judge" in crossing_map["report"]["verdict"][0]


def test_no_break_even_when_prefixes_cover_the_traces(tmp_path, capsys):
    """Traces of 10 tokens, k=16: every prefix is a whole trace, so DeepPrune pays cons@8's tokens and cannot beat
    it (the majority is always right)."""
    answers = ["gold", "gold", "gold", "gold", "gold", "wrong_a", "wrong_b", "wrong_c"]
    traces = write_traces(tmp_path / "short.jsonl", 10, answers, 10)
    out = tmp_path / "out"
    assert payoff.main([str(traces), "--out", str(out), "--k", "16", "--auroc", "0.7", "1.0", *COMMON]) == 0
    (entry,) = json.loads((out / "payoff.json").read_text())["files"]
    cons_n = entry["cons_curve"][-1]
    assert cons_n["n"] == 8 and cons_n["accuracy"] == 1.0
    assert [p["total_tokens"] for p in entry["points"]] == [cons_n["total_tokens"]] * 2
    assert entry["break_even"][0]["status"] == "none in range" and entry["break_even"][0]["auroc"] is None
    assert "k=16: paper none in range [none in range]" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("aurocs", "deltas", "expected"),
    [
        ([0.7, 0.8, 0.9, 1.0], [-0.02, -0.01, 0.01, 0.02], {"auroc": pytest.approx(0.85), "status": "crossing"}),
        # Noise dips below 0 again: the last upward crossing counts (every AUROC above it pays).
        ([0.7, 0.8, 0.9, 1.0], [-0.02, 0.01, -0.01, 0.03], {"auroc": pytest.approx(0.925), "status": "crossing"}),
        ([0.8, 0.9], [0.01, 0.02], {"auroc": None, "status": "below range"}),
        ([0.8, 0.9], [-0.01, 0.0], {"auroc": None, "status": "none in range"}),
    ],
)
def test_break_even_is_the_last_upward_crossing(aurocs, deltas, expected):
    assert payoff.break_even(aurocs, deltas) == expected


def test_by_default_every_finishing_rule_deepprune_accepts_is_mapped(crossing_file, tmp_path):
    args = payoff.parse_args([str(crossing_file), "--out", str(tmp_path)])
    assert args.finish == list(FINISH_RULES) and {"paper", "diversity"} <= set(args.finish)
    for rule in args.finish:
        assert DeepPruneMethod(None, FirstTokens(4), finish=rule).finish == rule


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--auroc", "0.4", "0.9"], r"--auroc values must be in \(0\.5, 1\] .*got 0\.4"),
        (
            ["--finish", "paper", "bogus"],
            r"--finish bogus: not a finishing rule of DeepPrune \(known: paper, diversity",
        ),
        (["--k", "0"], r"--k values must be >= 1"),
        (["--prior", "high"], r"--prior must be 'file' or a number in \(0, 1\)"),
        (["--override", "judge=oracle"], r"--override judge=oracle: the map sweeps judge=synthetic"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(crossing_file, tmp_path, args, message):
    with pytest.raises(ValueError, match=message):
        payoff.main([str(crossing_file), "--out", str(tmp_path / "out"), "--benchmark", "last_letters", *args])
    assert not (tmp_path / "out" / "payoff.json").exists()


def test_refuses_a_directory_it_did_not_create(crossing_file, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"--out: .* is a non-empty directory this project did not create"):
        payoff.main([str(crossing_file), "--out", str(tmp_path), "--k", "4", *COMMON])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_judge_run_on_other_problems_is_refused(crossing_file, judge_run, tmp_path):
    other = write_traces(tmp_path / "other.jsonl", 5, ["gold"] * 8, 20)
    with pytest.raises(ValueError, match=r"--judge-run .*: its problems \(problem_set \w+\) are none of the mapped"):
        payoff.main(
            [str(other), "--out", str(tmp_path / "out"), "--k", "4", *COMMON, "--judge-run", f"{judge_run}=0.8"]
        )


@pytest.mark.slow
def test_the_command_prints_one_line_errors(crossing_file, tmp_path):
    result = run_entry("-m deepprune.tools.payoff", crossing_file, "--out", tmp_path / "out", "--auroc", "2", expect=2)
    assert result.stderr.splitlines()[0] == "error: --auroc values must be in (0.5, 1] (1 = the ideal judge), got 2.0"
