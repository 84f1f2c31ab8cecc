"""Raw JSON per workload and the markdown tables of a run.

A run's tables go between `<!-- bench:<block>:start -->` and `<!-- bench:<block>:end -->` in a markdown file
(`--results_md`: results/bench/RESULTS.md, or a dated record in benchmarks/history/); everything outside the
markers (other sections, other blocks) is left as it is, so one file can hold several runs.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

# The seed's suite: `scripts/run_full_evaluation.sh`, 2 datasets x (standard + 8 agents), 40 problems each.
SUITE_DATASETS = ("gsm8k", "math500")
SUITE_AGENTS = 8
SUITE_COUNT = 40
FALLBACK_AGENT_RATIO = 6.0  # output tokens of one agent problem / one standard answer, when none was measured
TF_B1 = "tf-b1"


# -- files --------------------------------------------------------------------------------------------------
def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    os.chmod(temporary, 0o644)  # mkstemp's files are private; these are ordinary repository files
    os.replace(temporary, path)


def json_path(out_dir: Path, run: dict, family: str) -> Path:
    tag = f"-{run['meta']['tag']}" if run["meta"].get("tag") else ""
    return out_dir / f"{run['meta']['date']}-{run['meta']['device']['slug']}{tag}-{family}.json"


def write_json(out_dir: Path, run: dict, family: str) -> Path:
    """The run's meta plus the rows, skips and floors of one workload family."""
    body = {
        "meta": run["meta"],
        "workloads": {k: v for k, v in run["workloads"].items() if v["family"] == family},
        "rows": [r for r in run["rows"] if r["family"] == family],
        "skipped": [s for s in run["skipped"] if s.get("family") in (family, None)],
    }
    if family == "gsm8k" or family == "agents":
        body["suite_estimate"] = run.get("suite")
    path = json_path(out_dir, run, family)
    write_atomic(path, json.dumps(body, indent=1, default=str) + "\n")
    return path


def replace_block(path: Path, name: str, content: str) -> None:
    """Put `content` between the block's markers, adding a section at the end if the block is new."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"{start}\n{content.rstrip()}\n{end}"
    if start in text and end in text and text.index(start) < text.index(end):
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + f"\n\n{block}\n"
    write_atomic(path, text)


# -- numbers ----------------------------------------------------------------------------------------------------
def add_speedups(rows: list[dict]) -> None:
    """speedup = this row's output tok/s / tf-b1's on the same workload (and agent run)."""
    base = {(r["workload"], r.get("agent")): r["tok_s"] for r in rows if r["config"] == TF_B1 and r.get("tok_s")}
    for row in rows:
        reference = base.get((row["workload"], row.get("agent")))
        row["speedup_vs_tf_b1"] = round(row["tok_s"] / reference, 2) if reference and row.get("tok_s") else None


def suite_estimate(run: dict) -> dict:
    """Estimated time of the seed's 18-configuration suite for each configuration (method in docs/benchmarks.md)."""
    means = run.get("suite_output_means") or {}
    if not means:
        return {}
    rows = run["rows"]
    standard = {r["config"]: r for r in rows if r["workload"].startswith("gsm8k") and r.get("tok_s")}
    agents_all = {r["config"]: r for r in rows if r["workload"] == "agents" and r.get("agent") == "agents (all)"
                  and r.get("tok_s")}
    # token ratios from the configuration that ran the most agent problems (the agents' calls are the same
    # on every engine; only the subset differs)
    agent_rows = [r for r in rows if r["workload"] == "agents" and r.get("tok_s") and r.get("tokens_per_problem")]
    source = max(agent_rows, key=lambda r: r["measured"])["config"] if agent_rows else None
    ratios = {r["agent"]: r["tokens_per_problem"] for r in agent_rows
              if r["config"] == source and r["agent"] not in ("standard", "agents (all)")}
    standard_per_problem = next((r["tokens_per_problem"] for r in agent_rows
                                 if r["config"] == source and r["agent"] == "standard"), None)
    if ratios and standard_per_problem:
        measured = {k: v / standard_per_problem for k, v in ratios.items()}
        ratio = sum(measured.values()) / len(measured)
        ratio_note = (f"agents' output tokens per problem over a standard answer's, measured on the agents "
                      f"workload ({', '.join(f'{k} {v:.1f}x' for k, v in measured.items())}); the "
                      f"{SUITE_AGENTS - len(measured)} agents not measured get their mean, {ratio:.1f}x")
    else:
        measured, ratio = {}, FALLBACK_AGENT_RATIO
        ratio_note = (f"no agent was measured (the agents are not in this checkout): each agent problem is "
                      f"assumed to cost {FALLBACK_AGENT_RATIO:.0f}x a standard answer")
    standard_tokens = SUITE_COUNT * sum(means[d] for d in SUITE_DATASETS)
    agent_tokens = standard_tokens * (sum(measured.values()) + (SUITE_AGENTS - len(measured)) * ratio)
    estimates = {}
    for config, row in standard.items():
        agent_row = agents_all.get(config)
        agent_rate = agent_row["tok_s"] if agent_row else row["tok_s"]
        seconds = standard_tokens / row["tok_s"] + agent_tokens / agent_rate
        estimates[config] = {"seconds": round(seconds, 1), "standard_rate": row["tok_s"],
                             "agent_rate": agent_rate, "agent_rate_measured": agent_row is not None,
                             "rate_from": row["workload"]}
    base = estimates.get(TF_B1, {}).get("seconds")
    for value in estimates.values():
        value["speedup"] = round(base / value["seconds"], 1) if base else None
    return {"standard_tokens": round(standard_tokens), "agent_tokens": round(agent_tokens), "agent_ratio_note":
            ratio_note, "output_means": means, "configs": estimates}


