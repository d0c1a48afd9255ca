"""User mistakes, one row each: what an adversarial user tried (trace files, command-line values, judge and model
directories, outputs) and what they must get: the exact one-line error, or the correct figure, and never lost data.

Rows run in-process (``run_prune`` / ``run_eval_judge`` / ``train`` / ``run_generation`` on a composed Hydra
config, about a second a row); :data:`SCRIPT_ROWS` run the real scripts for what only a process shows (exit code,
what reaches stderr, a full disk). The leaderboard's rows are in ``test_leaderboard_input.py``, interrupts and
killed parents in ``test_orphans.py``.

A row's ``setup(tmp)`` writes its inputs and returns the overrides; ``{tmp}`` in an expected message is the row's
temporary directory. ``after(tmp)`` checks what must still hold afterwards (the user's files are still there).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hydra.errors import MissingConfigException

from deepprune import asset_path
from deepprune.commands.entry import one_line
from deepprune.data.answers import AnswerChecker
from deepprune.data.io import read_problems
from deepprune.runner import run_eval_judge, run_prune
from tests.helpers.configs import compose_entry, options
from tests.helpers.run_entry import run_entry
from tests.helpers.traces import make_problem

TOY = ["data.traces={tmp}/t.jsonl", "benchmark=last_letters"]
MATH = ["data.traces={tmp}/t.jsonl", "benchmark=math"]


def records(answers: list[str | None] | None = None, gold: Any = "a", n: int = 3) -> list[dict[str, Any]]:
    answers = answers or ["a", "a", "b", "a"]
    return [{**make_problem(f"p{i}", "x", answers, seed=i).to_dict(), "gold": gold} for i in range(n)]


def write(tmp: Path, lines: list[dict[str, Any] | str], name: str = "t.jsonl") -> Path:
    path = tmp / name
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def traces(lines: Callable[[], list[dict[str, Any] | str]], *overrides: str, base: list[str] = TOY) -> Callable:
    """A row's setup: the trace file ``lines()`` at ``{tmp}/t.jsonl``, run with ``base`` + ``overrides``."""

    def setup(tmp: Path) -> list[str]:
        write(tmp, lines())
        return [*base, *overrides]

    return setup


def with_confs(value: float) -> list[dict[str, Any]]:
    rows = records()
    trace = rows[1]["traces"][2]
    trace["confs"] = [value] * trace["num_tokens"]
    return rows


def numeric_gold(written: str) -> list[str]:
    """Records whose gold is the JSON number ``written`` (as written: json.dumps would respell it) and whose
    traces answer that text."""
    return [json.dumps(r).replace('"gold": "a"', f'"gold": {written}') for r in records([written] * 4)]


def raw_line(text: str) -> Callable[[], list[dict[str, Any] | str]]:
    return lambda: [records()[0], text]


def victim(tmp: Path) -> Path:
    """A user's directory with their work in it."""
    (tmp / "victim").mkdir()
    (tmp / "victim" / "my_thesis.tex").write_text("work")
    return tmp / "victim"


def thesis_kept(tmp: Path) -> None:
    assert (tmp / "victim" / "my_thesis.tex").read_text() == "work"
    assert sorted(p.name for p in (tmp / "victim").iterdir()) == ["my_thesis.tex"]


def judge_copy(tmp: Path, change: Callable[[Path], None]) -> list[str]:
    judge = tmp / "judge"
    shutil.copytree(asset_path("demo/judge"), judge)
    change(judge / "adapter")
    write(tmp, records())
    return [*TOY, "method=deepprune", "judge=trained", f"judge.path={judge}"]


def link_out(adapter: Path) -> None:
    weights = adapter / "adapter_model.safetensors"
    outside = adapter.parents[1] / "elsewhere.safetensors"
    shutil.move(weights, outside)
    weights.symlink_to(outside)


def pickled(adapter: Path) -> None:
    (adapter / "adapter_model.safetensors").unlink()
    (adapter / "adapter_model.bin").write_bytes(b"\x80\x04K\x01.")  # pickle.dumps(1)


def custom_code_model(tmp: Path) -> list[str]:
    from deepprune.data.tokenizer import bundled_minilm_path

    model = tmp / "model"
    shutil.copytree(bundled_minilm_path(), model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "model_type": "evil", "auto_map": {"AutoModel": "e.M"}}))
    write(tmp, records())
    return [*TOY, "method=deepprune", "judge=sbert", f"judge.path={model}"]


