"""The agents: pure parts on their own, then every agent end to end on the real model through run_eval.

End-to-end runs use the packaged SmolLM2 on the CPU with tiny budgets (2 problems, a dozen tokens), so
they check structure (calls, trace roles and steps, samples, sandbox outputs, resume, determinism), not
accuracy. The sandbox is the real one.
"""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys

import pytest

from conftest import REPO, tiny_eval
from matheval.agents import AGENTS, AgentParams
from matheval.agents.base import LLM, Tools
from matheval.generation import GenerationSettings
from matheval.agents.programs import (answer_from_output, extract_program, python_blocks, shown_output,
                                      trailing_program, with_earlier_cells)
from matheval.agents.scoring import finds_no_error, parse_score
from matheval.agents.voting import majority, votes_per_candidate
from matheval.engines.base import Request, Sampling
from matheval.engines.batcher import Batcher
from matheval.errors import UserError
from matheval.results import CSV_COLUMNS

# ---------------------------------------------------------------------------------------------------
# Pure parts


def test_python_blocks_in_order_and_an_open_last_block():
    text = "Think.\n```python\nx = 1\nprint(x)\n```\n```output\n1\n```\nMore.\n```py\ny = 2\n"
    assert python_blocks(text) == ["x = 1\nprint(x)\n", "y = 2\n"]
    assert python_blocks("```output\n5\n```\nSo the answer is 5.") == []  # closing fences are not code


def test_extract_program_prefers_python_fences_then_bare_then_whole_text():
    assert extract_program("Here:\n```python\nprint(2)\n```\nand\n```python\nprint(3)\n```") == "print(2)\n"
    assert extract_program("```\nprint(4)\n```") == "print(4)\n"
    assert extract_program("x = 3\nprint(x * 2)") == "x = 3\nprint(x * 2)"
    assert extract_program("The answer is 6.") is None
    assert extract_program("```python\ndef f(:\n") == "def f(:\n"  # cut off: still run, it fails in the sandbox


def test_trailing_program_only_when_the_segment_stops_at_its_code():
    assert trailing_program("Compute:\n```python\nprint(6 * 7)\n```\n") == ("print(6 * 7)\n", True)
    assert trailing_program("Compute:\n```python\nprint(6 * 7)") == ("print(6 * 7)", False)  # stop cut "\n```\n"
    assert trailing_program("```python\nprint(1)\n```\nThe answer is \\boxed{1}.") is None
    assert trailing_program("No code at all.") is None


@pytest.mark.parametrize("stdout, expected", [
    ("42\n", "42"),
    ("working...\n3/4\n", "3/4"),
    ("sqrt(2)/2\n", "sqrt(2)/2"),
    ("The answer is 17\n", "17"),
    ("x = 5\n", "5"),
    ("Total cost: 42 dollars\n", "42"),
    ("\\frac{1}{3}\n\n\n", "\\frac{1}{3}"),
    ("", None),
    ("\n  \n", None),
])
def test_answer_from_output(stdout, expected):
    assert answer_from_output(stdout) == expected


def test_shown_output_gives_the_error_line_and_caps_length():
    assert shown_output("", "Traceback...\n  File x\nZeroDivisionError: division by zero\n", "exit code 1") == \
        "ZeroDivisionError: division by zero"
    assert shown_output("1\n", "", None) == "1"
    assert shown_output("9" * 5000, "", None).endswith("(output cut)")


@pytest.mark.parametrize("text, expected", [
    ("Score: 7", 7.0),
    ("The steps look right.\n**Score:** 9/10", 9.0),
    ("score = 3.5", 3.5),
    ("First I thought Score: 2, but on reflection Score: 8", 8.0),
    ("I would give it 6 out of 10.", 6.0),
    ("8", 8.0),
    ("Score: 42", None),  # off the scale
    ("Looks correct to me.", None),
    ("", None),
])
def test_parse_score(text, expected):
    assert parse_score(text) == expected


@pytest.mark.parametrize("critique, expected", [
    ("All steps check out.\nVERDICT: CORRECT", True),
    ("Step 2 adds wrongly.\nVERDICT: INCORRECT", False),
    ("verdict: incorrect ... on second thought VERDICT: **CORRECT**", True),
    ("I found no errors in this solution.", True),
    ("The solution is wrong in step 3.", False),
    ("", False),
])
def test_finds_no_error(critique, expected):
    assert finds_no_error(critique) is expected


