#!/usr/bin/env bash
# The full suite of the seed's guide: 2 datasets x (1 base evaluation + 8 agents) = 18 configurations.
#   bash scripts/run_full_evaluation.sh [count] [batch_size] [backend]
# Environment: MODEL (default smollm2-135m), ROUND (full_eval), NUM_RUNS (agent width, 4),
# MAX_NEW_TOKENS (1024), DATA_DIR (local benchmark files; default $MATHEVAL_DATA_DIR, else
# ../shared/data when present, else the hub), DATASETS ("gsm8k math500"), AGENTS (the eight agents,
# space-separated), PYTHON. A rerun resumes every configuration.
# It ends by writing the report of the suite: $RESULTS_DIR/<round>_report.html.
set -euo pipefail
COUNT="${1:-40}"
BATCH_SIZE="${2:-1}"
INFERENCE_BACKEND="${3:-transformers}"
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
MODEL="${MODEL:-smollm2-135m}"
ROUND="${ROUND:-full_eval}"
NUM_RUNS="${NUM_RUNS:-4}"
MAX_NEW_TOKENS="${MAX_NEW_TOKENS:-1024}"
RESULTS_DIR="${RESULTS_DIR:-results}"
DATA_DIR="${DATA_DIR:-${MATHEVAL_DATA_DIR:-$( [ -d ../shared/data ] && echo ../shared/data || true )}}"
COMMON=(--model "$MODEL" --round "$ROUND" --count "$COUNT" --batch_size "$BATCH_SIZE"
        --inference_backend "$INFERENCE_BACKEND" --max_new_tokens "$MAX_NEW_TOKENS" --results_dir "$RESULTS_DIR")
[ -n "$DATA_DIR" ] && COMMON+=(--data_dir "$DATA_DIR")
read -r -a DATASETS <<< "${DATASETS:-gsm8k math500}"
read -r -a AGENTS <<< "${AGENTS:-majority_vote best_of_n self_refine progressive_hint debate tree_search program_of_thoughts tool_integrated}"

started=$(date +%s)
for DATASET in "${DATASETS[@]}"; do
    echo "== $DATASET: standard"
    "$PYTHON" -m evaluation.eval "${COMMON[@]}" --dataset "$DATASET" --mode standard --detailed false
    for AGENT in "${AGENTS[@]}"; do
        echo "== $DATASET: $AGENT"
        "$PYTHON" -m evaluation.eval_agent "${COMMON[@]}" --dataset "$DATASET" --agent "$AGENT" \
            --num_runs "$NUM_RUNS" --batch_size "$BATCH_SIZE" --inference_backend "$INFERENCE_BACKEND"
    done
done
echo "suite finished in $(( $(date +%s) - started )) s"
# The report of this suite: every run folder of this round and count (a folder glob ending in / matches folders only).
"$PYTHON" -m matheval report "$RESULTS_DIR/${ROUND}_"*"_${COUNT}_"[0-9][0-9][0-9][0-9]/ -o "$RESULTS_DIR/${ROUND}_report.html"
