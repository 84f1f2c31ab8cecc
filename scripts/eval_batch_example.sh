#!/usr/bin/env bash
# Batched base evaluation, as in the seed's guide.
#   bash scripts/eval_batch_example.sh [batch_size] [backend]
# Environment: MODEL (default smollm2-135m), DATASET (gsm8k; or several: gsm8k,math500), COUNT (20),
# MAX_NEW_TOKENS (1024), DATA_DIR (local benchmark files; default $MATHEVAL_DATA_DIR, else ../shared/data
# when present, else the hub), RESULTS_DIR (results), PYTHON.
set -euo pipefail
BATCH_SIZE="${1:-16}"
INFERENCE_BACKEND="${2:-transformers}"
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
MODEL="${MODEL:-smollm2-135m}"
DATASET="${DATASET:-gsm8k}"
COUNT="${COUNT:-20}"
MAX_NEW_TOKENS="${MAX_NEW_TOKENS:-1024}"
DATA_DIR="${DATA_DIR:-${MATHEVAL_DATA_DIR:-$( [ -d ../shared/data ] && echo ../shared/data || true )}}"
DATA_ARGS=()
[ -n "$DATA_DIR" ] && DATA_ARGS=(--data_dir "$DATA_DIR")

"$PYTHON" -m evaluation.eval \
    --model "$MODEL" \
    --round "batch_test" \
    --dataset "$DATASET" \
    --count "$COUNT" \
    --mode "standard" \
    --max_new_tokens "$MAX_NEW_TOKENS" \
    --detailed "false" \
    --batch_size "$BATCH_SIZE" \
    --inference_backend "$INFERENCE_BACKEND" \
    --results_dir "${RESULTS_DIR:-results}" \
    "${DATA_ARGS[@]}"
