#!/usr/bin/env bash
# Regenerate the demo's shipped traces and judge from a trained tiny reasoner, check them, then ship them:
#   deepprune/assets/demo/traces_train.jsonl.gz  TRAIN_PROBLEMS training problems x TRAIN_N traces (vLLM, confidences)
#   deepprune/assets/demo/traces_eval.jsonl.gz   EVAL_PROBLEMS evaluation problems x N traces
#   deepprune/assets/demo/judge/                  MiniLM LoRA bi-encoder judge trained on the training traces (train.py)
#   deepprune/assets/demo/judge_roc_test.png      its ROC on the evaluation traces
#   deepprune/assets/tiny_reasoner/               the reasoner the traces came from (REASONER)
#   deepprune/assets/demo_benchmark/              the problems they answer (BENCH)
# Nothing under deepprune/assets changes unless every check passes:
#   the judge's validation AUROC >= MIN_VAL_AUROC; DeepPrune (the demo's settings) with it falls back to
#   all-singleton clusters on at most MAX_FALLBACK of the evaluation problems (metrics.json fallback_problems);
#   and on the evaluation traces voting still pays beyond DeepPrune's budget: the cons@n curve rises by at least
#   MIN_RISE from DeepPrune's tokens to cons@N (experiments/demo/check_curve.py), so a gain can exceed its noise.
# Evaluation traces are sampled at EVAL_TEMPERATURE (1.4: wrong answers scatter, so more votes keep paying);
# the judge's training traces at TRAIN_TEMPERATURE (the same 1.4: a judge reads prefixes like those it will see).
# The reasoner comes from experiments/demo/train_reasoner.py, the problems from make_benchmark.py.
#   REASONER=outputs/demo_reasoner/tiny_reasoner BENCH=outputs/demo_benchmark experiments/demo/build_assets.sh \
#     [train.py overrides...]
set -euo pipefail
cd "$(dirname "$0")/../.."
# One OpenMP thread: the tiny model's steps are tiny, and spinning OpenMP threads on a busy 2-core machine
# made generation ~10x slower (25 s vs 2.6 s per problem of 32 traces, measured side by side).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export VLLM_ENABLE_V1_MULTIPROCESSING=0 VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-2} HF_HUB_OFFLINE=1
WORK=${WORK:-outputs/demo_assets}
ASSETS=deepprune/assets
REASONER=${REASONER:-$ASSETS/tiny_reasoner}
BENCH=${BENCH:-$ASSETS/demo_benchmark}   # train.jsonl / test.jsonl from make_benchmark.py --out-dir
K=${K:-32}                        # judge prefix: first K tokens of the reasoner's tokenizer
TRAIN_PROBLEMS=${TRAIN_PROBLEMS:-100}
TRAIN_N=${TRAIN_N:-32}            # traces per training problem (the judge reads pairs of their prefixes)
EVAL_PROBLEMS=${EVAL_PROBLEMS:-100}
EVAL_TEMPERATURE=${EVAL_TEMPERATURE:-1.4}
TRAIN_TEMPERATURE=${TRAIN_TEMPERATURE:-1.4}
MIN_RISE=${MIN_RISE:-0.06}
N=${N:-64}                        # traces per evaluation problem (cons@64 is the demo's baseline)
MIN_VAL_AUROC=${MIN_VAL_AUROC:-0.7}
MAX_FALLBACK=${MAX_FALLBACK:-0.25}
mkdir -p "$WORK" "$ASSETS/demo"

pack() {  # validate a generated JSONL and store it gzipped (atomic write)
  python -c "import sys; from deepprune.data.io import read_problems, write_problems; \
print(write_problems(sys.argv[2], read_problems(sys.argv[1])), 'problems ->', sys.argv[2])" "$1" "$2"
}

python generate.py engine=vllm_cpu model=tiny_reasoner model.path="$REASONER" model.temperature="$TRAIN_TEMPERATURE" \
  benchmark=demo benchmark.path="$BENCH/train.jsonl" benchmark.limit="$TRAIN_PROBLEMS" n="$TRAIN_N" confs_digits=3 \
  out="$WORK/traces_train.jsonl" hydra.run.dir="$WORK/generate_train"
python generate.py engine=vllm_cpu model=tiny_reasoner model.path="$REASONER" model.temperature="$EVAL_TEMPERATURE" \
  benchmark=demo benchmark.path="$BENCH/test.jsonl" benchmark.limit="$EVAL_PROBLEMS" n="$N" confs_digits=3 \
  out="$WORK/traces_eval.jsonl" hydra.run.dir="$WORK/generate_eval"
