"""The on-disk memo of math-verify comparisons: same answers as without it, and a second run does no verify."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import json, sys
import math_verify
from deepprune.data.answers import AnswerChecker

calls = []
real = math_verify.verify
math_verify.verify = lambda *a, **k: calls.append(1) or real(*a, **k)
pairs = [(r"\frac{1}{2}", "0.5"), (r"3\pi", "3"), (r"(1, 2)", "(1,2)"), (r"x^2+1", r"1+x^2"), ("025", "25"),
         (r"\dfrac{9}{14}", r"\frac{9}{14}"), (r"\frac{2}{4}", r"\frac{1}{2}"), (r"\frac{1}{3}", r"\frac{1}{4}")]
checker = AnswerChecker("boxed", "math")
print(json.dumps({"equal": [checker.equivalent(a, b) for a, b in pairs], "verify_calls": len(calls)}))
"""


def run(cache: str) -> dict:
    env = {"DEEPPRUNE_ANSWER_CACHE": cache, "PATH": "/usr/bin:/bin", "HOME": str(Path(cache).parent)}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def test_memo_gives_the_same_answers_and_skips_verify_on_the_second_run(tmp_path: Path) -> None:
    expected = [True, False, True, True, True, True, True, False]
    off = run("off")
    first = run(str(tmp_path / "answers.sqlite"))
    second = run(str(tmp_path / "answers.sqlite"))
    assert off["equal"] == first["equal"] == second["equal"] == expected
    # Integers and exact rationals never reach verify; the symbolic pairs do, once.
    assert off["verify_calls"] == first["verify_calls"] > 0
    assert second["verify_calls"] == 0


def test_concurrent_runs_share_the_memo_without_locking_each_other_out(tmp_path: Path) -> None:
    """Two processes comparing at once (like train.py and prune.py on one file) both finish, same answers."""
    import json

    env = {"DEEPPRUNE_ANSWER_CACHE": str(tmp_path / "answers.sqlite"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    script = SCRIPT.replace("print(", "[checker.equivalent(f'{i}x+1', f'{i}+x') for i in range(40)]\nprint(")
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True) for _ in "ab"]
    results = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert results[0]["equal"] == results[1]["equal"] == [True, False, True, True, True, True, True, False]
