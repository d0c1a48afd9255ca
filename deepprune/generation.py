"""``generate.py``: sample ``n`` traces per benchmark problem with vLLM into a trace dataset.

The output is JSONL in the project's format (one problem per line: text, extracted answer, num_tokens,
finish_reason and per-token DeepConf confidences, plus the ``tokenizer`` whose units they are in). Each
problem is appended as one line and fsynced as soon as its traces are done, so an interrupted run loses
at most the problem in flight; a rerun reads the ids already written (repairing a torn last line) and
generates only the rest. The engine is ``conf/engine/vllm.yaml`` built with ``instantiate``. With
``engine.data_parallel_size=R`` each rank ``engine.data_parallel_rank=r`` takes every R-th problem and
writes its own file (concatenate them afterwards).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from deepprune.build import build_checker
from deepprune.config_checks import check_entry_config, check_int
from deepprune.data.benchmarks import load_benchmark
from deepprune.data.io import atomic_write_json
from deepprune.data.schema import Problem, Trace
from deepprune.data.tokenizer import portable_name
from deepprune.engines.base import End, ProblemSpec
from deepprune.instantiate import build

log = logging.getLogger(__name__)


def output_path(cfg: DictConfig) -> Path:
    """``out``, or a name from model, benchmark and n; ranks of a data-parallel run get their own file."""
    size, rank = cfg.engine.data_parallel_size, cfg.engine.data_parallel_rank
    if not 0 <= rank < size:
        raise ValueError(f"engine.data_parallel_rank={rank} must be in [0, engine.data_parallel_size={size})")
    default = Path("outputs/traces") / f"{cfg.model.name}_{cfg.benchmark.name}_n{cfg.n}.jsonl"
    path = Path(cfg.out) if cfg.out else default
    if path.suffix != ".jsonl":
        raise ValueError(f"out={path} must end in .jsonl (problems are appended one line at a time)")
    return path.with_name(f"{path.stem}.rank{rank}of{size}.jsonl") if size > 1 else path


def finished_ids(path: Path) -> set[str]:
    """Ids of the problems already in ``path``.

    A torn last line (a crash mid-write: the start of one of this script's records, ``{"id": ...``, cut short) is
    cut off; a complete last record without its newline gets one. Anything else malformed is refused, never
    removed: the file may not be one this script wrote.
    """
    if not path.exists():
        return set()
    done: set[str] = set()
    good_end = 0
    with open(path, "rb") as handle:
        data = handle.read()
    offset = 0
    for line, raw in enumerate(data.splitlines(keepends=True), start=1):
        offset += len(raw)
        if not raw.strip():
            good_end = offset
            continue
        try:
            record = json.loads(raw)
            if not isinstance(record, dict) or "id" not in record:
                raise ValueError(f"not a trace record (a JSON object with an 'id'): {raw[:40]!r}")
            done.add(str(record["id"]))
            good_end = offset
        except ValueError as err:
            torn = offset == len(data) and not raw.endswith(b"\n") and raw.startswith(b'{"id": ')
            if not torn:
                raise ValueError(f"{path}:{line}: a malformed line ({err}); not resuming over it") from err
            log.warning("%s: dropping a torn last line (%d bytes) from an interrupted run", path, len(raw))
    if good_end < len(data):
        os.truncate(path, good_end)
    elif data and not data.endswith(b"\n"):
        with open(path, "ab") as handle:  # the next record starts on a line of its own
            handle.write(b"\n")
    return done


def _append_line(path: Path, record: dict[str, Any]) -> None:
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    with open(path, "ab") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def run_generation(cfg: DictConfig) -> dict[str, Any]:
    """Generate the missing problems of ``output_path(cfg)``; returns the run summary (also written
    next to the output as ``<out>.meta.json``)."""
    from tqdm.auto import tqdm

    check_entry_config(cfg)
    check_int("n", cfg.n)
    if cfg.confs_digits is not None:
        check_int("confs_digits", cfg.confs_digits, minimum=0)
    path = output_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = finished_ids(path)
    size, rank = cfg.engine.data_parallel_size, cfg.engine.data_parallel_rank
    problems = load_benchmark(cfg.benchmark)[rank::size]
    todo = [p for p in problems if p.id not in done]
    summary: dict[str, Any] = {"out": str(path), "problems": len(problems), "already_done": len(problems) - len(todo)}
    if not todo:
        log.info("%s already has all %d problems; nothing to generate", path, len(problems))
        print(f"{path}: all {len(problems)} problems already generated")
        return summary

    checker = build_checker(cfg)
    engine = build(cfg.engine, extract_answer=checker.extract, problems=lambda: problems)
    digits = cfg.confs_digits
    started = time.perf_counter()
    try:
        with tqdm(todo, desc=f"generate {cfg.model.name}/{cfg.benchmark.name}", unit="problem") as bar:
            for problem in bar:
                spec = ProblemSpec(problem.id, problem.question, problem.gold, payload=problem)
                traces = engine.start(spec, int(cfg.n), int(cfg.seed))
                engine.advance(traces, End())
                record = Problem(
                    id=problem.id,
                    question=problem.question,
                    gold=problem.gold,
                    benchmark=str(cfg.benchmark.name),
                    model=str(cfg.model.name),
                    # num_tokens and confs are in this tokenizer's units; replay counts prefixes with it.
                    tokenizer=portable_name(engine.model_path),
                    traces=[
                        Trace(
                            text=t.text,
                            answer=t.answer,
                            num_tokens=t.num_tokens,
                            confs=[round(c, digits) for c in t.confs] if digits is not None else list(t.confs),
                            finish_reason=t.finish_reason,
                        )
                        for t in traces
                    ],
                ).to_dict()
                _append_line(path, record)
                stats = engine.describe()
                bar.set_postfix(tok_s=stats["tokens_per_s"], tokens=stats["generated_tokens"])
    finally:
        summary.update(engine.describe())
        summary["wall_s"] = round(time.perf_counter() - started, 3)
        engine.close()
    summary["generated_problems"] = len(todo)
    atomic_write_json(path.with_name(path.name + ".meta.json"), summary)
    return summary