def test_majority_groups_by_value_and_ties_go_to_the_first_seen():
    answers = ["1/2", "3", None, "0.5", "3.0"]
    winner, tally = majority(answers)
    assert winner == 0  # {1/2, 0.5} and {3, 3.0} tie at two votes: 1/2 was seen first
    assert tally == [{"answer": "1/2", "votes": 2}, {"answer": "3", "votes": 2}]
    assert majority(["4", "7", "7"])[0] == 1
    assert majority([None, None]) == (None, [])
    assert votes_per_candidate(answers) == [2, 2, 0, 2, 2]


def test_earlier_cells_are_rerun_silently_in_the_real_sandbox():
    from matheval.sandbox import SandboxPool

    program = with_earlier_cells(["x = 6\nprint('from the first cell')"], "print(x * 7)")
    with SandboxPool(workers=1) as pool:
        result = asyncio.run(pool.run(program))
    assert result.ok, result.stderr
    assert result.stdout == "42\n"


# ---------------------------------------------------------------------------------------------------
# The batcher, as the agents use it


def test_a_request_for_more_samples_than_fit_is_split_and_keeps_its_texts(transformers_backend):
    messages = [{"role": "user", "content": "Count to three."}]
    sampling = Sampling(max_tokens=5, temperature=0.9, top_p=0.95, n=3, seed=11)
    whole = transformers_backend.generate_batch([Request(messages, sampling)], batch_size=4)[0]
    before = transformers_backend.stats.calls

    async def split_in_batches_of_two():
        batcher = Batcher(transformers_backend, batch_size=2)
        with batcher.workflow():
            return await batcher.generate(messages, sampling)

    split = asyncio.run(split_in_batches_of_two())
    assert transformers_backend.stats.calls - before == 2  # 3 samples at batch size 2
    assert split.texts == whole.texts and len(set(split.texts)) > 1
    assert split.completion_tokens == whole.completion_tokens


def test_a_workflow_awaiting_two_requests_does_not_count_as_two(transformers_backend):
    """Workflow A awaits two requests at once; B is busy for a moment (as in the sandbox) before its one.
    Counting requests, A's two look like "both workflows waiting" and the batch is cut without B."""
    before = transformers_backend.stats.calls

    async def main():
        batcher = Batcher(transformers_backend, batch_size=8, grace_seconds=5.0)

        async def a():
            with batcher.workflow():
                return await asyncio.gather(*(batcher.generate([{"role": "user", "content": f"Say {w}."}],
                                                               Sampling(max_tokens=2)) for w in ("yes", "no")))

        async def b():
            with batcher.workflow():
                await asyncio.sleep(0.3)
                return await batcher.generate([{"role": "user", "content": "Say maybe."}], Sampling(max_tokens=2))

        await asyncio.gather(a(), b())

    asyncio.run(main())
    assert transformers_backend.stats.calls - before == 1


# ---------------------------------------------------------------------------------------------------
# Every agent end to end on the real model


def run_agent(tmp_path, agent, count=2, max_tokens=12, **params):
    return tiny_eval(tmp_path, agent=agent, count=count, batch_size=8, max_tokens=max_tokens,
                     params=AgentParams(**params))


def records_of(outcome) -> list[dict]:
    return json.loads(outcome.paths.answers.read_text())


def roles(record) -> list[str]:
    return [call["role"] for call in record["trace"]]


def steps(record) -> list[int]:
    return [call["step"] for call in record["trace"]]


def test_every_agent_is_registered_with_a_docstring():
    import sys

    assert list(AGENTS) == ["standard", "majority_vote", "best_of_n", "self_refine", "progressive_hint", "debate",
                            "tree_search", "program_of_thoughts", "tool_integrated"]
    for solve in AGENTS.values():
        assert (sys.modules[solve.__module__].__doc__ or "").strip()


def test_standard(tmp_path, smollm2_path):
    outcome = run_agent(tmp_path, "standard")
    assert [r["calls"] for r in records_of(outcome)] == [1, 1]
    assert outcome.summary.maj_at_n is None and outcome.row["engine_calls"] == 1


