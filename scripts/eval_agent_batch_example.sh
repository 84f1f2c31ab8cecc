#!/usr/bin/env bash
# Batched agent evaluation, as in the seed's guide.
#   bash scripts/eval_agent_batch_example.sh [agent] [batch_size] [backend]
# Environment: MODEL (default smollm2-135m), DATASET (gsm8k), COUNT (20), NUM_RUNS (the agent's width, 4),
# MAX_NEW_TOKENS (1024), DATA_DIR (local benchmark files; default $MATHEVAL_DATA_DIR, else ../shared/data
# when present, else the hub), RESULTS_DIR (results), PYTHON. `python -m matheval agents` lists the agents.
set -euo pipefail
AGENT="${1:-majority_vote}"
BATCH_SIZE="${2:-16}"
INFERENCE_BACKEND="${3:-transformers}"
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
MODEL="${MODEL:-smollm2-135m}"
DATASET="${DATASET:-gsm8k}"
COUNT="${COUNT:-20}"
NUM_RUNS="${NUM_RUNS:-4}"
MAX_NEW_TOKENS="${MAX_NEW_TOKENS:-1024}"
DATA_DIR="${DATA_DIR:-${MATHEVAL_DATA_DIR:-$( [ -d ../shared/data ] && echo ../shared/data || true )}}"
DATA_ARGS=()
[ -n "$DATA_DIR" ] && DATA_ARGS=(--data_dir "$DATA_DIR")

"$PYTHON" -m evaluation.eval_agent \
    --model "$MODEL" \
    --agent "$AGENT" \
    --round "batch_agent" \
    --dataset "$DATASET" \
    --count "$COUNT" \
    --num_runs "$NUM_RUNS" \
    --max_new_tokens "$MAX_NEW_TOKENS" \
    --batch_size "$BATCH_SIZE" \
    --inference_backend "$INFERENCE_BACKEND" \
    --results_dir "${RESULTS_DIR:-results}" \
    "${DATA_ARGS[@]}"
