"""DeepConf online voting against the reference package's own pipeline (``deepconf`` 0.1.0).

The reference's ``DeepThinkLLM._deepthink_online`` computes the warmup threshold, marks every final trace
whose lowest window confidence is below it, and votes with ``_perform_basic_voting``. It is run here on
the same stored traces our replay engine serves, with a store of fixed completions in place of vLLM's
sampling (the confidences must be the test's, not a model's).
"""

from types import SimpleNamespace

import numpy as np
import pytest

from deepprune.data.answers import AnswerChecker
from deepprune.data.io import write_problems
from deepprune.data.schema import Problem, Trace
from deepprune.engines.replay import ReplayEngine
from deepprune.methods.deepconf import DeepConfMethod, lowest_group_confidence
from tests.helpers.run_if import RunIf

CHECKER = AnswerChecker("boxed", "string")
WINDOW = 8
# Confidences on a grid of WINDOW * 0.001: window means are then exact to 3 decimals, so the reference's
# rounding of window means (compute_least_grouped) cannot move a trace across the threshold.
STEP = WINDOW * 0.001


def random_problem(seed: int, num_traces: int) -> Problem:
    """Traces both shorter and longer than the window, some without an answer."""
    rng = np.random.default_rng(seed)
    traces = []
    for _ in range(num_traces):
        length = int(rng.integers(WINDOW // 2, 4 * WINDOW))
        confs = (rng.integers(60, 500, size=length) * STEP).round(3).tolist()
        answer = str(rng.choice(["a", "b", "c", "none"], p=[0.35, 0.3, 0.25, 0.1]))
        if answer == "none":
            traces.append(Trace(text="no answer here", answer=None, num_tokens=length, confs=confs))
        else:
            traces.append(Trace(f"so the answer is \\boxed{{{answer}}}", answer, num_tokens=length, confs=confs))
    return Problem(id=f"r{seed}", question="q", gold="a", traces=traces)


def load_reference():
    """The reference class; its package ``__init__`` imports vLLM (installed with the cpu/gpu extra)."""
    from deepconf.outputs import DeepThinkOutput
    from deepconf.wrapper import DeepThinkLLM

    return DeepThinkLLM, DeepThinkOutput


class StoredCompletions:
    """Hands the reference pipeline fixed completions, in order, where vLLM would sample them."""

    def __init__(self, traces: list[Trace]) -> None:
        self.queue = [
            SimpleNamespace(
                text=t.text,
                token_ids=list(range(len(t.confs))),
                # compute_confidence: conf = -(mean of the listed logprobs), so one entry of -conf gives conf.
                logprobs=[{0: SimpleNamespace(logprob=-c)} for c in t.confs],
                finish_reason="stop",
            )
            for t in traces
        ]

    def generate(self, prompts: list[str], params: list) -> list[SimpleNamespace]:
        batch, self.queue = self.queue[: len(prompts)], self.queue[len(prompts) :]
        return [SimpleNamespace(outputs=[completion]) for completion in batch]


def reference_online(problem: Problem, warmup: int, keep_top_percent: float):
    from vllm import SamplingParams

    deep_think_llm, deep_think_output = load_reference()
    reference = deep_think_llm.__new__(deep_think_llm)  # skip __init__: it loads a model
    reference.llm = StoredCompletions(problem.traces)
    reference.tokenizer = SimpleNamespace(eos_token_id=0)
    output = deep_think_output(mode="online")
    reference._deepthink_online(
        "q", output, warmup, len(problem.traces), keep_top_percent, WINDOW, SamplingParams(max_tokens=10)
    )
    return output


@RunIf(requires_vllm=True, modules=("deepconf",))
@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("keep_top_percent", [10, 50, 90])
def test_online_voting_matches_reference(tmp_path, seed, keep_top_percent):
    problem = random_problem(seed, num_traces=20)
    write_problems(tmp_path / "r.jsonl", [problem])
    engine = ReplayEngine(str(tmp_path / "r.jsonl"), extract_answer=CHECKER.extract)
    (spec,) = engine.problems()
    outcome = DeepConfMethod(None, "low", warmup=6, window=WINDOW, keep_top_percent=keep_top_percent).run(
        spec, engine, CHECKER
    )
    reference = reference_online(problem, warmup=6, keep_top_percent=keep_top_percent)
    assert outcome.extra["threshold"] == pytest.approx(reference.conf_bar, abs=1e-9)
    assert outcome.extra["voters"] == len(reference.voting_answers)
    assert outcome.predicted == reference.voted_answer


def test_short_final_trace_below_the_bar_does_not_vote(tmp_path):
    """A final trace shorter than the window is never stopped, but its mean below the bar drops its vote."""
    traces = [Trace("\\boxed{a}", "a", num_tokens=WINDOW, confs=[1.5] * WINDOW) for _ in range(2)]
    # Four short traces for "b" with mean confidence 1.0, below the warmup bar of 1.5: were they to vote,
    # their weight (4.0) would beat "a" (3.0).
    traces += [Trace("\\boxed{b}", "b", num_tokens=WINDOW // 2, confs=[1.0] * (WINDOW // 2)) for _ in range(4)]
    write_problems(tmp_path / "s.jsonl", [Problem("s", "q", "a", traces)])
    engine = ReplayEngine(str(tmp_path / "s.jsonl"), extract_answer=CHECKER.extract)
    (spec,) = engine.problems()
    outcome = DeepConfMethod(None, "high", warmup=2, window=WINDOW, keep_top_percent=90).run(spec, engine, CHECKER)
    assert all(t.finished for t in outcome.traces)  # nothing was cut: the short traces ran to their end
    assert outcome.extra["voters"] == 2 and outcome.predicted == "a"


def test_fewer_traces_than_warmup_uses_all_as_warmup(tmp_path, caplog):
    problem = random_problem(5, num_traces=4)
    write_problems(tmp_path / "few.jsonl", [problem])
    engine = ReplayEngine(str(tmp_path / "few.jsonl"), extract_answer=CHECKER.extract)
    (spec,) = engine.problems()
    with caplog.at_level("WARNING", logger="deepprune.methods.deepconf"):
        outcome = DeepConfMethod(None, "high", warmup=16, window=WINDOW, keep_top_percent=90).run(spec, engine, CHECKER)
    assert "fewer than method.warmup=16" in caplog.text
    assert all(t.finished for t in outcome.traces) and outcome.extra["started"] == 4
    scores = [lowest_group_confidence(t.confs, WINDOW) for t in problem.traces]
    bar = float(np.percentile(scores, 10))
    voters = [(t.answer, s) for t, s in zip(outcome.traces, scores, strict=True) if s >= bar and t.answer]
    assert outcome.extra["threshold"] == pytest.approx(bar)
    assert outcome.predicted == CHECKER.vote([a for a, _ in voters], [s for _, s in voters])


def test_window_below_at_the_last_token_counts_as_stopped(tmp_path):
    """The reference's processor forces EOS when the window ending at the last token drops below the bar:
    that trace is stopped by confidence (replay engine rule), not finished, and does not vote."""
    warm = [Trace("\\boxed{a}", "a", num_tokens=WINDOW, confs=[2.0] * WINDOW) for _ in range(2)]
    # Every window is at 2.0 except the last one, which the final token drags to 1.875 < 2.0.
    edge = Trace("\\boxed{b}", "b", num_tokens=WINDOW + 2, confs=[2.0] * (WINDOW + 1) + [1.0])
    write_problems(tmp_path / "e.jsonl", [Problem("e", "q", "a", [*warm, edge])])
    engine = ReplayEngine(str(tmp_path / "e.jsonl"), extract_answer=CHECKER.extract)
    (spec,) = engine.problems()
    outcome = DeepConfMethod(None, "high", warmup=2, window=WINDOW, keep_top_percent=90).run(spec, engine, CHECKER)
    last = outcome.traces[2]
    assert last.stopped and not last.finished and last.finish_reason == "confidence"
    assert outcome.extra["voters"] == 2 and outcome.predicted == "a"