def test_majority_vote_samples_once_with_n(tmp_path, smollm2_path):
    outcome = run_agent(tmp_path, "majority_vote", num_runs=3)
    for record in records_of(outcome):
        assert record["calls"] == 1 and roles(record) == ["sample"]
        assert len(record["trace"][0]["texts"]) == 3 and len(record["samples"]) == 3
        assert sum(v["votes"] for v in record["agent"]["votes"]) == sum(s is not None for s in record["samples"])
    assert outcome.summary.num_samples == 3 and outcome.summary.maj_at_n is not None
    text = outcome.paths.metrics_txt.read_text()
    assert "maj@3" in text and "pass@3" in text and "calls" in text
    assert outcome.row["mean_batch"] == 6  # 2 problems x 3 samples in one batch


def test_best_of_n_judges_each_candidate_with_an_answer(tmp_path, smollm2_path):
    outcome = run_agent(tmp_path, "best_of_n", num_runs=2)
    for record in records_of(outcome):
        answered = sum(s is not None for s in record["samples"])
        assert roles(record) == ["sample"] + ["judge"] * answered
        assert steps(record) == [1] + [2] * answered  # the judges run concurrently
        assert len(record["agent"]["scores"]) == 2
        if answered:
            assert record["extracted"] in record["samples"]


def test_best_of_n_with_a_separate_verifier_engine(tmp_path, smollm2_path):
    outcome = tiny_eval(tmp_path, agent="best_of_n", count=1, batch_size=8, max_tokens=12,
                        params=AgentParams(num_runs=2, verifier="smollm2-135m"))
    record = records_of(outcome)[0]
    assert all(call["engine"] == "verifier" for call in record["trace"] if call["role"] == "judge")
    assert record["trace"][0]["engine"] is None


def test_verifier_is_refused_for_agents_that_do_not_judge(tmp_path):
    with pytest.raises(UserError, match="--verifier is not used by agent 'majority_vote'"):
        tiny_eval(tmp_path, agent="majority_vote", params=AgentParams(verifier="smollm2-135m"))


def test_self_refine_alternates_critique_and_refine(tmp_path, smollm2_path):
    outcome = run_agent(tmp_path, "self_refine", max_iters=2)
    for record in records_of(outcome):
        assert roles(record)[:2] == ["answer", "critique"]
        assert record["calls"] in (2, 4, 5)  # stops at a passing critique (2k calls) or after 2 refinements
        assert steps(record) == list(range(1, record["calls"] + 1))  # strictly sequential
        for critique_or_refine, role in zip(roles(record)[1:], ["critique", "refine"] * 2):
            assert critique_or_refine == role
        assert record["agent"]["refinements"] == roles(record).count("refine")


def test_progressive_hint_stops_on_agreement_or_after_max_iters(tmp_path, smollm2_path):
    outcome = run_agent(tmp_path, "progressive_hint", max_iters=2)
    for record in records_of(outcome):
        answers = record["agent"]["answers"]
        assert record["calls"] == len(answers) <= 3
        for call in record["trace"][1:]:
            assert "(Hint: The answer is near to" in call["messages"][-1]["content"]
        if record["agent"]["agreed"]:
            assert answers[-1] is not None


def test_debate_rounds_run_debaters_concurrently(tmp_path, smollm2_path):
    outcome = run_agent(tmp_path, "debate", num_runs=2, rounds=1)
    for record in records_of(outcome):
        assert record["calls"] == 3 and steps(record) == [1, 2, 2]
        assert len(record["trace"][0]["texts"]) == 2  # the first answers: one request with n=2
        assert "other agents" in record["trace"][1]["messages"][-1]["content"]
        assert len(record["samples"]) == 2 and len(record["agent"]["answers_per_round"]) == 2
    assert outcome.summary.num_samples == 2


def test_debate_needs_two_debaters(tmp_path, smollm2_path):
    with pytest.raises(UserError, match="at least 2 debaters"):
        run_agent(tmp_path, "debate", count=1, num_runs=1)


def test_tree_search_expands_scores_and_keeps_the_beam(tmp_path, smollm2_path):
    outcome = run_agent(tmp_path, "tree_search", max_tokens=10, beam_width=2, expansions=2, max_depth=2)
    for record in records_of(outcome):
        trace = record["trace"]
        assert trace[0]["role"] == "expand" and len(trace[0]["texts"]) == 2
        assert trace[0]["messages"][-1] == {"role": "assistant", "content": "Step 1:"}
        depths = record["agent"]["depths"]
        assert 1 <= len(depths) <= 2
        for depth in depths:
            assert len(depth["kept_scores"]) <= 2
        assert set(roles(record)) <= {"expand", "score"}
        assert roles(record).count("score") == sum(d["candidates"] for d in depths)
        assert max(steps(record)) == 2 * len(depths)  # expand, then score, per depth
        assert record["response"].startswith("Step 1:")


