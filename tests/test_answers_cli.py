"""LaTeX answers graded through the real CLI path: prune.py, cons@N, the aime24 benchmark's boxed/math checker."""

import json

import pytest

from tests.helpers.run_entry import run_entry

# (id, gold, boxed answers of the traces, the majority class is correct)
PROBLEMS = [
    ("pi_vs_int", "3", [r"3\pi", r"3\pi", "3"], False),  # 3pi wins 2-1 and is not 3
    ("radical_vs_int", "2", [r"2\sqrt{2}", r"2\sqrt{2}"], False),
    ("dfrac", r"\frac{3}{4}", [r"\dfrac{3}{4}", r"\dfrac{3}{4}"], True),
    ("tfrac_vs_decimal", "0.75", [r"\tfrac34", "1"], True),
    ("sqrt_vs_int", "2", [r"\sqrt{4}"], True),
    ("aime_leading_zero", "25", ["025", "025", "24"], True),
    ("tuple_order", "(1,2)", ["(2, 1)", "(2,1)", "(1, 2)"], False),
]


@pytest.mark.slow
def test_prune_cons_grades_latex_answers_by_value(tmp_path):
    traces = tmp_path / "latex.jsonl"
    with traces.open("w") as handle:
        for pid, gold, boxed, _ in PROBLEMS:
            texts = [f"Some reasoning, so the answer is \\boxed{{{answer}}}." for answer in boxed]
            record = {"id": pid, "question": "q", "gold": gold, "traces": [{"text": t} for t in texts]}
            handle.write(json.dumps(record) + "\n")
    out = tmp_path / "run"
    run_entry("prune.py", "method=cons", "benchmark=aime24", f"data.traces={traces}", f"hydra.run.dir={out}")
    problems = {p["id"]: p for p in json.loads((out / "metrics.json").read_text())["problems"]}
    assert {pid: problems[pid]["correct"] for pid, *_ in PROBLEMS} == {pid: ok for pid, *_, ok in PROBLEMS}
    assert problems["pi_vs_int"]["predicted"] == r"3\pi"
    assert problems["tuple_order"]["predicted"] == "(2, 1)"
