"""Presets, sampled evaluation, reasoning traces and budget forcing, on the real SmolLM2 model (CPU, fp32).

- a preset reaches the engine as the prompt tokens it should (rendered by the engine's own path, compared
  with the text the preset's source prescribes);
- chat templates that rewrite assistant turns (DeepSeek-R1's, Qwen3's) cannot alter a prefill or a forced
  answer, and the thinking switch reaches the template;
- responses written here go through the real grading path: the answer part after </think> is read, a
  truncated response gets no guessed answer, reasoning and answer tokens are counted apart;
- budget forcing cuts real samples at the budget and asks for the answer with the preset's cue;
- n-sample metrics end to end on synthetic and GSM8K, the same samples at any batch size, and the first k
  samples of n are the samples of a run with n = k;
- bad input is one line, exit 2, nothing written.
"""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import pytest

from matheval.agents.base import LLM, AgentParams, Attempt, Tools
from matheval.agents.budget_forcing import FORCED_TOKENS, auto_budgets, finished_within, force_answers
from matheval.anchors import comparison_lines, load_anchors, matching
from matheval.cli import main
from matheval.data import load_problems
from matheval.engines.base import EngineOptions, Request, Sampling
from matheval.engines.batcher import Batcher
from matheval.engines.chat import encode_prompt, opens_reasoning, render_prompt
from matheval.engines.tokens import TokenText
from matheval.errors import UserError
from matheval.generation import GenerationSettings
from matheval.graded_samples import count_reasoning, grade_samples
from matheval.metrics import summarize
from matheval.models import resolve
from matheval.presets import PRESETS
from matheval.prompts import build_messages, with_prefill
from matheval.protocol import check_template, few_problems_warning, response_prefix, samples_for

SMOL_SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
STEP = "Please reason step by step, and put your final answer within \\boxed{}."

# Reduced forms of two published chat templates, keeping the behaviour at issue (not the whole templates):
# DeepSeek-R1's (since 2025-02) drops the reasoning from assistant turns and opens <think> in the generation
# prompt; Qwen3's puts an (empty) reasoning block in front of the last assistant turn and closes one in the
# generation prompt when enable_thinking is false.
R1_LIKE = ("{% for m in messages %}{% if m['role'] == 'user' %}{{ '<|User|>' + m['content'] }}"
           "{% elif m['role'] == 'assistant' %}{% set c = m['content'] %}{% if '</think>' in c %}"
           "{% set c = c.split('</think>')[-1] %}{% endif %}{{ '<|Assistant|>' + c + '<|end|>' }}{% endif %}"
           "{% endfor %}{% if add_generation_prompt %}{{ '<|Assistant|><think>\\n' }}{% endif %}")
QWEN3_LIKE = ("{% for m in messages %}{% if m['role'] == 'assistant' and loop.last %}"
              "{{ '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' + m['content'] + '<|im_end|>\\n' }}"
              "{% else %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endif %}{% endfor %}"
              "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
              "{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}"
              "{% endif %}{% endif %}")


@pytest.fixture(scope="module")
def tokenizer(smollm2_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_path)


def with_template(tokenizer, template):
    from transformers import AutoTokenizer

    copy = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    copy.chat_template = template
    return copy


@pytest.fixture(scope="module")
def aime(data_dir):
    return load_problems("aime25", data_dir)