# -- markdown ---------------------------------------------------------------------------------------------------
def _tok(value) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _params(count: int) -> str:
    return f"{count / 1e9:.2f} B" if count >= 1e9 else f"{count / 1e6:.1f} M"


def _bytes(value: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if value >= size:
            return f"{value / size:.2f} {unit}"
    return f"{value:.0f} B"


def _flops(value: float) -> str:
    for unit, size in (("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.0f} FLOP"


def _dur(seconds) -> str:
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _cell(row: dict | None, text: str) -> str:
    if row is None:
        return "–"
    if row.get("error"):
        return "error"
    return text + (" †" if row.get("extrapolated") else "")


def render(run: dict) -> str:
    meta, rows = run["meta"], [r for r in run["rows"] if not r.get("error")]
    device, v, ceil = meta["device"], meta["versions"], meta["ceilings"]
    gpu = device["device"].startswith("cuda")
    workloads = [w for w in run["workloads"]]
    configs = list(dict.fromkeys(r["config"] for r in run["rows"]))
    by = {(r["config"], r["workload"]): r for r in rows if r.get("agent") in (None, "agents (all)")}
    lines = [
        f"**{device['name']}**, {meta['date']} · commit `{meta.get('commit') or '–'}` · model: "
        f"{meta['model']['display']} ({_params(meta['model']['params'])} parameters, {meta['dtype']}) · scale "
        f"`{meta['scale']}` · "
        f"`{meta['command']}`",
        "",
        f"torch {v['torch']}, transformers {v['transformers']}, triton {v['triton'] or '–'}, "
        f"CUDA {v['cuda'] or '–'}, "
        f"driver {device.get('driver') or '–'}, Python {v['python']}. Measured at the start: copy "
        f"{ceil['copy_TB_s']} TB/s (read + write), matmul {ceil['matmul_TFLOP_s']} TFLOP/s.",
        "Output tokens are forced (EOS disabled): useful tokens = the sum of each sequence's own length. "
        "† = measured on a subset (see the last table) and extrapolated at the subset's rate. "
        "Method and columns: docs/benchmarks.md.",
    ]
    if not gpu:
        lines.append(f"**CPU run at `{meta['scale']}` scale on {device['cpu_count']} shared cores: it shows the code "
                     "path and the table format, not performance, and is not comparable to GPU numbers (the "
                     "ceilings are measured on a busy machine, so % of floor can even pass 100%).**")
    lines += ["", "#### Output tokens/s, speedup over tf-b1 and % of the roofline floor", "",
              "| config | " + " | ".join(workloads) + " |", "| --- |" + " --- |" * len(workloads)]
    for config in configs:
        cells = []
        for w in workloads:
            row = by.get((config, w))
            text = f"{_tok(row and row['tok_s'])}" if row else ""
            if row and row.get("speedup_vs_tf_b1") and config != TF_B1:
                text += f" ({row['speedup_vs_tf_b1']:,.1f}x)"
            if row and row.get("pct_of_floor") is not None:
                text += f", {row['pct_of_floor']:.1f}%"
            cells.append(_cell(row, text))
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    floors = [run["workloads"][w].get("floor") or {} for w in workloads]
    lines.append("| floor | " + " | ".join(f"{_tok(f.get('floor_tok_s'))} ({f.get('bound', '–')})" for f in floors)
                 + " |")
    lines += ["", "#### GPU utilization (mean of nvidia-smi samples every 200 ms) and peak GPU memory", ""]
    if not gpu:
        lines.append("No GPU in this run: nvidia-smi is absent, so there is no utilization or GPU memory to report.")
    else:
        lines += ["| config | " + " | ".join(workloads) + " |", "| --- |" + " --- |" * len(workloads)]
        for config in configs:
            cells = []
            for w in workloads:
                row = by.get((config, w))
                util = row and row.get("gpu_util_mean")
                cells.append(_cell(row, f"{util:.0f}% · {row['peak_gpu_GB']} GB" if row and util is not None
                                   else (f"– · {row['peak_gpu_GB']} GB" if row else "")))
            lines.append(f"| {config} | " + " | ".join(cells) + " |")
    lines += _gsm8k_table(run, by, configs)
    lines += _suite_table(run)
    lines += _agents_table(run)
    lines += _reasoning_table(run)
    lines += ["", "#### Roofline floors (per workload)", "",
              "| workload | sequences | output tokens | decode steps | weights read per step | KV read per step "
              "(mean) | FLOPs per token | floor | bound |", "| --- |" + " --- |" * 8]
    for w in workloads:
        f = run["workloads"][w].get("floor") or {}
        if not f:
            continue
        lines.append(f"| {w} | {run['workloads'][w]['size']} | {f['output_tokens']:,} | {f['decode_steps']:,} | "
                     f"{_bytes(f['weight_bytes_per_step'])} | {_bytes(f['kv_bytes_per_step'])} | "
                     f"{_flops(f['flops_per_token'])} | {_dur(f['floor_s'])} = {_tok(f['floor_tok_s'])} tok/s | "
                     f"{f['bound']} |")
    lines += ["", "#### Every measurement", "",
              "| config | workload | measured on | wall | output tok/s | problems/s | % of floor | peak GPU mem | "
              "GPU util | mean batch |", "| --- |" + " --- |" * 9]
    for r in run["rows"]:
        name = r["workload"] + (f" / {r['agent']}" if r.get("agent") else "")
        if r.get("error"):
            lines.append(f"| {r['config']} | {name} | error: {r['error'].splitlines()[-1][:120]} |" + " |" * 7)
            continue
        measured = f"{r['measured']} of {r['total']} {r['unit']}s" + (" (extrapolated)" if r.get("extrapolated") else "")
        util = r.get("gpu_util_mean")
        lines.append(f"| {r['config']} | {name} | {measured} | {_dur(r['wall_s'])} | {_tok(r['tok_s'])} | "
                     f"{r['problems_per_s']:.3g} | {r['pct_of_floor'] if r.get('pct_of_floor') is not None else '–'}"
                     f"{'%' if r.get('pct_of_floor') is not None else ''} | "
                     f"{r['peak_gpu_GB'] if r.get('peak_gpu_GB') is not None else '–'} | "
                     f"{f'{util:.0f}%' if util is not None else '–'} | {r.get('mean_batch') or '–'} |")
    notes = dict.fromkeys(f"{r['config']}: {r['note']}" for r in run["rows"] if r.get("note"))
    if notes:
        lines += ["", "Notes:"] + [f"- {note}" for note in notes]
    if run["skipped"]:
        grouped: dict[tuple, list[str]] = {}
        for skip in run["skipped"]:
            where = skip.get("workload") or ""
            grouped.setdefault((where, skip["reason"]), [])
            if skip["config"] not in grouped[(where, skip["reason"])]:
                grouped[(where, skip["reason"])].append(skip["config"])
        lines += ["", "Not measured:"]
        lines += [f"- {', '.join(configs)}{' / ' + where if where else ''}: {reason}"
                  for (where, reason), configs in grouped.items()]
    return "\n".join(lines) + "\n"


def _gsm8k_table(run: dict, by: dict, configs: list[str]) -> list[str]:
    names = [w for w in run["workloads"] if w.startswith("gsm8k-")]
    if not names:
        return []
    small, large = names[0], names[-1]
    small_n, large_n = run["workloads"][small]["size"], run["workloads"][large]["size"]
    lines = ["", f"#### GSM8K {small_n} samples (the seed's table), and all {large_n}", "",
             f"Wall time of the `standard` evaluation, all requests sent at once; the {large_n}-problem time is "
             f"measured for full runs and otherwise extrapolated from the {small_n}-problem rate.", "",
             f"| configuration | time for {small_n} | problems/s | speedup | time for {large_n} |",
             "| --- | --- | --- | --- | --- |"]
    useful_large = run["workloads"][large]["useful_tokens"]
    for config in configs:
        row = by.get((config, small))
        if row is None:
            continue
        big = by.get((config, large))
        big_time = big["full_wall_s"] if big else useful_large / row["tok_s"]
        lines.append(f"| {config} | {_cell(row, _dur(row['full_wall_s']))} | {row['full_problems_per_s']:.3g} | "
                     f"{row['speedup_vs_tf_b1'] or '–'}{'x' if row.get('speedup_vs_tf_b1') else ''} | "
                     f"{_dur(big_time)}{'' if big and not big.get('extrapolated') else ' †'} |")
    return lines


def _suite_table(run: dict) -> list[str]:
    suite = run.get("suite") or {}
    if not suite.get("configs"):
        return []
    lines = ["", f"#### Full evaluation ({SUITE_COUNT} samples x 18 configs), estimated", "",
             f"Not run: estimated from the measured rates. Output tokens: {SUITE_COUNT} problems x (GSM8K "
             f"{suite['output_means']['gsm8k']:.0f} + MATH-500 {suite['output_means']['math500']:.0f} tokens per "
             f"standard answer) = {suite['standard_tokens']:,} for the two base evaluations, and {suite['agent_tokens']:,} "
             f"for the 16 agent evaluations ({suite['agent_ratio_note']}). Time = standard tokens / the config's gsm8k "
             "rate + agent tokens / its agents rate (its gsm8k rate, marked ≈, where the agents were not measured).",
             "", "| configuration | estimated time | speedup |", "| --- | --- | --- |"]
    for config, value in suite["configs"].items():
        mark = "" if value["agent_rate_measured"] else " ≈"
        lines.append(f"| {config} | {_dur(value['seconds'])}{mark} | "
                     f"{str(value['speedup']) + 'x' if value['speedup'] else '–'} |")
    return lines


def _agents_table(run: dict) -> list[str]:
    rows = [r for r in run["rows"] if r["workload"] == "agents" and r.get("agent") and not r.get("error")]
    if not rows:
        return []
    lines = ["", "#### Agents workload (per agent)", "",
             "| config | agent | problems/s | output tok/s | calls per problem | output tokens per problem | "
             "mean batch |", "| --- |" + " --- |" * 6]
    for r in rows:
        lines.append(f"| {r['config']} | {r['agent']} | {r['problems_per_s']:.3g} | {_tok(r['tok_s'])} | "
                     f"{r.get('calls_per_problem', '–')} | {r.get('tokens_per_problem', '–')} | "
                     f"{r.get('mean_batch') or '–'} |")
    return lines


def _reasoning_table(run: dict) -> list[str]:
    rows = [r for r in run["rows"] if r["family"] == "reasoning" and not r.get("error")]
    if not rows:
        return []
    lines = ["", "#### Reasoning workload: long sampled traces in a short KV cache", "",
             "The floor here is the measured sequences' own (weights and K/V each decode step reads, summed over "
             "the run, at the copy rate); recomputing preempted sequences is work the floor does not count.", "",
             "| config | measured | output tok/s | floor tok/s | % of floor | preemptions | K/V tokens preempted | "
             "prefill tokens | mean batch |", "| --- |" + " --- |" * 8]
    for r in rows:
        engine = r.get("engine") or {}
        lines.append(f"| {r['config']} | {r['measured']} of {r['total']} sequences | {_tok(r['tok_s'])} | "
                     f"{_tok(r.get('floor_tok_s'))} | {r.get('pct_of_floor', '–')}% | "
                     f"{_tok(engine.get('native_preemptions'))} | {_tok(engine.get('native_preempted_tokens'))} | "
                     f"{_tok(engine.get('native_prefill_tokens'))} | {r.get('mean_batch') or '–'} |")
    return lines
