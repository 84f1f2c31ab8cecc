#!/usr/bin/env bash
# The deterministic mode on a GPU (issue 18): identical texts at --concurrency 512 vs 4, greedy and seeded,
# on the Qwen2.5-1.5B shape (random bf16 weights) and the real SmolLM2-135M; the mode's speed against the
# default on `throughput` and agents; transformers bf16 vs fp32 at batch 32 vs 4; the kernels' bits and speed.
#
#   1. here:   bash benchmarks/run_determinism_gpu.sh prepare
#              .carry/bench (GSM8K + SmolLM2's tokenizer, via run_gpu.sh prepare), .whl/gguf-*.whl (to convert
#              the GGUF there), and the packaged SmolLM2 GGUF (98 MB; a call carries 64 MiB) split in two:
#              .carry/smollm2-a and .carry/smollm2-b, with its sha256.
#   2. device: two calls back to back (the machine stays warm 30 s after a call; part a waits in /root):
#              run(kind="nvidia-h200", timeout_s=300, carry=[".carry/bench", ".carry/smollm2-a", ".whl"],
#                  command="bash benchmarks/run_determinism_gpu.sh stage1")     # ~1.5 min: part a + the kernel probe
#              run(kind="nvidia-h200", timeout_s=600, carry=[".carry/bench", ".carry/smollm2-b", ".whl"],
#                  command="bash benchmarks/run_determinism_gpu.sh run")        # <= 9 min: everything else
#              With only the second call (a fresh machine), `run` measures the 1.5B shape and says that the
#              SmolLM2 part is skipped; SMOLLM2_GGUF=/path/to/file.gguf there names a GGUF brought another way.
#   3. here:   bash benchmarks/run_determinism_gpu.sh collect <files_at of each call>
#              JSON and logs -> benchmarks/results/, blocks gpu-det and gpu-det-smollm2 -> benchmarks/history/<date>.md
#              (matheval.bench.record prints their summary for the page, benchmarks/RESULTS.md).
#
# $OUT gets at most 7 files: log.txt, probe.json, RESULTS.md, results/<date>-<gpu>-{det-identity,det-throughput,
# det-agents,smollm2-identity}.json.
set -uo pipefail
cd "$(dirname "$0")/.."
. benchmarks/smollm2_parts.sh
step="${1:-run}"
[ $# -gt 0 ] && shift
OUT="${OUT:-/tmp/det-out}"
PART_DIR="${DET_PART_DIR:-/root/matheval-smollm2}"  # where stage1 leaves part a for the next call
BUDGET="${DET_BUDGET:-540}"        # seconds for `run`, all included
# The CPU rehearsal of this script (tiny shapes, Triton interpreter) sets these; the GPU run leaves them unset.
DUMMY="${DET_DUMMY_CONFIG:-benchmarks/configs/qwen2.5-1.5b.json}"
SCALE="${DET_SCALE:-full}"
read -r -a BENCH_ARGS <<< "${DET_BENCH_ARGS:-}"
read -r -a PROBE_ARGS <<< "${DET_PROBE_ARGS:-}"
START=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
log() { echo "[det $(( $(date +%s) - START ))s] $*" | tee -a "$OUT/log.txt"; }

setup_device() {
    mkdir -p "$OUT/results"
    export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false MATHEVAL_DATA_DIR="$PWD/.carry/bench/data"
    [ -n "${DET_PROBE_ARGS:-}" ] || unset TRITON_INTERPRET
    [ -f .carry/bench/tokenizer/tokenizer.json ] || { echo "no .carry/bench: run 'bash $0 prepare' first and carry it" >&2; exit 2; }
    { nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true; } 2>&1 | tee -a "$OUT/log.txt"
    python3 -c 'import torch, triton, transformers; print("torch", torch.__version__, "triton", triton.__version__, "transformers", transformers.__version__)' 2>&1 | tee -a "$OUT/log.txt"
}

probe() {  # $1: seconds of timing at most
    log "kernel probe (bits and speed), up to $1 s of timing"
    timeout -k 10 $(( $1 + 120 )) python3 benchmarks/determinism_probe.py --out "$OUT/probe.json" --deadline "$1" "${PROBE_ARGS[@]}" 2>&1 | tee -a "$OUT/log.txt"
    [ "${PIPESTATUS[0]}" = 0 ] && touch "$PART_DIR/.probed"
}

smollm2_gguf() {  # prints the path of a complete GGUF, or nothing
    if [ -n "${SMOLLM2_GGUF:-}" ] && [ -f "$SMOLLM2_GGUF" ]; then echo "$SMOLLM2_GGUF"; return; fi
    join_smollm2_parts "$PART_DIR"
}

case "$step" in
prepare)
    bash benchmarks/run_gpu.sh prepare || exit 2
    PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
    GGUF="$("$PYTHON" -c 'from matheval.models import smollm2_gguf; print(smollm2_gguf())')" || exit 2
    rm -rf .carry/smollm2-a .carry/smollm2-b && mkdir -p .carry/smollm2-a .carry/smollm2-b .whl
    head -c 50000000 "$GGUF" > .carry/smollm2-a/part-a
    tail -c +50000001 "$GGUF" > .carry/smollm2-b/part-b
    sha256sum "$GGUF" | cut -d' ' -f1 > .carry/smollm2-b/SHA256
    rm -f .whl/gguf-*.whl
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux2014_x86_64 --platform any -d .whl "gguf==$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("gguf"))')" || exit 2
    for path in .carry/smollm2-a .carry/smollm2-b .whl; do
        git check-ignore -q "$path" || echo "warning: $path is not ignored by git; the device tool carries only ignored paths named in carry" >&2
    done
    du -sh .carry/bench .carry/smollm2-a .carry/smollm2-b .whl
    echo "next: the two device calls in the header of $0"
    ;;
