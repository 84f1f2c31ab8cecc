"""`matheval bench --workload identity` and the `native-det` / `tf-b<N>-fp32` configurations, at tiny scale on
the CPU (the GPU run is benchmarks/run_determinism_gpu.sh): the identical-text rate beside the speed, and
the deterministic mode's speed as a share of the default's."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from matheval.cli import main

TINY = Path(__file__).resolve().parent.parent / "benchmarks" / "configs" / "tiny-qwen2.json"


def test_identity_rows_and_the_speed_ratio(tmp_path, data_dir):
    code = main(["bench", "--scale", "tiny", "--device", "cpu", "--dummy_config", str(TINY), "--out", str(tmp_path),
                 "--results_md", str(tmp_path / "R.md"), "--configs", "native-det,native-det-eager,native,tf-b2-fp32",
                 "--workload", "identity,throughput"])  # fmt: skip
    assert code == 0
    rows = json.loads((tmp_path / f"{date.today().isoformat()}-cpu-identity.json").read_text())["rows"]
    by = {(r["config"], r["agent"]): r for r in rows}
    assert set(by) == {(c, m) for c in ("native-det", "native-det-eager", "native")
                       for m in ("greedy", "seeded T=0.7 top-p 0.95")} | {("tf-b2-fp32", "greedy")}
    for mode in ("greedy", "seeded T=0.7 top-p 0.95"):
        det = by[("native-det", mode)]
        assert det["identical_texts"] == det["identical_token_ids"] == det["compared"] == 3
        assert det["concurrency"] == [512, 4] and det["forced_lengths_ok"] and det["tok_s_low"] > 0
        eager = by[("native-det-eager", mode)]  # one run at 512, compared with native-det's
        assert eager["identical_texts"] is None and eager["identical_to_configs"] == {"native-det": 3}
    assert by[("tf-b2-fp32", "greedy")]["compared"] == 2  # one static batch of problems
    text = (tmp_path / "R.md").read_text()
    assert "#### Identical texts at --concurrency 512 and 4" in text and "| native-det | greedy | **3 / 3** |" in text
    assert "| native-det-eager vs native-det | greedy | 3 / 3 |" in text
    ratios = text.split("#### Deterministic mode (native-det) against the default (native)")[1]
    assert next(line for line in ratios.splitlines() if line.startswith("| throughput |")).endswith("%** |")
