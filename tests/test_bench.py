"""`matheval bench` on the CPU at tiny scale: the real code paths (engines, workloads, agents, report),
checked for consistency rather than speed; the roofline arithmetic against a hand computation; where runs
are written and how one is put on record; the native engine's diagnostics (benchmarks/native_throughput.py)
as a CPU dry run; and the links that lead from README and docs to the results page and its history."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from matheval.bench.record import main as record_main
from matheval.bench.record import record
from matheval.bench.report import replace_block
from matheval.bench.roofline import Ceilings, ModelShape, workload_floor
from matheval.cli import main

REPO = Path(__file__).resolve().parent.parent
QWEN_15B = REPO / "benchmarks" / "configs" / "qwen2.5-1.5b.json"
TINY = REPO / "benchmarks" / "configs" / "tiny-qwen2.json"
FAMILIES = ("throughput", "short", "gsm8k", "agents")

OTHER_SECTIONS = """# Benchmark results

## CPU backends
a table another helper wrote

<!-- bench:cpu:start -->
an old CPU block
<!-- bench:cpu:end -->

## Agent batching efficiency
another table

<!-- bench:gpu:start -->
pending GPU block
<!-- bench:gpu:end -->
"""


def bench(tmp_path: Path, *args: str) -> dict[str, dict]:
    """Run the CLI as a user would; return the JSON files it wrote, by workload family."""
    code = main(["bench", "--scale", "tiny", "--device", "cpu", "--out", str(tmp_path / "results"),
                 "--results_md", str(tmp_path / "RESULTS.md"), *args])
    assert code == 0
    found = {}
    for family in FAMILIES:
        path = tmp_path / "results" / f"{date.today().isoformat()}-cpu-{family}.json"
        if path.exists():
            found[family] = json.loads(path.read_text())
    return found


# -- the roofline, by hand ------------------------------------------------------------------------------------
def test_qwen25_15b_weights_and_kv_bytes_match_the_hand_computation():
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    shape = ModelShape.load(QWEN_15B)
    hidden, inter, layers, vocab, q, kv = 1536, 8960, 28, 151936, 12 * 128, 2 * 128
    per_layer = hidden * q + q + 2 * (hidden * kv + kv) + q * hidden + 3 * hidden * inter + 2 * hidden
    assert shape.params == vocab * hidden + layers * per_layer + hidden == 1_543_714_304
    with torch.device("meta"):  # and what transformers builds from the same config
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(QWEN_15B)))
    assert shape.params == sum(p.numel() for p in model.parameters())
    assert shape.params * 2 / 1e9 == pytest.approx(3.09, abs=0.01)  # "3.1 GB of weights" in bf16
    assert shape.kv_bytes_per_token(2) == 28 * 2 * 2 * 128 * 2 == 28_672  # "28 KB per token of context"
    assert shape.params_read_per_step == shape.params  # tied embeddings: the lm_head reads them all


def test_floor_of_two_sequences_by_hand():
    shape = ModelShape.load(QWEN_15B)
    ceilings = Ceilings(copy_bytes_per_s=3e12, matmul_flops_per_s=800e12)
    floor = workload_floor(shape, [100, 200], [10, 20], 2, ceilings)
    kv_bytes = 28_672 * ((100 * 10 + 10 * 9 // 2) + (200 * 20 + 20 * 19 // 2))
    memory_s = (20 * 1_543_714_304 * 2 + kv_bytes) / 3e12  # 20 steps: the longer sequence's output
    assert floor["decode_steps"] == 20
    assert floor["memory_floor_s"] == pytest.approx(memory_s, rel=1e-3)
    assert floor["bound"] == "memory"
    assert floor["floor_tok_s"] == pytest.approx(30 / memory_s, rel=1e-3)
    layers, head, attention = shape.layers * shape.layer_params, 151936 * 1536, 4 * 28 * 12 * 128
    flops = sum(p * (2 * layers + attention * p / 2) + o * (2 * (layers + head) + attention * (p + o / 2))
                for p, o in ((100, 10), (200, 20)))
    assert floor["compute_floor_s"] == pytest.approx(flops / 800e12, rel=1e-3)


def test_throughput_workload_floor_matches_the_native_notes():
    """The first session's notes (benchmarks/history/2026-11-23.md): our draw (default_rng(0)) has 148,756 output
    tokens and a floor of 62.7k tok/s at 3 TB/s."""
    rng = np.random.default_rng(0)
    prompts, outputs = rng.integers(100, 1025, 256).tolist(), rng.integers(100, 1025, 256).tolist()
    floor = workload_floor(ModelShape.load(QWEN_15B), prompts, outputs, 2, Ceilings(3.0e12, 800e12))
    assert floor["output_tokens"] == 148_756
    assert floor["decode_steps"] == 1021
    assert floor["kv_TB"] == pytest.approx(3.96, abs=0.01)
    assert floor["floor_tok_s"] == pytest.approx(62_700, rel=0.005)


# -- RESULTS.md blocks ----------------------------------------------------------------------------------------
def test_replace_block_keeps_everything_else(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(OTHER_SECTIONS)
    replace_block(path, "cpu", "new CPU table")
    replace_block(path, "cpu", "newer CPU table")
    text = path.read_text()
    assert text == OTHER_SECTIONS.replace("an old CPU block", "newer CPU table")
    replace_block(path, "h200", "a new device")
    assert path.read_text().startswith(text.rstrip()) and "<!-- bench:h200:end -->" in path.read_text()


# -- the whole command ---------------------------------------------------------------------------------------------
def test_bench_tiny_end_to_end(tmp_path, data_dir):
    (tmp_path / "RESULTS.md").write_text(OTHER_SECTIONS)
    found = bench(tmp_path, "--dummy_config", str(TINY), "--configs", "tf-b1,tf-b4,native")
    assert set(found) == set(FAMILIES)

    text = (tmp_path / "RESULTS.md").read_text()
    assert "an old CPU block" not in text and "pending GPU block" in text
    assert "a table another helper wrote" in text and "## Agent batching efficiency" in text
    assert "CPU run at `tiny` scale" in text and "tf-b4" in text and "#### GSM8K 4 samples" in text

    rows = [r for f in found.values() for r in f["rows"]]
    assert not [r for r in rows if r.get("error")]
    workloads = {name: w for f in found.values() for name, w in f["workloads"].items()}
    batch_rows = [r for r in rows if r["family"] != "agents"]
    assert {(r["config"], r["workload"]) for r in batch_rows} == {
        (c, w) for c in ("tf-b1", "tf-b4", "native") for w in ("throughput", "short", "gsm8k-4", "gsm8k-8")}
    base = {r["workload"]: r["tok_s"] for r in batch_rows if r["config"] == "tf-b1"}
    for row in batch_rows:
        workload = workloads[row["workload"]]
        assert row["tok_s"] > 0 and row["wall_s"] > 0 and row["problems_per_s"] > 0
        assert row["forced_lengths_ok"] and row["prompt_tokens_ok"] and row["useful_tokens"] == row["expected_tokens"]
        assert row["tok_s"] == pytest.approx(row["useful_tokens"] / row["wall_s"], rel=0.01)
        assert row["speedup_vs_tf_b1"] == pytest.approx(row["tok_s"] / base[row["workload"]], rel=0.01)
        assert row["pct_of_floor"] == pytest.approx(100 * row["tok_s"] / workload["floor"]["floor_tok_s"], rel=0.01)
        assert row["full_wall_s"] == pytest.approx(workload["useful_tokens"] / row["tok_s"], rel=0.01)
        assert row["gpu_util_mean"] is None and "nvidia-smi is absent" in row["gpu_util_note"]
        if row["config"] == "native":  # the whole workload: useful tokens are the workload's sum
            assert not row["extrapolated"] and row["useful_tokens"] == workload["useful_tokens"]
        else:  # one static batch of the workload, extrapolated
            batch = 1 if row["config"] == "tf-b1" else 4
            expected = min(workload["size"], 2 if batch == 1 and row["family"] == "gsm8k" else batch)
            assert row["measured"] == expected and row["extrapolated"] == (expected < workload["size"])
            assert row["mean_batch"] == pytest.approx(1.0 if batch == 1 else min(4, expected))

    from matheval.agents import AGENTS

    agent_rows = {(r["config"], r["agent"]): r for r in rows if r["family"] == "agents"}
    skipped = found["agents"]["skipped"]
    for config in ("tf-b1", "tf-b4", "native"):
        standard = agent_rows[(config, "standard")]
        assert standard["forced_lengths_ok"] and standard["calls_per_problem"] == 1.0 and standard["tok_s"] > 0
        assert (config, "agents (all)") in agent_rows
        for label, name in (("majority_vote N=8", "majority_vote"), ("debate 3x2", "debate"),
                            ("self_refine 3 iterations", "self_refine")):
            if name in AGENTS:
                assert agent_rows[(config, label)]["forced_lengths_ok"]
            else:
                assert any(s["config"] == config and s["agent"] == label and "not in matheval.agents.AGENTS"
                           in s["reason"] for s in skipped)
    suite = found["gsm8k"]["suite_estimate"]
    assert suite["configs"]["tf-b1"]["speedup"] == 1.0 and suite["configs"]["native"]["seconds"] > 0


def test_reasoning_workload_preempts_and_reports_its_floor(tmp_path, data_dir):
    """30 x 64 at full scale; at tiny scale 2 AIME problems x 4 samples with lengths / 256, sampled, in a
    512-token cache that cannot hold them: the run ends with every forced length, after preemptions."""
    from matheval.bench.workloads import REASONING_CAP, reasoning_lengths

    full = reasoning_lengths(30, 64, 0)
    assert full.shape == (30, 64) and full.max() == REASONING_CAP and 0.03 < (full == REASONING_CAP).mean() < 0.15
    assert 10_000 < full.mean() < 20_000  # long-tailed: the mean above the median
    assert full.mean() > float(np.median(full))

    code = main(["bench", "--scale", "tiny", "--device", "cpu", "--out", str(tmp_path / "results"),
                 "--results_md", str(tmp_path / "RESULTS.md"), "--dummy_config", str(TINY), "--configs", "native",
                 "--workload", "reasoning", "--data_dir", str(data_dir)])
    assert code == 0
    found = json.loads((tmp_path / "results" / f"{date.today().isoformat()}-cpu-reasoning.json").read_text())
    workload, [row] = found["workloads"]["reasoning"], found["rows"]
    assert workload["size"] == 8 and "KV cache 512 tokens" in workload["description"]
    assert row["forced_lengths_ok"] and row["measured"] == 8 and not row["extrapolated"]
    assert row["engine"]["native_preemptions"] >= 1 and row["engine"]["native_preempted_tokens"] > 0
    assert row["pct_of_floor"] == pytest.approx(100 * row["tok_s"] / workload["floor"]["floor_tok_s"], rel=0.01)
    assert "#### Reasoning workload" in (tmp_path / "RESULTS.md").read_text()

    # a subset: every sample of the first prompt, against that subset's own floor
    main(["bench", "--scale", "tiny", "--device", "cpu", "--out", str(tmp_path / "subset"), "--results_md", "",
          "--dummy_config", str(TINY), "--configs", "native", "--workload", "reasoning", "--data_dir",
          str(data_dir), "--reasoning_prompts", "1"])
    [subset] = json.loads((tmp_path / "subset" / f"{date.today().isoformat()}-cpu-reasoning.json").read_text())["rows"]
    assert subset["measured"] == 4 and subset["extrapolated"] and subset["forced_lengths_ok"]
    assert subset["floor_tok_s"] != workload["floor"]["floor_tok_s"]


def test_reference_paths_and_the_deadline(tmp_path, data_dir):
    """tf-compile (static cache; no compile on a CPU) and tf-continuous on token ids; a deadline already
    passed skips the rest, and what was skipped is said."""
    found = bench(tmp_path, "--dummy_config", str(TINY), "--configs", "tf-continuous,tf-compile",
                  "--workload", "short,agents")
    rows = found["short"]["rows"]
    assert [r["config"] for r in rows] == ["tf-continuous", "tf-compile"]
    assert all(r["forced_lengths_ok"] and r["useful_tokens"] == found["short"]["workloads"]["short"]["useful_tokens"]
               for r in rows)
    assert "does not compile on a CPU" in rows[1]["note"]
    assert all("not an async engine" in s["reason"] for s in found["agents"]["skipped"])

    late = bench(tmp_path / "late", "--dummy_config", str(TINY), "--configs", "native", "--workload", "short",
                 "--deadline", "0")
    assert late["short"]["rows"] == []
    assert late["short"]["skipped"][0]["reason"].startswith("deadline")
    assert "Not measured:" in (tmp_path / "late" / "RESULTS.md").read_text()


# -- where a run goes, and how it is put on record ---------------------------------------------------------------
def test_default_output_is_outside_the_tree_and_says_its_commit(tmp_path, data_dir, monkeypatch):
    """With no --out / --results_md a run writes into ./results/bench (git-ignored), never into benchmarks/;
    its tables name the commit of the code measured ($MATHEVAL_COMMIT first, as run_gpu.sh sets it)."""
    monkeypatch.chdir(tmp_path)
    tracked = sorted(p.name for p in (REPO / "benchmarks" / "results").iterdir())
    args = ["bench", "--dummy_config", str(TINY), "--scale", "tiny", "--device", "cpu", "--configs", "native",
            "--workload", "short", "--deadline", "0"]
    assert main(args) == 0
    written = json.loads((tmp_path / "results" / "bench" / f"{date.today().isoformat()}-cpu-short.json").read_text())
    text = (tmp_path / "results" / "bench" / "RESULTS.md").read_text()
    assert "<!-- bench:cpu:start -->" in text
    if (REPO / ".git").exists():
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=7", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        assert written["meta"]["commit"].startswith(head) and f"commit `{written['meta']['commit']}`" in text
    assert sorted(p.name for p in (REPO / "benchmarks" / "results").iterdir()) == tracked
    assert subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", "results/bench/RESULTS.md"]).returncode == 0

    monkeypatch.setenv("MATHEVAL_COMMIT", "abc1234")
    assert main(args + ["--out", "elsewhere", "--results_md", "elsewhere/R.md"]) == 0
    again = json.loads((tmp_path / "elsewhere" / f"{date.today().isoformat()}-cpu-short.json").read_text())
    assert again["meta"]["commit"] == "abc1234" and "commit `abc1234`" in (tmp_path / "elsewhere" / "R.md").read_text()


def test_record_puts_a_block_into_the_days_history(tmp_path, capsys):
    run = tmp_path / "RESULTS.md"
    replace_block(run, "gpu", "**NVIDIA H200**, 2026-12-01 · commit `abc1234` · ...\n\nversions\n\n#### Output tokens/s\n\n"
                              "| config | short |\n| native | 55,619 |\n\n#### GPU utilization\n\n| more |")
    target, summary = record(run, "gpu", history=tmp_path / "history")
    assert target == tmp_path / "history" / "2026-12-01.md"
    text = target.read_text()
    assert text.startswith("# Benchmark record: 2026-12-01") and "| native | 55,619 |" in text
    assert summary.startswith("**NVIDIA H200**, 2026-12-01") and "55,619" in summary and "GPU utilization" not in summary
    replace_block(run, "gpu", "**NVIDIA H200**, 2026-12-01 · a second run\n\n#### Output tokens/s\n\n| native | 1 |")
    record(run, "gpu", history=tmp_path / "history")  # the same block again: replaced, not appended
    assert target.read_text().count("<!-- bench:gpu:start -->") == 1 and "55,619" not in target.read_text()
    assert record_main([str(run), "nope"]) == 2
    assert "has no block 'nope'" in capsys.readouterr().err


# -- the native engine's diagnostics -------------------------------------------------------------------------------
def test_native_throughput_dry_run_on_the_cpu(tmp_path):
    """The documented CPU dry run of benchmarks/native_throughput.py: the engine variants generate every forced
    token, agree with transformers token for token in fp32, and the floor is matheval's one roofline formula."""
    command = [sys.executable, str(REPO / "benchmarks" / "native_throughput.py"), "--device", "cpu", "--tiny",
               "--num-seqs", "4", "--low", "8", "--high", "24", "--variants", "graphs,k1", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads((tmp_path / "native_throughput.json").read_text())
    sys.path.insert(0, str(REPO))
    try:
        from benchmarks.native.engine_runs import workload
    finally:
        sys.path.remove(str(REPO))
    prompts, out_lens = workload(4, 8, 24, 151936, 0)
    for name in ("graphs", "k1"):
        assert results["variants"][name]["useful_tokens"] == sum(out_lens) and results["variants"][name]["tok_s"] > 0
    assert [row["first_divergence"] for row in results["agreement"]] == [None] * 4
    assert results["hf_static"]["useful_tokens"] == sum(out_lens)
    expected = workload_floor(ModelShape.load(tmp_path / "tiny.json"), [len(p) for p in prompts], out_lens, 4,
                              Ceilings(3.0e12, 800e12))
    assert {k: v for k, v in results["workload"]["roofline"].items() if k != "params"} == expected
    assert "| native graphs |" in done.stdout and "| floor (3.0 TB/s, memory) |" in done.stdout


# -- the results page and its history ------------------------------------------------------------------------------
def _slug(heading: str) -> str:
    """GitHub's anchor for a markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_to_the_results_page_and_its_history_resolve():
    """Every link from README and docs into benchmarks/, and every link in benchmarks/ (the page, the history),
    names a file that exists and, with #anchor, one of its headings."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "benchmarks").rglob("*.md"))]
    checked = 0
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            into_benchmarks = resolved.is_relative_to(REPO / "benchmarks")
            if not into_benchmarks and not page.is_relative_to(REPO / "benchmarks"):
                continue
            assert resolved.exists(), f"{page.relative_to(REPO)}: {target} does not exist"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", resolved.read_text(), re.M)
                assert anchor in {_slug(h) for h in headings}, f"{page.relative_to(REPO)}: no heading #{anchor}"
            checked += 1
    assert checked >= 10
    assert len((REPO / "benchmarks" / "RESULTS.md").read_text().splitlines()) <= 200


def test_agents_workload_drives_sampling_and_survives_a_broken_agent(tmp_path, data_dir, monkeypatch):
    """Agents as the agents branch writes them: n samples in one request, then a sequential follow-up call
    whose prompt holds the first answer; an agent that raises costs only its own row."""
    from matheval.agents import AGENTS
    from matheval.agents.base import Attempt
    from matheval.prompts import build_messages

    async def vote_then_check(problem, llm, params):
        messages = build_messages(problem, params.mode)
        samples = await llm.generate(messages, n=4, temperature=0.7, top_p=0.95)
        follow_up = messages + [{"role": "assistant", "content": samples.texts[0]}, {"role": "user", "content": "Sure?"}]
        final = await llm.generate(follow_up)
        return Attempt(None, final.text)

    async def broken(problem, llm, params):
        await llm.generate(build_messages(problem, params.mode))
        raise RuntimeError("this agent is broken")

    monkeypatch.setitem(AGENTS, "majority_vote", vote_then_check)
    monkeypatch.setitem(AGENTS, "debate", broken)
    found = bench(tmp_path, "--dummy_config", str(TINY), "--configs", "tf-b8,native", "--workload", "agents")
    rows = {(r["config"], r["agent"]): r for r in found["agents"]["rows"]}
    for config in ("tf-b8", "native"):
        voted = rows[(config, "majority_vote N=8")]
        assert voted["forced_lengths_ok"] and voted["calls_per_problem"] == 2.0
        assert voted["sequences"] == 5 * voted["measured"] and voted["useful_tokens"] == voted["expected_tokens"]
        assert "this agent is broken" in rows[(config, "debate 3x2")]["error"]
        assert rows[(config, "agents (all)")]["tok_s"] > 0
    assert rows[("tf-b8", "majority_vote N=8")]["mean_batch"] > 1  # the samples of a request share a batch


def test_bench_on_the_real_smollm2_model(tmp_path, data_dir):
    """A real checkpoint: its files are linked, EOS is suppressed, so generation still runs to the forced length."""
    found = bench(tmp_path, "--model", "smollm2-135m", "--configs", "tf-b1,native", "--workload", "short")
    rows = found["short"]["rows"]
    assert [r["config"] for r in rows] == ["tf-b1", "native"]
    assert all(r["forced_lengths_ok"] and r["prompt_tokens_ok"] for r in rows)
    assert found["short"]["meta"]["model"]["params"] == 134_515_008


def test_bad_names_are_one_line_errors(tmp_path, capsys):
    code = main(["bench", "--dummy_config", str(TINY), "--configs", "tf-bogus", "--out", str(tmp_path)])
    assert code == 2
    assert "unknown --configs entry 'tf-bogus'" in capsys.readouterr().err
    assert main(["bench", "--dummy_config", str(TINY), "--workload", "nope", "--out", str(tmp_path)]) == 2
    assert main(["bench", "--out", str(tmp_path)]) == 2  # neither --model nor --dummy_config