pack "$WORK/traces_train.jsonl" "$WORK/traces_train.jsonl.gz"
pack "$WORK/traces_eval.jsonl" "$WORK/traces_eval.jsonl.gz"

python train.py judge=bi_encoder loss=focal sampler=oversample benchmark=demo \
  data.train="$WORK/traces_train.jsonl.gz" data.test="$WORK/traces_eval.jsonl.gz" \
  data.tokenizer="$REASONER" truncation=first_tokens truncation.k="$K" \
  hydra.run.dir="$WORK/judge_run" "$@"

# Check 1: the judge separates same-answer from different-answer pairs on held-out training problems.
python - "$WORK/judge_run/judge/judge.json" "$MIN_VAL_AUROC" <<'PY'
import json, sys
metrics = json.load(open(sys.argv[1]))["metrics"]
auroc, floor = metrics["val/auroc"], float(sys.argv[2])
print(f"judge: val AUROC {auroc:.3f}, test AUROC {metrics['test/auroc']:.3f}")
if auroc < floor:
    sys.exit(f"{sys.argv[1]}: val/auroc {auroc:.3f} < {floor}: not shipping this judge")
PY
# Check 2: with it, DeepPrune (the demo's settings) forms clusters instead of falling back to all singletons.
python prune.py experiment=demo method=deepprune method.n="$N" method.compare=fast method.threshold=auto data.traces="$WORK/traces_eval.jsonl.gz" \
  data.tokenizer="$REASONER" judge.path="$WORK/judge_run/judge" truncation.k="$K" hydra.run.dir="$WORK/prune_check"
python - "$WORK/prune_check/metrics.json" "$MAX_FALLBACK" <<'PY'
import json, sys
metrics = json.load(open(sys.argv[1]))
share, ceiling = metrics["fallback_problems"] / metrics["num_problems"], float(sys.argv[2])
print(f"DeepPrune: accuracy {metrics['accuracy']:.3f}, fallback on {share:.0%} of the problems")
if share > ceiling:
    sys.exit(f"{sys.argv[1]}: fallback on {share:.0%} of the problems > {ceiling:.0%}: not shipping this judge")
PY

# Check 3: voting still pays beyond DeepPrune's budget on the evaluation traces (not a flat cons@n curve).
python prune.py experiment=demo method=cons method.n="$N" method.curve=true data.traces="$WORK/traces_eval.jsonl.gz" \
  data.tokenizer="$REASONER" hydra.run.dir="$WORK/cons_check"
python -m experiments.demo.check_curve "$WORK/cons_check/metrics.json" "$WORK/prune_check/metrics.json" \
  --min-rise "$MIN_RISE"

# Ship: every file is staged next to its destination, then swapped in.
cp "$WORK/traces_train.jsonl.gz" "$ASSETS/demo/traces_train.jsonl.gz.tmp"
cp "$WORK/traces_eval.jsonl.gz" "$ASSETS/demo/traces_eval.jsonl.gz.tmp"
mv "$ASSETS/demo/traces_train.jsonl.gz.tmp" "$ASSETS/demo/traces_train.jsonl.gz"
mv "$ASSETS/demo/traces_eval.jsonl.gz.tmp" "$ASSETS/demo/traces_eval.jsonl.gz"
cp "$WORK/judge_run/roc_test.png" "$ASSETS/demo/judge_roc_test.png"
rm -rf "$ASSETS/demo/judge.tmp" && cp -r "$WORK/judge_run/judge" "$ASSETS/demo/judge.tmp"
rm -rf "$ASSETS/demo/judge" && mv "$ASSETS/demo/judge.tmp" "$ASSETS/demo/judge"
if [ "$(realpath "$REASONER")" != "$(realpath "$ASSETS/tiny_reasoner")" ]; then
  rm -rf "$ASSETS/tiny_reasoner.tmp" && cp -r "$REASONER" "$ASSETS/tiny_reasoner.tmp"
  rm -rf "$ASSETS/tiny_reasoner" && mv "$ASSETS/tiny_reasoner.tmp" "$ASSETS/tiny_reasoner"
fi
if [ "$(realpath "$BENCH")" != "$(realpath "$ASSETS/demo_benchmark")" ]; then
  cp "$BENCH/train.jsonl" "$BENCH/test.jsonl" "$ASSETS/demo_benchmark/"
fi
du -sh "$ASSETS"/*
