"""The native engine's parts on the GPU, beside same-run transformers baselines: the jobs of
benchmarks/native/, run in one process, written to one JSON file, with a summary table last.

    python3 benchmarks/native_throughput.py --out /tmp/nt                            # GPU: every default job
    python3 benchmarks/native_throughput.py --variants graphs --skip kernels,fused,agreement,hf_static \\
        --prefill_probe --split_sweep --sampler_sweep --out /tmp/nt                  # the engine's parts only
    python3 benchmarks/native_throughput.py --device cpu --tiny --num-seqs 8 --out /tmp/nt   # CPU dry run

Jobs, in order (each can be switched off or on): the attention kernels against the torch path (`kernels`),
the fused element-wise kernels and the sampler against torch (`fused`), `--split_sweep`, `--sampler_sweep`,
engine variants on the `throughput` workload (`--variants`; with CUDA graphs, captured decode steps timed,
`--profile`, `--prefill_probe`), greedy agreement with transformers on the same weights (`agreement`), one
static transformers batch of the workload (`hf_static`). The GPU-only jobs are skipped on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout, installed or not

from benchmarks.native import attention, elementwise, engine_runs, log, reference, sampling  # noqa: E402
from matheval.engines.native.config import ModelConfig  # noqa: E402

TINY = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-6, "rope_theta": 1e6, "tie_word_embeddings": True}  # fmt: skip
DECODE_SHAPES = ((256, 1100), (208, 1500), (160, 3000), (80, 2000), (32, 1500))  # (batch, context) of the timed steps
PREFILL_SHAPES = ((16, 12, 160, True, 30), (10, 550, 3000, True, 30), (4, 400, 0, False, 0), (32, 300, 0, False, 0))
T0 = time.perf_counter()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(HERE / "configs" / "qwen2.5-1.5b.json"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="a two-layer model (dry runs on the CPU)")
    parser.add_argument("--num-seqs", type=int, default=256)
    parser.add_argument("--low", type=int, default=100)
    parser.add_argument("--high", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default="graphs,eager,graphs_bt32k",
                        help=f"comma list of {', '.join(engine_runs.VARIANTS)}")
    parser.add_argument("--skip", default="", help="comma list: kernels,fused,agreement,hf_static")
    parser.add_argument("--bandwidth", type=float, default=3.0e12, help="bytes/s for the floor (anchors: 3 TB/s)")
    parser.add_argument("--matmul", type=float, default=800e12, help="FLOP/s for the floor (anchors: 800 TFLOP/s)")
    parser.add_argument("--out", default=os.environ.get("OUT", "/tmp/native_bench"))
    parser.add_argument("--sweep", action="store_true", help="sweep the attention kernels' tile settings")
    parser.add_argument("--profile", action="store_true", help="print the kernels of one decode step by GPU time")
    parser.add_argument("--prefill_probe", action="store_true", help="host vs GPU time of prefill launches (cProfile)")
    parser.add_argument("--split_sweep", action="store_true", help="decode attention with its context split 1-16 ways")
    parser.add_argument("--sampler_sweep", action="store_true", help="sampling kernels at several chunks and warps")
    parser.add_argument("--deadline", type=float, default=1e9, help="seconds; the transformers baseline needs ~220")
    return parser.parse_args()


def environment(device: str) -> dict:
    env = {"python": platform.python_version(), "torch": torch.__version__}
    try:
        import transformers
        import triton

        env.update(transformers=transformers.__version__, triton=triton.__version__)
    except ImportError:
        pass
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, sms=props.multi_processor_count, memory_gb=round(props.total_memory / 2**30, 1))
    return env


def kernel_jobs(args, skip: set, model_config: ModelConfig, results: dict) -> None:
    """The GPU-only jobs that time kernels on random data (no engine)."""
    if args.device != "cuda":
        return
    if "kernels" not in skip:
        results["kernels"] = {}
        attention.kernel_check(results["kernels"], sweep_tiles=args.sweep)
    if "fused" not in skip:
        results["fused"] = {}
        try:
            elementwise.fused_check(results["fused"], model_config)
        except Exception:  # noqa: BLE001 - the engine numbers still matter
            traceback.print_exc()
    if args.split_sweep:
        results["decode_split_sweep"] = attention.decode_split_sweep(model_config)
        for row in results["decode_split_sweep"]:
            log("decode split:", json.dumps(row))
    if args.sampler_sweep:
        results["sampler_sweep"] = sampling.sampler_sweep(model_config)


def variant_row(args, config_path: str, name: str, prompts, out_lens):
    """One engine variant on the workload, and (with CUDA graphs) its parts timed in place."""
    engine, row = engine_runs.run_engine(config_path, engine_runs.VARIANTS[name], prompts, out_lens, args.device)
    if args.device == "cuda" and engine.core.runner.graphs:
        row["decode_step"] = [engine_runs.decode_step_time(engine, b, c) for b, c in DECODE_SHAPES]
        if args.profile:
            row["decode_profile_256x1100"] = engine_runs.decode_profile(engine, 256, 1100)
            log(row["decode_profile_256x1100"])
        if args.prefill_probe:
            row["prefill_launch"] = [engine_runs.prefill_launch(engine, *shape) for shape in PREFILL_SHAPES]
            for probe in row["prefill_launch"]:
                log("prefill launch:", json.dumps({k: v for k, v in probe.items() if k != "profile"}))
                log(probe.get("profile", ""))
    return engine, row


def main() -> None:
    args = parse_args()
    skip = set(filter(None, args.skip.split(",")))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_file = out_dir / "native_throughput.json"
    config_path = args.config
    if args.tiny:
        config_path = str(out_dir / "tiny.json")
        Path(config_path).write_text(json.dumps(TINY))
    model_config = ModelConfig.load(config_path)
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "config": Path(args.config).name, "args": vars(args),
               "env": environment(args.device)}
    log("env:", json.dumps(results["env"]))
    kernel_jobs(args, skip, model_config, results)

    hf = None
    if not {"agreement", "hf_static"} <= skip:  # first, so that the engines size their KV caches around it
        hf = reference.hf_model_from_config(config_path, args.device,
                                            torch.bfloat16 if args.device == "cuda" else torch.float32)
    prompts, out_lens = engine_runs.workload(args.num_seqs, args.low, args.high, model_config.vocab_size, args.seed)
    in_lens = [len(p) for p in prompts]
    engine = None
    results["variants"] = {}
    for name in filter(None, args.variants.split(",")):
        if engine is not None:
            engine.close()
        try:
            engine, row = variant_row(args, config_path, name, prompts, out_lens)
        except Exception:  # noqa: BLE001 - one broken variant must not cost the others
            traceback.print_exc()
            engine, row = None, {"error": traceback.format_exc()[-2000:], "tok_s": 0.0}
        results["variants"][name] = row
        log(f"variant {name}:", json.dumps(row))
        out_file.write_text(json.dumps(results, indent=1))
    floor = engine_runs.floor(config_path, in_lens, out_lens, args.bandwidth, args.matmul,
                              2 if args.device == "cuda" else 4)
    results["workload"] = {"num_seqs": args.num_seqs, "useful_tokens": sum(out_lens), "prompt_tokens": sum(in_lens),
                           "roofline": floor, "params": floor["params"]}  # fmt: skip
    log("workload:", json.dumps(results["workload"]))

    if "agreement" not in skip and engine is not None:
        try:
            results["agreement"] = reference.agreement(engine, hf, [p[:200] for p in prompts[:4]], 64, args.device)
            log("agreement:", json.dumps(results["agreement"]))
        except Exception:  # noqa: BLE001
            traceback.print_exc()
    if engine is not None:
        engine.close()
    if "hf_static" not in skip and time.perf_counter() - T0 > args.deadline - 220:
        log("hf_static skipped: not enough time left before the deadline")
    elif "hf_static" not in skip:
        results["hf_static"] = reference.hf_static(hf, prompts, out_lens, args.device)
        log("hf_static:", json.dumps(results["hf_static"]))
    out_file.write_text(json.dumps(results, indent=1))
    summary(results, args.bandwidth)


def summary(results: dict, bandwidth: float) -> None:
    floor = results["workload"]["roofline"]["floor_tok_s"]
    log("\n| path | output tok/s | % of floor |")
    log("| --- | --- | --- |")
    for name, row in results["variants"].items():
        log(f"| native {name} | {row['tok_s']:,.0f} | {100 * row['tok_s'] / floor:.1f}% |")
    if "hf_static" in results:
        row = results["hf_static"]
        log(f"| transformers static 256 eager | {row['tok_s']:,.0f} | {100 * row['tok_s'] / floor:.1f}% |")
    log(f"| floor ({bandwidth / 1e12:.1f} TB/s, {results['workload']['roofline']['bound']}) | {floor:,.0f} | 100% |")


if __name__ == "__main__":
    main()