def test_program_of_thoughts_runs_programs_in_the_sandbox(tmp_path, smollm2_path):
    outcome = run_agent(tmp_path, "program_of_thoughts", max_tokens=24, num_runs=2)
    records = records_of(outcome)
    programs = [program for record in records for program in record["agent"]["programs"]]
    assert len(programs) == 4 and all(record["calls"] == 1 for record in records)
    ran = [p for p in programs if p["code"] is not None]
    assert ran, "the model wrote no program at all"
    for program in ran:  # each ran in the sandbox: it exited cleanly, or failed with a reason
        assert program["ok"] != bool(program["error"]) and program["seconds"] > 0
        assert (program["answer"] is not None) <= (program["ok"] and bool(program["stdout"].strip()))
    for record in records:
        assert record["samples"] == [p["answer"] for p in record["agent"]["programs"]]


def test_tool_integrated_runs_end_to_end(tmp_path, smollm2_path):
    outcome = run_agent(tmp_path, "tool_integrated", num_runs=2, max_calls=1)
    for record in records_of(outcome):
        assert record["trace"][0]["role"] == "reason" and len(record["trace"][0]["texts"]) == 2
        assert record["trace"][0]["messages"][0]["content"].startswith("Solve the following problem")
        executions = record["agent"]["executions"]
        assert executions <= 2 and record["calls"] == 1 + executions  # one continuation per execution
        assert len(record["samples"]) == 2


def test_tool_integrated_feeds_program_output_back_to_the_model(transformers_backend):
    """The model decides whether to write code, so this gives it a first segment that asks to run
    a program: the real sandbox runs it, its output goes back, the real model continues."""
    from matheval.agents.tool_integrated import STOPS, TOOL_REQUEST, carry_on
    from matheval.sandbox import SandboxPool

    question = [{"role": "user", "content": TOOL_REQUEST.format(question="What is 6 times 7?")}]
    segment = "I will compute it.\n```python\nx = 6\nprint(x * 7)"  # as cut at the closing fence

    async def main(pool):
        llm = LLM(Batcher(transformers_backend, batch_size=2), 0, "p", 0, AgentParams(generation=GenerationSettings(max_new_tokens=8)),
                  Tools(sandbox=pool))
        return llm, await carry_on(llm, question, segment, "stop", 1, {"stop": STOPS})

    with SandboxPool(workers=1) as pool:
        llm, solution = asyncio.run(main(pool))
    assert solution["executions"] == [{"code": "x = 6\nprint(x * 7)", "output": "42", "ok": True}]
    prefix = llm.finished_calls[0].messages[-1]
    assert prefix["role"] == "assistant"
    assert prefix["content"] == "I will compute it.\n```python\nx = 6\nprint(x * 7)\n```\n```output\n42\n```\n"
    assert solution["transcript"].startswith(prefix["content"])


def test_run_code_without_a_sandbox_says_what_is_missing(transformers_backend):
    llm = LLM(Batcher(transformers_backend, batch_size=1), 0, "p", 0, AgentParams())
    with pytest.raises(RuntimeError, match="NEEDS_SANDBOX"):
        asyncio.run(llm.run_code("print(1)"))


# ---------------------------------------------------------------------------------------------------
# Resume and determinism


def test_an_interrupted_agent_run_resumes_and_redoes_only_what_is_missing(tmp_path, smollm2_path):
    first = run_agent(tmp_path, "self_refine", max_iters=1)
    journal = first.paths.journal
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:2]) + "\n")  # the header and the first problem finished survive
    kept = json.loads(lines[1])
    again = run_agent(tmp_path, "self_refine", max_iters=1)
    assert again.new_problems == 1
    before, after = records_of(first), records_of(again)
    assert [r["id"] for r in after] == [r["id"] for r in before]
    assert next(r for r in after if r["id"] == kept["id"]) == kept  # taken from the journal, not redone
    for old, new in zip(before, after):  # the redone problem comes out the same (seeded, greedy)
        assert (new["extracted"], new["response"], roles(new)) == (old["extracted"], old["response"], roles(old))