def benchmark_file(tmp: Path) -> str:
    path = tmp / "bench.jsonl"
    path.write_text(
        "".join(json.dumps({"index": i, "question": f"{i}+{i}?", "true_answer": str(2 * i)}) + "\n" for i in range(3))
    )
    return str(path)


def generate(*overrides: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        return [f"benchmark.path={benchmark_file(tmp)}", f"out={tmp}/out.jsonl", "engine=vllm_cpu", *overrides]

    return setup


@dataclass(frozen=True)
class Row:
    """One mistake. Exactly one of ``error`` (the whole one-line message) and ``figures`` (metrics.json keys and
    their right values) is set."""

    id: str
    setup: Callable[[Path], list[str]]
    error: str | None = None
    figures: dict[str, Any] | None = None
    task: str = "prune"  # prune | eval_judge | train | generate
    after: Callable[[Path], None] | None = None
    run_dir: str = "run"

    def __post_init__(self) -> None:
        assert (self.error is None) != (self.figures is None), self.id


F = "{tmp}/t.jsonl"
LIVE = ["engine=vllm_cpu", "benchmark=aime24", "method=cons", "method.n=2"]

ROWS = [
    # --- Data loss: the tiny-model builder and every other writer of whole directories.
    Row(
        "data-loss-vllm-model-path",
        lambda tmp: [*LIVE, f"benchmark.path={benchmark_file(tmp)}", f"model.path={victim(tmp)}"],
        error="model.path: {tmp}/victim is a non-empty directory this project did not create (no "
        "deepprune_tiny_model.json): refusing to write there; point it at a new or empty directory (model=tiny_test "
        "builds its model into model.path; to run your own model give model=<a conf/model file, e.g. qwen3_32b> "
        "model.path=DIR)",
        after=thesis_kept,
    ),
    Row(
        "data-loss-judge-export-dir",
        lambda tmp: [f"data.train={write(tmp, records(n=4))}", "judge=minilm"],
        task="train",
        run_dir="victim_run",
        error="the judge export: {tmp}/victim_run/judge is a non-empty directory this project did not "
        "create (no judge.json): refusing to write there; point it at a new or empty directory",
    ),
    # --- Silently wrong figures.
    Row("gold-small-number", traces(lambda: numeric_gold("0.00001"), "method=cons"), figures={"accuracy": 1.0}),
    Row("gold-huge-number", traces(lambda: numeric_gold("1e308"), "method=cons"), figures={"accuracy": 1.0}),
    Row(
        "gold-400-digits",
        traces(lambda: [r | {"gold": int("7" * 400)} for r in records(["7" * 400] * 4)], base=MATH),
        figures={"accuracy": 1.0},
    ),
    Row(
        "confs-huge",
        traces(lambda: with_confs(1e308), "method=deepconf_low", "method.warmup=2", "method.window=4"),
        error=f"{F}:2: field 'traces[2].confs': must be in [0, 1e+06], got 1e+308 at index 0",
    ),
    Row(
        "confs-negative",
        traces(lambda: with_confs(-2.0), "method=deepconf_offline"),
        error=f"{F}:2: field 'traces[2].confs': must be in [0, 1e+06], got -2 at index 0",
    ),
    Row(
        "gold-empty",
        traces(lambda: records(gold="")),
        error=f"{F}:1: field 'gold': empty: a problem needs a reference answer",
    ),
    Row(
        "empty-boxed-answers-do-not-vote",
        traces(lambda: [r | {"gold": "7"} for r in records(["", "", "", "7"])], base=MATH),
        figures={"accuracy": 1.0},
    ),
    Row(
        "deepconf-variant-relabels-its-bar",
        traces(records, "method=deepconf_low", "method.variant=high", "method.warmup=2", "method.window=4"),
        figures={"method": "deepconf_high", ("method_params", "keep_top_percent"): 90.0},
    ),
    Row(
        "deepconf-custom-bar-named-by-it",
        traces(records, "method=deepconf_low", "method.keep_top_percent=50", "method.warmup=2", "method.window=4"),
        figures={"method": "deepconf_low_top50"},
    ),
    Row(
        "deepconf-variant-bogus",
        traces(records, "method=deepconf_low", "method.variant=bogus"),
        error="method.variant must be one of ('low', 'high'), got 'bogus'",
    ),
    Row(
        "truncation-words-string",
        traces(records, "method=deepprune", "judge=oracle", "truncation=reasoning_words", "truncation.words=wait"),
        error="truncation.words must be a list of non-empty words, e.g. [wait], got 'wait'",
    ),
    Row(
        "adapter-linked-out-of-judge-dir",
        lambda tmp: judge_copy(tmp, link_out),
        error="{tmp}/judge/judge.json: field 'files.adapter': {tmp}/judge/adapter/adapter_model.safetensors is a link "
        "to {tmp}/elsewhere.safetensors, outside the judge directory",
    ),
    Row(
        "generate-negative-max-tokens",
        generate("model.max_tokens=-5"),
        task="generate",
        error="model.max_tokens must be >= 1, got -5",
    ),
    Row(
        "generate-negative-digits",
        generate("confs_digits=-1"),
        task="generate",
        error="confs_digits must be >= 0, got -1",
    ),
    Row("generate-fractional-n", generate("n=1.5"), task="generate", error="n must be an integer >= 1, got 1.5"),
    # --- Tracebacks that are one line now.
    Row("empty-file", traces(lambda: []), error=f"{F}: no problems to evaluate (it holds no records)"),
    Row("blank-lines", traces(lambda: ["", "  "]), error=f"{F}: no problems to evaluate (it holds no records)"),
    Row(
        "dev-null",
        lambda tmp: ["data.traces=/dev/null", "benchmark=last_letters"],
        error="/dev/null: no problems to evaluate (it holds no records)",
    ),
    Row(
        "every-record-skipped",
        traces(lambda: ["{", "[1]"], "data.on_error=skip"),
        error=f"{F}: no problems to evaluate (all 2 records were malformed and skipped)",
    ),
    Row(
        "eval-judge-no-answered-pairs",
        lambda tmp: [f"data.test={write(tmp, records([None, None, 'a']))}", "benchmark=last_letters", "judge=sbert"],
        task="eval_judge",
        error=f"{F}: no pairs to score (no problem has two traces with an answer)",
    ),
    Row(
        "num-tokens-400-digits",
        traces(lambda: [records()[0] | {"traces": [{"text": "a", "num_tokens": int("9" * 400)}]}]),
        error=f"{F}:1: field 'traces[0].num_tokens': must be in [0, 1099511627776], got a 400-digit integer",
    ),
    Row(
        "deeply-nested-json",
        traces(raw_line("[" * 100_000 + "]" * 100_000)),
        error=f"{F}:2: field '<json>': nested too deeply to be a trace record",
    ),
    Row("subsamples-zero", traces(records, "method=cons", "subsamples=0"), error="subsamples must be >= 1, got 0"),
    Row(
        "subsamples-negative",
        traces(records, "method=cons", "method.n=2", "subsamples=-2"),
        error="subsamples must be >= 1, got -2",
    ),
    Row("subsamples-fraction", traces(records, "subsamples=1.5"), error="subsamples must be an integer >= 1, got 1.5"),
    Row("seed-text", traces(records, "seed=abc"), error="seed must be an integer >= 0, got 'abc'"),
    Row("seed-negative", traces(records, "seed=-1"), error="seed must be >= 0, got -1"),
    *[
        Row(
            f"prune-with-network-judge-{judge}",
            # judge=minilm is not an option of prune.py (test_a_judge_network_is_not_an_option_of_prune); a
            # network named by its class still is refused before it is built.
            traces(records, "method=deepprune", f"judge._target_=deepprune.judges.networks.{cls}"),
            error=f"judge: deepprune.judges.networks.{cls} is a judge network to train (train.py judge=...), not a "
            "judge to score with; use judge=trained judge.path=RUN_DIR/judge (its export), or "
            "judge=sbert|oracle|zero_shot",
        )
        for judge, cls in (
            ("minilm", "EncoderJudgeModel"),
            ("bi_encoder", "BiEncoderJudgeModel"),
            ("qwen3", "DecoderJudgeModel"),
        )
    ],
    Row(
        "unknown-method-key",
        traces(records, "method=cons", "+method.bogus=1"),
        error="method.bogus: not a setting of deepprune.methods.cons.ConsMethod (its settings: n, curve)",
    ),
    Row(
        "traces-list",
        lambda tmp: ["data.traces=[a,b]"],
        error="data.traces must be one file path, got ['a', 'b'] (ListConfig)",
    ),
    Row(
        "traces-number",
        lambda tmp: ["data.traces=2024"],
        error="data.traces must be one file path, got 2024 (int) (quote a numeric file name: data.traces=\"'2024'\")",
    ),
    Row(
        "judge-device-gpu",
        traces(records, "method=deepprune", "judge=sbert", "judge.device=gpu"),
        error="judge.device must be a torch device (cpu, cuda, cuda:N, mps), got 'gpu'",
    ),
    Row(
        "answer-regex-invalid",
        traces(records, "benchmark.answer.extractor=regex", "benchmark.answer.regex='(['"),
        error="benchmark.answer.regex='([' is not a valid regular expression "
        "(unterminated character set at position 1)",
    ),
    Row(
        "temperature-nan",
        lambda tmp: [*LIVE, f"benchmark.path={benchmark_file(tmp)}", "model.temperature=nan"],
        error="model.temperature must be a number in [0, 100], got nan",
    ),
    Row(
        "logprobs-k-zero",
        lambda tmp: [*LIVE, f"benchmark.path={benchmark_file(tmp)}", "engine.logprobs_k=0"],
        error="engine.logprobs_k must be >= 1, got 0",
    ),
    Row(
        "builder-wrong-signature",
        lambda tmp: [
            *LIVE,
            f"benchmark.path={benchmark_file(tmp)}",
            "model.builder=deepprune.config_checks:check_range",
        ],
        error="model.builder='deepprune.config_checks:check_range' cannot be called as builder(model.path) (missing a "
        "required argument: 'value')",
    ),
    Row(
        "generate-hub-benchmark-without-datasets",
        lambda tmp: [f"out={tmp}/out.jsonl", "engine=vllm_cpu"],
        task="generate",
        error="benchmark.hub=math-ai/aime25 needs the 'datasets' package (pip install datasets), or point "
        "benchmark.path at a local JSONL file",
    ),
    Row(
        "oracle-with-live-engine",
        lambda tmp: [
            *LIVE[:3],
            f"benchmark.path={benchmark_file(tmp)}",
            "method=deepprune",
            "judge=oracle",
            "method.n=2",
        ],
        error="judge=oracle reads the traces' final answers, which only stored traces have (engine=replay); use a "
        "learned judge (judge=trained judge.path=...) with a live engine",
    ),
    Row(
        "generate-resume-over-non-object",
        lambda tmp: [*generate()(tmp), f"out={write(tmp, ['[1, 2]', '{}'], name='out.jsonl')}"],
        task="generate",
        error="{tmp}/out.jsonl:1: a malformed line (not a trace record (a JSON object with an 'id'): "
        "b'[1, 2]\\n'); not resuming over it",
    ),
    Row(
        "pickled-adapter",
        lambda tmp: judge_copy(tmp, pickled),
        error="{tmp}/judge/judge.json: field 'files.adapter': adapter_model.bin is a pickle-format file, which is "
        "never loaded (it could run code); a judge written by train.py holds safetensors only",
    ),
    # --- Partly clear before: now clear.
    Row(
        "integer-5000-digits-skipped",
        traces(lambda: [*records(), '{"id": ' + "1" * 5000 + "}"], "data.on_error=skip"),
        figures={"num_problems": 3, "skipped_records": 1},
    ),
    Row(
        "integer-5000-digits",
        traces(raw_line('{"id": ' + "1" * 5000 + "}")),
        error=f"{F}:2: field '<json>': unreadable number (Exceeds the limit (4300 digits) for integer string "
        "conversion: value has 5000 digits)",
    ),
    Row("limit-reads-no-further", traces(raw_line("{broken"), "data.limit=1"), figures={"num_problems": 1}),
    Row(
        "custom-code-refusal-names-the-key",
        custom_code_model,
        error="{tmp}/model/config.json: model_type 'evil' is defined by Python files shipped with the model "
        "(auto_map); never run",
    ),
]


def lookup(metrics: dict[str, Any], key: str | tuple[str, ...]) -> Any:
    for part in (key,) if isinstance(key, str) else key:
        metrics = metrics[part]
    return metrics


def run_row(row: Row, overrides: list[str], run_dir: Path) -> dict[str, Any]:
    entry = {"prune": "prune", "eval_judge": "eval_judge", "train": "train", "generate": "generate"}[row.task]
    cfg = compose_entry(entry, *overrides)
    if row.task == "prune":
        return run_prune(cfg, run_dir)
    if row.task == "eval_judge":
        return run_eval_judge(cfg, run_dir)
    if row.task == "train":
        from deepprune.training.run import train

        return train(cfg, run_dir)
    from deepprune.generation import run_generation

    return run_generation(cfg)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_user_mistake(row: Row, tmp_path: Path) -> None:
    overrides = [o.format(tmp=tmp_path) for o in row.setup(tmp_path)]
    run_dir = tmp_path / row.run_dir
    if row.run_dir == "victim_run":  # train.py's run directory already holds a judge/ the user made
        (run_dir / "judge").mkdir(parents=True)
        (run_dir / "judge" / "notes.txt").write_text("mine")
    try:
        metrics = run_row(row, overrides, run_dir)
    except Exception as err:  # noqa: BLE001 - the exception is the outcome under test
        assert row.error is not None, f"{row.id}: expected figures, got {type(err).__name__}: {err}"
        assert str(err) == row.error.format(tmp=tmp_path)
    else:
        assert row.figures is not None, f"{row.id}: expected the error {row.error!r}, the run succeeded"
        for key, value in row.figures.items():
            assert lookup(metrics, key) == value, key
    if row.after is not None:
        row.after(tmp_path)
    if row.run_dir == "victim_run":
        assert (run_dir / "judge" / "notes.txt").read_text() == "mine"


def test_tiny_judge_base_refuses_a_users_directory(tmp_path):
    from deepprune.tiny_models import tiny_judge_base

    with pytest.raises(ValueError, match="is a non-empty directory this project did not create"):
        tiny_judge_base(victim(tmp_path), seed=0, hidden_size=32, num_layers=1)
    thesis_kept(tmp_path)


def test_builders_reuse_and_replace_only_their_own_directories(tmp_path):
    from deepprune.tiny_models import _MARKER, build_tiny_model

    (tmp_path / "empty").mkdir()
    built = Path(build_tiny_model(tmp_path / "empty"))
    assert (built / _MARKER).is_file() and (built / "config.json").is_file()
    (built / _MARKER).write_text('{"version": 0}')  # an older build of ours: replaced
    assert Path(build_tiny_model(built)) == built and json.loads((built / _MARKER).read_text())["version"] > 0
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="exists and is not a directory"):
        build_tiny_model(tmp_path / "file")
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.parametrize(
    ("answers", "winner"),
    [(["", "", "a"], "a"), (["  ", None, "b", "b", "c"], "b"), (["", ""], None)],
)
def test_empty_answers_never_vote(answers, winner):
    assert AnswerChecker("boxed", "math").vote(answers) == winner