def test_presets_reach_the_engine_as_the_prompt_tokens_they_prescribe(transformers_backend, aime):
    problem = aime[0]
    expected = {
        # DeepSeek-R1: no system prompt of ours (SmolLM2's template adds its own), the directive in the user
        # turn, the response opened with "<think>\n"
        "deepseek-r1": f"{SMOL_SYSTEM}<|im_start|>user\n{problem.question}\n{STEP}<|im_end|>\n"
                       "<|im_start|>assistant\n<think>\n",
        # Qwen2.5-Math's qwen25-math-cot: the directive as the system prompt, the bare problem as the user turn
        "qwen2.5-math-cot": f"<|im_start|>system\n{STEP}<|im_end|>\n<|im_start|>user\n{problem.question}<|im_end|>\n"
                            "<|im_start|>assistant\n",
        "matheval": f"{SMOL_SYSTEM}<|im_start|>user\n{problem.question}\n\n{STEP}<|im_end|>\n<|im_start|>assistant\n",
    }
    tokenizer = transformers_backend.tokenizer
    for name, text in expected.items():
        preset = PRESETS[name]
        messages = with_prefill(build_messages(problem, "standard", preset=preset), preset)
        [row] = transformers_backend.rows_of([Request(messages, Sampling())])
        assert row.prompt_ids == tokenizer(text, add_special_tokens=False)["input_ids"], name
    tir = build_messages(problem, "standard", preset=PRESETS["qwen2.5-math-tir"])
    assert tir[0] == {"role": "system", "content": "Please integrate natural language reasoning with programs to "
                      "solve the problem above, and put your final answer within \\boxed{}."}


def test_templates_cannot_rewrite_a_prefill_or_a_forced_answer(tokenizer):
    question = [{"role": "user", "content": "What is 6*7?"}]
    r1 = with_template(tokenizer, R1_LIKE)
    # the template already opens the reasoning: the prefill is not written twice
    assert render_prompt(r1, question + [{"role": "assistant", "content": "<think>\n"}]) == \
        "<|User|>What is 6*7?<|Assistant|><think>\n"
    forced = "<think>\nSix sevens</think>\n\n**Final Answer**\n\\boxed{"
    assert render_prompt(r1, question + [{"role": "assistant", "content": forced}]) == \
        "<|User|>What is 6*7?<|Assistant|><think>\nSix sevens</think>\n\n**Final Answer**\n\\boxed{"
    # (the template's own rendering of that turn drops "Six sevens": transformers refuses to continue it)
    with pytest.raises(ValueError, match="does not appear in the chat"):
        r1.apply_chat_template(question + [{"role": "assistant", "content": forced}], tokenize=False,
                               continue_final_message=True)
    assert opens_reasoning(r1, question) and not opens_reasoning(tokenizer, question)
    assert response_prefix(PRESETS["matheval"], r1, question, {}) == "<think>\n"
    assert response_prefix(PRESETS["matheval"], tokenizer, question, {}) == ""

    qwen3 = with_template(tokenizer, QWEN3_LIKE)
    thinking_off = encode_prompt(qwen3, question, {"enable_thinking": False})
    assert qwen3.decode(thinking_off).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert render_prompt(qwen3, question, {"enable_thinking": True}).endswith("<|im_start|>assistant\n")
    cut = "<think>\nSix sevens</think>\n\n**Final Answer**\n\\boxed{"
    assert render_prompt(qwen3, question + [{"role": "assistant", "content": cut}]).endswith(
        "<|im_start|>assistant\n" + cut)  # no empty reasoning block put in front of it

    check_template(PRESETS["qwen3-thinking"], qwen3, resolve("smollm2-135m"))  # has the switch
    with pytest.raises(UserError, match="enable_thinking switch, which smollm2-135m's template lacks"):
        check_template(PRESETS["qwen3-non-thinking"], tokenizer, resolve("smollm2-135m"))


