#!/usr/bin/env bash
# Regenerate the demo's shipped traces and judge from the shipped tiny reasoner (about 15 minutes on 2 cores):
#   deepprune/assets/demo/traces_train.jsonl.gz  200 training problems x 32 traces (vLLM, with confidences)
#   deepprune/assets/demo/traces_eval.jsonl.gz   50 evaluation problems x 32 traces
#   deepprune/assets/demo/judge/                  MiniLM LoRA judge trained on the training traces (train.py)
# The reasoner itself comes from experiments/demo/train_reasoner.py, the problems from make_benchmark.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
# One OpenMP thread: the tiny model's steps are tiny, and spinning OpenMP threads on a busy 2-core machine
# made generation ~10x slower (25 s vs 2.6 s per problem of 32 traces, measured side by side).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export VLLM_ENABLE_V1_MULTIPROCESSING=0 VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-2} HF_HUB_OFFLINE=1
WORK=${WORK:-outputs/demo_assets}
ASSETS=deepprune/assets
K=${K:-32}                        # judge prefix: first K tokens of the reasoner's tokenizer
TRAIN_PROBLEMS=${TRAIN_PROBLEMS:-200}
EVAL_PROBLEMS=${EVAL_PROBLEMS:-50}
N=${N:-32}                        # traces per problem
mkdir -p "$WORK" "$ASSETS/demo"

pack() {  # validate a generated JSONL and store it gzipped (atomic write)
  python -c "import sys; from deepprune.data.io import read_problems, write_problems; \
print(write_problems(sys.argv[2], read_problems(sys.argv[1])), 'problems ->', sys.argv[2])" "$1" "$2"
}

python generate.py engine=vllm_cpu model=tiny_reasoner benchmark=demo \
  benchmark.path="$ASSETS/demo_benchmark/train.jsonl" benchmark.limit="$TRAIN_PROBLEMS" n="$N" confs_digits=3 \
  out="$WORK/traces_train.jsonl" hydra.run.dir="$WORK/generate_train"
python generate.py engine=vllm_cpu model=tiny_reasoner benchmark=demo benchmark.limit="$EVAL_PROBLEMS" n="$N" confs_digits=3 \
  out="$WORK/traces_eval.jsonl" hydra.run.dir="$WORK/generate_eval"
pack "$WORK/traces_train.jsonl" "$ASSETS/demo/traces_train.jsonl.gz"
pack "$WORK/traces_eval.jsonl" "$ASSETS/demo/traces_eval.jsonl.gz"

python train.py judge=minilm loss=focal sampler=oversample benchmark=demo \
  data.train="$ASSETS/demo/traces_train.jsonl.gz" data.test="$ASSETS/demo/traces_eval.jsonl.gz" \
  data.tokenizer="$ASSETS/tiny_reasoner" truncation=first_tokens truncation.k="$K" \
  hydra.run.dir="$WORK/judge_run" "$@"
rm -rf "$ASSETS/demo/judge.tmp" && cp -r "$WORK/judge_run/judge" "$ASSETS/demo/judge.tmp"
rm -rf "$ASSETS/demo/judge" && mv "$ASSETS/demo/judge.tmp" "$ASSETS/demo/judge"
du -sh "$ASSETS"/*