def test_numeric_gold_is_read_as_written(tmp_path):
    write(tmp_path, [*numeric_gold("0.00001")[:1], numeric_gold("1e308")[1]])
    assert [p.gold for p in read_problems(tmp_path / "t.jsonl")] == ["0.00001", "1e308"]


# --- Rows that need a real process: the exit code and stderr a user sees.
@pytest.mark.slow
def test_error_after_the_progress_bar_starts_on_its_own_line(tmp_path):
    write(tmp_path, [*records(), "{broken"])
    result = run_entry("prune.py", f"data.traces={tmp_path}/t.jsonl", "benchmark=last_letters",
                       "method=cons", f"hydra.run.dir={tmp_path}/run", expect=2)  # fmt: skip
    lines = result.stderr.replace("\r", "\n").splitlines()
    assert (
        f"error: {tmp_path}/t.jsonl:4: field '<json>': invalid JSON: Expecting property name enclosed in double quotes"
        in lines
    )
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_run_dir_that_is_a_file(tmp_path):
    write(tmp_path, records())
    (tmp_path / "afile").write_text("mine")
    result = run_entry("prune.py", f"data.traces={tmp_path}/t.jsonl", "benchmark=last_letters", "method=cons",
                       f"hydra.run.dir={tmp_path}/afile", expect=2)  # fmt: skip
    assert result.stderr.splitlines()[0] == f"error: cannot write the run directory: {tmp_path}/afile: File exists"
    assert (tmp_path / "afile").read_text() == "mine"


@pytest.fixture
def full_disk(tmp_path):
    """A nearly full 64 KiB tmpfs (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "full"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        (mount / "filler").write_bytes(b"\0" * 40_000)  # room left for Hydra's configs, not for the results
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.slow
def test_disk_full_is_one_line_naming_the_file(tmp_path, full_disk):
    write(tmp_path, records(n=400))  # a metrics.json larger than the space left
    result = run_entry("prune.py", f"data.traces={tmp_path}/t.jsonl", "benchmark=last_letters", "method=cons",
                       f"hydra.run.dir={full_disk}/run", expect=2)  # fmt: skip
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error_lines == [f"error: {full_disk}/run/metrics.json: No space left on device"]
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr


@pytest.mark.parametrize("network", options("training/judge"))
def test_a_judge_network_is_not_an_option_of_prune(network: str) -> None:
    """The networks are train.py's judge= group; prune.py's judge= lists only judges that score (the message
    names them)."""
    with pytest.raises(MissingConfigException) as err:
        compose_entry("prune", f"judge={network}")
    assert one_line(err.value) == (
        f"In 'prune': Could not find 'judge/{network}' (available: {', '.join(options('inference/judge'))})"
    )