def test_reasoning_traces_through_the_real_grading_path(tokenizer):
    """Responses written here, as a DeepSeek-R1 distill would (its turn opened with "<think>\\n")."""
    problem = load_problems("synthetic", count=1)[0]
    gold = problem.answer
    texts = [
        f"Try {int(gold) + 1}? No.\n</think>\n\nThe answer is \\boxed{{{gold}}}.",  # finished: graded after </think>
        f"So it is {gold}. I should double-check",  # EOS inside the reasoning: unfinished, no guessed answer
        f"Perhaps {gold}, or",  # cut at the cap while reasoning
        f"done</think>\nit is {gold}",  # cut at the cap after answering without a marker: no guess
        f"{gold} is what I get</think> The result: {int(gold) + 2}",  # the answer part is read, not the trace
    ]
    reasons = ["stop", "stop", "length", "length", "stop"]
    attempt = Attempt(answer=None, response=texts[0], sample_texts=texts, sample_finish_reasons=reasons,
                      sample_tokens=[len(tokenizer(t)["input_ids"]) + 3 for t in texts])
    graded = grade_samples(problem, attempt, "<think>\n", ("<think>", "</think>"))
    assert graded["samples_correct"] == [True, False, False, False, False]
    assert graded["samples_truncated"] == [False, True, True, True, False]
    assert graded["samples"][:4] == [gold, None, None, None] and graded["samples"][4] == str(int(gold) + 2)
    assert graded["sample_groups"][0] == 0 and graded["vote"] == gold and graded["vote_correct"]
    counts = count_reasoning(texts, attempt.sample_tokens, "<think>\n", ("<think>", "</think>"), TokenText(tokenizer))
    answer_tokens = sum(TokenText(tokenizer).count(t.split("</think>")[-1]) for t in (texts[0], texts[3], texts[4]))
    assert counts == {"reasoning_tokens": sum(attempt.sample_tokens) - answer_tokens, "answer_tokens": answer_tokens}
    summary = summarize([{"id": problem.id, "correct": True, **graded, **counts}])
    assert summary.truncated == 3 and summary.truncation_rate == 0.6
    assert summary.finished_accuracy == 0.5  # 1 of the 2 finished responses


def run_async(coroutine_factory):
    return asyncio.run(coroutine_factory())


def test_budget_forcing_cuts_real_samples_and_asks_with_the_cue(transformers_backend, tokenizer):
    """The mechanism on the real model: every sample not finished within a budget is handed back as its
    own turn cut at that many tokens, with the preset's answer cue, and answered greedily in a few tokens."""
    preset = PRESETS["deepseek-r1"]
    params = AgentParams(generation=GenerationSettings(max_new_tokens=24, temperature=0.8, top_p=0.95),
                         preset=preset, num_samples=2, budgets=(8, 24), response_prefix=preset.prefill)
    problem = load_problems("synthetic", count=1)[0]
    messages = build_messages(problem, "standard", preset=preset)
    counter = TokenText(tokenizer)

    async def work():
        engine = Batcher(transformers_backend, batch_size=8)
        llm = LLM(engine, 7, problem.id, 0, params, Tools(tokens=counter))
        with engine.workflow():
            completion = await llm.generate(with_prefill(messages, preset), n=2)
            forced = await force_answers(messages, completion, llm, params, preset.prefill)
        return completion, forced, llm.finished_calls

    completion, forced, calls = run_async(work)
    assert not any("</think>" in text for text in completion.texts)  # SmolLM2 never closes a reasoning block
    asked = calls[1:]
    assert len(asked) == 4 and {tuple(c.messages[:-1]) == tuple(messages) for c in asked} == {True}
    for call, (budget, sample) in zip(asked, [(8, 0), (8, 1), (24, 0), (24, 1)]):
        text = completion.texts[sample]
        turn = call.messages[-1]["content"]
        assert turn.startswith(preset.prefill) and turn.endswith(preset.answer_cue)
        head = turn[len(preset.prefill):-len(preset.answer_cue)]
        assert text.startswith(head) and counter.count(head) == min(budget, counter.count(text))
        assert call.completion_tokens[0] <= FORCED_TOKENS
        rendered = render_prompt(tokenizer, call.messages)
        assert rendered.endswith("<|im_start|>assistant\n<think>\n" + head + preset.answer_cue)
    assert forced["texts"]["8"][0].startswith(preset.answer_cue) and forced["tokens"] == sum(
        c.completion_tokens[0] for c in asked)
    # a sample that stopped within the budget with its reasoning closed keeps its own answer
    assert finished_within("x</think> \\boxed{3}", 5, "stop", 8, "<think>\n", preset.think_markers)
    assert not finished_within("x \\boxed{3}", 5, "stop", 8, "<think>\n", preset.think_markers)
    assert not finished_within("x</think>", 9, "stop", 8, "<think>\n", preset.think_markers)
    assert auto_budgets(256) == (32, 64, 128, 256) and auto_budgets(32768) == (1024, 2048, 4096, 8192, 16384, 32768)


