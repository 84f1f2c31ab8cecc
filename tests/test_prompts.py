"""matheval.prompts: the shape and wording of each prompt mode, on real problems and examples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from matheval.data import load_examples, load_problems
from matheval.errors import UserError
from matheval.prompts import DEFAULT_FEWSHOT_K, MODES, build_messages, worked_solution

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = str(Path(os.environ.get("MATHEVAL_DATA_DIR") or REPO.parent / "shared" / "data"))


@pytest.fixture(scope="module")
def gsm8k_problem():
    return load_problems("gsm8k", DATA_DIR, count=1)[0]


def _well_formed(messages):
    assert messages and all(set(m) == {"role", "content"} for m in messages)
    assert all(isinstance(m["content"], str) and m["content"].strip() for m in messages)
    assert messages[-1]["role"] == "user"


def test_modes_and_defaults():
    assert MODES == ("standard", "fewshot", "direct")
    assert DEFAULT_FEWSHOT_K == 4


def test_standard_asks_for_reasoning_and_a_boxed_answer(gsm8k_problem):
    messages = build_messages(gsm8k_problem, "standard")
    _well_formed(messages)
    assert len(messages) == 1
    content = messages[0]["content"]
    assert content.startswith(gsm8k_problem.question)
    assert "step by step" in content and "\\boxed{}" in content


def test_direct_asks_for_the_answer_only(gsm8k_problem):
    messages = build_messages(gsm8k_problem, "direct")
    _well_formed(messages)
    assert len(messages) == 1
    content = messages[0]["content"]
    assert content.startswith(gsm8k_problem.question)
    assert "\\boxed{" in content and "step by step" not in content and "only" in content


def test_fewshot_alternates_worked_examples_then_the_problem(gsm8k_problem):
    examples = load_examples("gsm8k", DEFAULT_FEWSHOT_K, DATA_DIR)
    messages = build_messages(gsm8k_problem, "fewshot", examples)
    _well_formed(messages)
    assert len(messages) == 2 * DEFAULT_FEWSHOT_K + 1
    assert [m["role"] for m in messages] == ["user", "assistant"] * DEFAULT_FEWSHOT_K + ["user"]
    assert messages[-1] == build_messages(gsm8k_problem, "standard")[0]
    for example, (asked, answered) in zip(examples, zip(messages[0::2], messages[1::2])):
        assert asked == build_messages(example, "standard")[0]
        reply = answered["content"]
        assert reply.endswith(f"The answer is \\boxed{{{example.answer}}}.")
        assert reply.count("The answer is") == 1 and "<<" not in reply and "####" not in reply
    assert gsm8k_problem.question not in "".join(m["content"] for m in messages[:-1])


def test_fewshot_keeps_competition_solutions_as_written():
    problem = load_problems("math500", DATA_DIR, count=1)[0]
    examples = load_examples("math500", 2, DATA_DIR)
    messages = build_messages(problem, "fewshot", examples)
    assert [m["content"] for m in messages[1::2]] == [e.solution for e in examples]
    assert all("\\boxed{" in m["content"] for m in messages[1::2])


def test_fewshot_with_synthetic_examples():
    problem = load_problems("synthetic", count=1)[0]
    examples = load_examples("synthetic", 3)
    messages = build_messages(problem, "fewshot", examples)
    assert len(messages) == 7
    for example, reply in zip(examples, messages[1::2]):
        assert reply["content"].startswith(example.solution.rsplit("\n", 1)[0])
        assert reply["content"].endswith(f"\\boxed{{{example.answer}}}.")


def test_worked_solution_without_a_solution_still_boxes_the_answer():
    bare = load_problems("amc23", DATA_DIR, count=1)[0]  # AMC records carry no solution
    assert bare.solution is None
    assert worked_solution(bare) == "The answer is \\boxed{27}."


def test_fewshot_edge_cases(gsm8k_problem):
    assert build_messages(gsm8k_problem, "fewshot", []) == build_messages(gsm8k_problem, "standard")
    with pytest.raises(ValueError, match="load_examples"):
        build_messages(gsm8k_problem, "fewshot")


def test_unknown_mode_lists_the_modes(gsm8k_problem):
    expected = "unknown prompt mode 'cot'; choose one of: standard, fewshot, direct"
    with pytest.raises(UserError, match=expected):
        build_messages(gsm8k_problem, "cot")