stage1)
    setup_device
    mkdir -p "$PART_DIR"
    if [ -f .carry/smollm2-a/part-a ]; then cp .carry/smollm2-a/part-a "$PART_DIR/part-a" && log "part a of the GGUF kept in $PART_DIR"; fi
    probe "${PROBE_S:-60}"
    ;;
run)
    setup_device
    mkdir -p "$PART_DIR"
    cp benchmarks/RESULTS.md "$OUT/RESULTS.md" 2>/dev/null || true
    if ls .whl/gguf-*.whl >/dev/null 2>&1; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/gguf-*.whl \
            && export PYTHONPATH=/tmp/site
    fi
    GGUF="$(smollm2_gguf)"
    if [ -n "$GGUF" ]; then  # converted on the CPU while the GPU measures the 1.5B shape
        log "converting $GGUF"
        ( python3 -c "import sys; from pathlib import Path; from matheval.models import convert_gguf; convert_gguf(Path(sys.argv[1]), Path('/tmp/smollm2-135m'))" "$GGUF" > /tmp/convert.log 2>&1 ) &
        CONVERT=$!
    else
        log "no SmolLM2 GGUF here (stage1 not run on this machine, SMOLLM2_GGUF unset): its part is skipped"
    fi
    [ -f "$PART_DIR/.probed" ] || probe "${PROBE_S:-30}"
    reserve=$([ -n "$GGUF" ] && echo 190 || echo 10)
    deadline=$(( $(left) - reserve ))
    log "1.5B shape: native-det, native, native-det-eager (bench deadline ${deadline} s)"
    timeout -k 10 $(( deadline + 30 )) python3 -m matheval bench \
        --dummy_config "$DUMMY" --tokenizer .carry/bench/tokenizer --scale "$SCALE" "${BENCH_ARGS[@]}" \
        --workload identity,throughput,agents --configs "native-det:identity+throughput+agents,native:throughput+agents+identity,native-det-eager:identity" \
        --deadline "$deadline" --out "$OUT/results" --results_md "$OUT/RESULTS.md" --block gpu-det --tag det --work_dir /tmp \
        2>&1 | tee -a "$OUT/log.txt"
    log "1.5B bench exited with ${PIPESTATUS[0]}"
    if [ -n "$GGUF" ]; then
        wait "$CONVERT"; status=$?
        cat /tmp/convert.log >> "$OUT/log.txt"
        if [ "$status" = 0 ] && [ -f /tmp/smollm2-135m/config.json ]; then
            deadline=$(( $(left) - 15 ))
            log "SmolLM2-135M (real weights): native-det, native, tf-b32 bf16 and fp32 (bench deadline ${deadline} s)"
            timeout -k 10 $(( deadline + 30 )) python3 -m matheval bench --model /tmp/smollm2-135m --scale "$SCALE" "${BENCH_ARGS[@]}" \
                --workload identity --configs native-det,native,tf-b32,tf-b32-fp32 --deadline "$deadline" \
                --out "$OUT/results" --results_md "$OUT/RESULTS.md" --block gpu-det-smollm2 --tag smollm2 --work_dir /tmp \
                2>&1 | tee -a "$OUT/log.txt"
            log "SmolLM2 bench exited with ${PIPESTATUS[0]}"
        else
            log "the GGUF conversion failed (exit $status): see the log above"
        fi
    fi
    log "files under $OUT:"; find "$OUT" -type f | tee -a "$OUT/log.txt"
    ;;
collect)
    [ $# -ge 1 ] || { echo "usage: bash $0 collect <files_at> [<files_at of the other call>]" >&2; exit 2; }
    PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
    mkdir -p benchmarks/results
    for FROM in "$@"; do
        cp "$FROM"/results/*.json benchmarks/results/ 2>/dev/null || true
        [ -f "$FROM/probe.json" ] && cp "$FROM/probe.json" "benchmarks/results/$(date +%F)-gpu-det-probe.json"
        [ -f "$FROM/log.txt" ] && cat "$FROM/log.txt" >> "benchmarks/results/$(date +%F)-gpu-det.log"
        [ -f "$FROM/RESULTS.md" ] || continue
        for name in gpu-det gpu-det-smollm2; do  # the tables go to history/<date>.md; the page is edited by hand
            grep -q "bench:$name:start" "$FROM/RESULTS.md" && "$PYTHON" -m matheval.bench.record "$FROM/RESULTS.md" "$name"
        done
    done
    ls benchmarks/results/ | tail
    ;;
*)
    echo "usage: bash $0 [prepare | stage1 | run | collect <folder>...]" >&2
    exit 2
    ;;
esac