def journal(folder: Path) -> list[dict]:
    [path] = (folder / "answers").glob("*_answers.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def metrics_rows(folder: Path) -> list[dict]:
    with open(folder / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def eval_cli(tmp_path, *flags, round_name="s") -> tuple[int, Path | None]:
    try:
        code = main(["eval", "--round", round_name, "--results_dir", str(tmp_path), "--device", "cpu",
                     "--no_progress", *flags])
    except SystemExit as exit_:  # a flag the parser refuses
        code = exit_.code
    folders = [p for p in tmp_path.glob(f"{round_name}_*") if p.is_dir()]
    return code, folders[0] if folders else None


def test_sampled_evaluation_end_to_end_and_seeded_at_any_batch_size(tmp_path, capsys):
    common = ["--dataset", "synthetic", "--count", "2", "--temperature", "0.8", "--max_new_tokens", "24"]
    code, folder = eval_cli(tmp_path / "a", *common, "--num_samples", "4", "--batch_size", "4")
    out = capsys.readouterr().out
    assert code == 0
    records = journal(folder)
    assert all(len(r["sample_responses"]) == 4 and len(r["samples_correct"]) == 4 for r in records)
    assert all(r["response"] == r["sample_responses"][0] for r in records)
    row = metrics_rows(folder)[-1]
    shares = [sum(r["samples_correct"]) / 4 for r in records]
    assert float(row["avg_at_n"]) == pytest.approx(sum(shares) / len(shares), abs=1e-6)
    assert row["num_samples"] == "4" and row["pass_at_k"].startswith("1=") and " 4=" in row["cons_at_k"]
    assert float(row["avg_ci_low"]) <= float(row["avg_at_n"]) <= float(row["avg_ci_high"])
    text = (folder / "metrics_standard.txt").read_text()
    for line in ("avg@4:", "pass@1:", "pass@2:", "pass@4:", "cons@4:", "Truncated:", "Reasoning:"):
        assert line in text and line in out
    # the same samples at another batch size, and the first sample is what a one-sample run draws
    code, other = eval_cli(tmp_path / "b", *common, "--num_samples", "4", "--batch_size", "3")
    assert code == 0 and [r["sample_responses"] for r in journal(other)] == [r["sample_responses"] for r in records]
    code, single = eval_cli(tmp_path / "c", *common)
    assert code == 0 and [r["response"] for r in journal(single)] == [r["sample_responses"][0] for r in records]
    # a resumed run refuses another protocol
    capsys.readouterr()
    code, _ = eval_cli(tmp_path / "a", *common, "--num_samples", "4", "--batch_size", "4", "--preset", "deepseek-r1")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "holds a run with other settings" in err[0]


def test_gsm8k_with_samples_and_a_budget_curve(tmp_path, capsys, data_dir):
    code, folder = eval_cli(tmp_path, "--dataset", "gsm8k", "--data_dir", str(data_dir), "--count", "2",
                            "--num_samples", "4", "--temperature", "0.7", "--max_new_tokens", "48",
                            "--budgets", "24,48")
    out = capsys.readouterr().out
    assert code == 0
    records = journal(folder)
    for record in records:
        assert set(record["budget_correct"]) == {"24", "48"} and all(len(v) == 4 for v in record["budget_correct"].values())
        unfinished = sum(1 for t, r in zip(record["sample_tokens"], record["sample_finish_reasons"])
                         if r != "stop" or t > 24)
        assert record["budget_forced"]["24"] == unfinished
        assert record["budget_forced"]["48"] == sum(r != "stop" for r in record["sample_finish_reasons"])
        # a sample that finished within the budget keeps its own verdict there
        for index, (tokens, reason) in enumerate(zip(record["sample_tokens"], record["sample_finish_reasons"])):
            if reason == "stop" and tokens <= 24 and record["budget_answers"]["24"][index] is None:
                assert record["budget_correct"]["24"][index] == record["samples_correct"][index]
    row = metrics_rows(folder)[-1]
    assert row["budget_curve"].startswith("24=") and " 48=" in row["budget_curve"]
    assert "Budget:      24 tokens" in out
    main(["report", str(folder), "-o", str(tmp_path / "report.html")])
    page = (tmp_path / "report.html").read_text()
    assert 'id="sampling"' in page and 'data-plot="budget"' in page and 'data-col="cons@4"' in page


@pytest.mark.parametrize("flags, message", [
    (["--preset", "nope"], "unknown --preset 'nope'"),
    (["--num_samples", "0"], "expected a positive integer"),
    (["--num_samples", "4", "--pass_k", "8"], "--pass_k 8 needs at least 8 samples per problem"),
    (["--preset", "qwen3-thinking", "--max_new_tokens", "64"], "template lacks"),
    (["--max_new_tokens", "9000"], "does not fit smollm2-135m's context of 8192 tokens"),
    (["--preset", "deepseek-r1"], "--max_new_tokens 32768 does not fit smollm2-135m's context"),
    (["--budgets", "64", "--max_new_tokens", "32"], "--budgets: each budget must be"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, flags, message):
    code, folder = eval_cli(tmp_path, "--dataset", "synthetic", "--count", "2", *flags)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert folder is None and not any(tmp_path.iterdir())


def test_top_k_one_samples_the_greedy_tokens(transformers_backend, smollm2_path):
    """top_k = 1 at temperature 1 leaves only the likeliest token: the greedy text, on both local samplers."""
    from matheval.engines.native import NativeEngine

    messages = [{"role": "user", "content": "Count from one to five."}]
    greedy, top1 = Sampling(max_tokens=12), Sampling(max_tokens=12, temperature=1.0, top_k=1, seed=3)
    [a, b] = transformers_backend.generate_batch([Request(messages, greedy), Request(messages, top1)], 2)
    assert a.texts == b.texts
    with NativeEngine(smollm2_path, EngineOptions(extra={"num_kv_blocks": 64})) as native:
        [c, d] = native.generate_many([(messages, greedy), (messages, top1)])
    assert c.token_ids == d.token_ids and c.texts == a.texts
    with pytest.raises(UserError):
        Sampling(top_k=-1)


def test_native_long_generations_are_preempted_and_resumed(smollm2_path, tokenizer):
    """Three sequences of 100 tokens each in a cache of 10 blocks of 16 tokens (160 tokens: one at a time
    near the end): sequences are preempted and recomputed, and each text is the one it has alone. A cache
    that cannot hold one sequence's prompt and cap says so instead of cutting it short."""
    from matheval.engines.native import NativeEngine

    prompts = [encode_prompt(tokenizer, [{"role": "user", "content": q}]) for q in
               ("Tell a story about a cat.", "Describe the sea.", "Explain rain to a child.")]
    wanted = Sampling(max_tokens=100)
    with NativeEngine(smollm2_path, EngineOptions(extra={"num_kv_blocks": 64})) as roomy:
        alone = [roomy.generate_many([(p, wanted)], ignore_eos=True)[0] for p in prompts]
    with NativeEngine(smollm2_path, EngineOptions(extra={"num_kv_blocks": 10})) as small:
        crowded = small.generate_many([(p, wanted) for p in prompts], ignore_eos=True)
        assert small.native_stats()["preemptions"] > 0
        with pytest.raises(UserError, match="needs 1[0-9]{2} tokens of KV cache"):
            small.generate_many([(prompts[0], Sampling(max_tokens=140))])
    assert [c.token_ids for c in crowded] == [a.token_ids for a in alone]
    assert all(len(c.token_ids[0]) == 100 for c in crowded)


def test_anchors_are_cited_and_matched(tmp_path):
    anchors = load_anchors()
    assert anchors and all(a.source.startswith("https://") and a.table and 0 < a.value <= 100 for a in anchors)
    r1 = matching(["DeepSeek-R1-Distill-Qwen-1.5B"], "aime24", "deepseek-r1", "standard")
    assert sorted(a.label for a in r1) == ["cons@64", "pass@1"] and {a.value for a in r1} == {28.9, 52.7}
    assert not matching(["DeepSeek-R1-Distill-Qwen-1.5B"], "aime24", "matheval", "standard")
    records = [{"id": str(i), "correct": i < 9, "samples_correct": [i < 9] * 8, "sample_groups": [0] * 8}
               for i in range(30)]
    summary = summarize(records)  # avg@8 30%, 95% CI about 16.6-48.1%
    lines = comparison_lines(["deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"], "aime24", "deepseek-r1", "standard",
                             summary, GenerationSettings(max_new_tokens=8192, temperature=0.6, top_p=0.95), 8)
    assert len(lines) == 2
    assert "published pass@1 28.9% vs ours avg@8 30.0%" in lines[0] and ": inside our interval" in lines[0]
    assert "max_new_tokens 8192 (published 32768)" in lines[0] and "8 samples per problem (published 64)" in lines[0]
    assert "no cons@64" in lines[1]


def test_few_problems_warn_and_say_which_n():
    assert samples_for(30) == 64 and samples_for(40) == 32 and samples_for(500) == 4
    warning = few_problems_warning("aime25", 30, 4, 0.6)
    assert "--num_samples 64 brings that under ±3%" in warning and "±8.9%" in warning
    assert few_problems_warning("aime25", 30, 64, 0.6) is None
    assert few_problems_warning("aime25", 30, 1, 0.0) is None  # greedy: no sampling noise
    assert few_problems_warning("gsm8k", 1319, 1, 0.7) is None


def test_a_session_takes_the_presets_template_switch_and_refuses_another_once_loaded(tmp_path, smollm2_path, data_dir):
    """A model whose template has Qwen3's enable_thinking switch: the first evaluation on a fresh session sets
    it (thinking off), the prompt ends in the closed empty reasoning block, and a thinking-on preset on the
    loaded session is refused in one line instead of running with the wrong switch."""
    import matheval

    folder = tmp_path / "qwen3-like"
    folder.mkdir()
    for each in Path(smollm2_path).iterdir():
        if each.name != "chat_template.jinja":
            (folder / each.name).symlink_to(each)
    (folder / "chat_template.jinja").write_text(QWEN3_LIKE)
    with matheval.load(str(folder)) as session:
        outcome = matheval.evaluate(dataset="aime25", data_dir=str(data_dir), engine=session, count=1,
                                    preset="qwen3-non-thinking", max_new_tokens=4, results_dir=str(tmp_path / "r"),
                                    progress=False)
        assert session.options.chat_template_kwargs == {"enable_thinking": False}
        backend = session.engine().backend  # what the run's engine renders for a prompt of this preset
        messages = build_messages(load_problems("aime25", data_dir)[0], "standard", preset=PRESETS["qwen3-non-thinking"])
        [row] = backend.rows_of([Request(messages, Sampling())])
        prompt = backend.tokenizer.decode(row.prompt_ids)
        assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n") and outcome.summary.count == 1
        with pytest.raises(UserError, match="load a session for this preset"):
            matheval.evaluate(dataset="aime25", data_dir=str(data_dir), engine=session, count=1,
                              preset="qwen3-thinking", max_new_tokens=4, results_dir=str(tmp_path / "r"))