@pytest.mark.parametrize("agent, params", [("majority_vote", {"num_runs": 2}), ("progressive_hint", {"max_iters": 2})])
def test_concurrency_changes_nothing(tmp_path, smollm2_path, agent, params):
    """The same seeded run, one problem at a time and all at once, gives the same texts."""
    outcomes = [tiny_eval(tmp_path / str(concurrency), agent=agent, count=3, batch_size=8, max_tokens=10,
                          concurrency=concurrency, params=AgentParams(**params)) for concurrency in (1, 64)]
    one_at_a_time, all_at_once = (records_of(outcome) for outcome in outcomes)
    assert outcomes[0].row["engine_calls"] > outcomes[1].row["engine_calls"]  # the batches really differed
    for a, b in zip(one_at_a_time, all_at_once):
        assert a["extracted"] == b["extracted"] and a.get("samples") == b.get("samples")
        assert [call["texts"] for call in a["trace"]] == [call["texts"] for call in b["trace"]]


# ---------------------------------------------------------------------------------------------------
# The command line: every agent through `matheval agent`, the seed's command, bad input

CLI_WIDTHS = ["--num_runs", "2", "--max_iters", "1", "--rounds", "1", "--beam_width", "1", "--expansions", "2",
              "--max_depth", "1", "--max_calls", "1"]


def agent_cli(*args: str) -> int:
    """`matheval agent ARGS` in this process (the parser, the command and run_eval as a user runs them)."""
    from matheval.cli import main

    try:
        return main(["agent", *args])
    except SystemExit as exc:  # argparse refusing a flag
        return exc.code


@pytest.mark.parametrize("agent", [name for name in AGENTS if name not in ("standard", "majority_vote")])
def test_every_agent_through_matheval_agent_writes_the_seed_files(tmp_path, smollm2_path, agent, capsys):
    code = agent_cli("--agent", agent, "--round", "cli", "--dataset", "synthetic", "--count", "1",
                     "--batch_size", "4", "--max_new_tokens", "8", *CLI_WIDTHS, "--results_dir", str(tmp_path),
                     "--no_progress")
    assert code == 0, capsys.readouterr().err
    [folder] = tmp_path.iterdir()
    assert folder.name.startswith("cli_smollm2-135m_synthetic_1_")
    [record] = json.loads((folder / "answers" / f"smollm2-135m_synthetic_{agent}_answers.json").read_text())
    assert record["calls"] == len(record["trace"]) >= 1 and record["seconds"] > 0
    assert record["tokens"] == sum(call["prompt_tokens"] + sum(call["completion_tokens"]) for call in record["trace"])
    for call in record["trace"]:
        assert call["role"] and call["texts"] and len(call["completion_tokens"]) == len(call["texts"])
    assert set(record) >= {"question", "gold", "response", "extracted", "correct"}
    with open(folder / "metrics.csv") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["mode"] == agent and float(row["calls_per_problem"]) == record["calls"]
    assert int(row["engine_calls"]) >= 1 and float(row["tokens_per_problem"]) == record["tokens"]
    assert "calls" in (folder / f"metrics_{agent}.txt").read_text()
    assert "synthetic-0" in (folder / "log" / f"smollm2-135m_synthetic_{agent}.log").read_text()
    assert str(folder) in capsys.readouterr().out


