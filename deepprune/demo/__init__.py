"""Embedded demo: a synthetic reasoning task and a tiny reasoner LM trained from scratch in-repo.

They let the whole DeepPrune pipeline (sampling, judging, pruning) run on a CPU laptop.
"""

from deepprune.demo.task import Problem, TaskConfig, extract_answer, format_prompt, generate_problems

__all__ = ["Problem", "TaskConfig", "extract_answer", "format_prompt", "generate_problems"]