def test_the_seed_agent_command_runs_as_a_module(tmp_path, data_dir, smollm2_path):
    """The seed README's command, shrunk: `python -m evaluation.eval_agent ... --agent majority_vote` (the
    other agents run through `matheval agent` above; `standard` is `matheval eval`, tests/test_cli.py)."""
    result = subprocess.run(
        [sys.executable, "-m", "evaluation.eval_agent", "--model", "smollm2-135m", "--agent", "majority_vote",
         "--round", "batch_agent", "--dataset", "gsm8k", "--count", "2", "--num_runs", "3", "--batch_size", "8",
         "--inference_backend", "transformers", "--max_new_tokens", "8", "--data_dir", str(data_dir),
         "--results_dir", str(tmp_path), "--no_progress"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    [folder] = tmp_path.iterdir()
    answers = json.loads((folder / "answers" / "smollm2-135m_gsm8k_majority_vote_answers.json").read_text())
    assert [a["id"] for a in answers] == ["gsm8k-0", "gsm8k-1"] and answers[0]["gold"] == "18"
    assert all(len(a["samples"]) == 3 for a in answers)
    with open(folder / "metrics.csv") as handle:
        [row] = list(csv.DictReader(handle))
    assert list(row) == CSV_COLUMNS and row["num_runs"] == "3" and row["maj_at_n"] != ""
    assert "maj@3" in (folder / "metrics_majority_vote.txt").read_text()


BAD_AGENT_INPUTS = [
    (["--agent", "telepathy"], "unknown agent 'telepathy'"),
    (["--agent", "debate", "--num_runs", "1"], "debate needs at least 2 debaters"),
    (["--agent", "majority_vote", "--num_runs", "0"], "--num_runs"),
    (["--agent", "tree_search", "--beam_width", "wide"], "--beam_width"),
    (["--agent", "majority_vote", "--sample_temperature", "-1"], "--sample_temperature must be 0 (greedy) or more"),
    (["--agent", "debate", "--sample_top_p", "1.5"], "--sample_top_p must be in (0, 1]"),
    (["--agent", "majority_vote", "--verifier", "smollm2-135m"], "--verifier is not used by agent 'majority_vote'"),
    (["--agent", "best_of_n", "--verifier", "no-such-judge"], "--verifier: unknown model 'no-such-judge'"),
]


@pytest.mark.parametrize("args, message", BAD_AGENT_INPUTS)
def test_bad_agent_input_is_one_line_before_anything_loads(tmp_path, args, message, capsys):
    assert agent_cli(*args, "--results_dir", str(tmp_path / "results")) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_a_bad_agent_name_exits_two_from_the_module(tmp_path):
    result = subprocess.run([sys.executable, "-m", "evaluation.eval_agent", "--agent", "telepathy",
                             "--results_dir", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "unknown agent 'telepathy': use one of standard, majority_vote" in result.stderr


# ---------------------------------------------------------------------------------------------------
# Model-written code runs in the sandbox and nowhere else

HOSTILE = """import os
print(os.environ.get("MATHEVAL_AGENT_TEST_SECRET"))
os.system("touch {target}")
open("{target}", "w").write("pwned")
"""


def test_agents_never_execute_code_themselves():
    """The only way an agent runs code is `LLM.run_code`, which goes to the run's sandbox."""
    import re
    from pathlib import Path

    import matheval.agents

    forbidden = re.compile(r"(?<![\w.])(exec|eval|compile)\(|\bsubprocess\b|os\.(system|popen|exec|spawn)|\brunpy\b|"
                           r"multiprocessing|__import__")
    for module in Path(matheval.agents.__file__).parent.glob("*.py"):
        hits = [line for line in module.read_text().splitlines() if forbidden.search(line)]
        assert hits == [], f"{module.name}: {hits}"


def test_hostile_programs_of_both_code_agents_are_contained(transformers_backend, tmp_path, monkeypatch):
    """A program that reads a secret, starts a shell and writes outside its folder, as program_of_thoughts
    runs it and as tool_integrated runs a block: the sandbox stops all three, the workflow goes on."""
    import uuid
    from pathlib import Path

    from matheval.agents.program_of_thoughts import execute
    from matheval.agents.tool_integrated import STOPS, TOOL_REQUEST, carry_on
    from matheval.sandbox import SandboxPool

    secret = f"sk-agent-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("MATHEVAL_AGENT_TEST_SECRET", secret)  # before the pool starts
    target = Path("/tmp") / f"pwned-agents-{uuid.uuid4().hex}"
    program = HOSTILE.format(target=target)
    question = [{"role": "user", "content": TOOL_REQUEST.format(question="What is 6 times 7?")}]

    async def main(pool):
        llm = LLM(Batcher(transformers_backend, batch_size=2), 0, "p", 0, AgentParams(generation=GenerationSettings(max_new_tokens=6)),
                  Tools(sandbox=pool))
        pot = await execute(llm, program)
        tir = await carry_on(llm, question, f"```python\n{program}```\n", "stop", 1, {"stop": STOPS})
        return pot, tir

    with SandboxPool(workers=1) as pool:
        pot, tir = asyncio.run(main(pool))
    assert not target.exists()
    assert secret not in json.dumps([pot, tir])
    assert pot["ok"] is False and pot["error"] and pot["answer"] is None
    [execution] = tir["executions"]
    assert execution["ok"] is False and "```output" in tir["transcript"]
