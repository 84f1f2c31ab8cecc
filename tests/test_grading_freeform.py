"""Free-form responses (tests/grading_cases.py): every class of issue 16 graded right, none worse than plain
math-verify; truncated responses get no guessed answer; the reasoning splitter; the peer graders."""

from __future__ import annotations

import importlib.util
import json
from collections import defaultdict

import pytest

from grading_cases import CASES
from matheval.errors import UserError
from matheval.grading import extract_answer, find_answer, grade, is_equivalent, same_answer, split_reasoning, vote
from matheval.grading.graders import GRADERS, available_graders, get_grader
from matheval.grading.numbers import decimal_matches, parse_number


@pytest.mark.parametrize("name, response, gold, expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_freeform_case(name, response, gold, expected):
    result = grade(response, gold)
    assert result.correct is expected, (result.extracted, result.rule)


def test_no_class_is_below_plain_math_verify(capsys):
    """Agreement with the expected verdicts, per class: matheval against plain math-verify (measured on
    2026-12-01: matheval 138/138, math-verify 114/138)."""
    ours, peer, sizes = defaultdict(int), defaultdict(int), defaultdict(int)
    plain = get_grader("math-verify")
    for name, response, gold, expected in CASES:
        sizes[name] += 1
        ours[name] += grade(response, gold).correct is expected
        peer[name] += plain(response, gold).correct is expected
    with capsys.disabled():
        print(f"\n[grading] free-form cases: matheval {sum(ours.values())}/{len(CASES)}, "
              f"plain math-verify {sum(peer.values())}/{len(CASES)}")
    for name in sizes:
        assert ours[name] >= peer[name], name
    assert sum(ours.values()) == len(CASES)


def test_plain_math_verify_is_the_library_itself():
    """The audit's math-verify is the library's own verdict (so the comparison above is fair): it gets the
    classes it is known for right and the ones it is known for wrong."""
    plain = get_grader("math-verify")
    assert plain(r"So $\boxed{\frac{1}{2}}$.", "0.5").correct
    assert plain("Hence $y \\leq 7$ holds.", "y \\le 7").correct
    assert plain(r"\boxed{Amy}", "May").correct  # it reads both as a*m*y; matheval's worded rule refuses
    assert not grade(r"\boxed{Amy}", "May").correct


# ---- truncation ---------------------------------------------------------------------------------------


def test_truncated_responses_get_no_guessed_answer():
    guess = "We have 3 apples and then 4 more, so"
    assert grade(guess, "7").extracted == "4"
    cut = grade(guess, "4", finish_reason="length")
    assert (cut.extracted, cut.correct, cut.truncated) == (None, False, True)
    boxed = grade(r"So the answer is \boxed{7}. Now let me also check that 3 + 4", "7", finish_reason="length")
    assert (boxed.extracted, boxed.correct, boxed.truncated) == ("7", True, True)  # an explicit answer counts
    assert grade(r"<think>so it is \boxed{7}", "7").truncated  # never closed: not answered yet
    assert not grade(r"<think>so it is \boxed{7}", "7").correct
    assert not grade(r"<think>x</think> \boxed{7}", "7").truncated
    assert extract_answer(guess, "length") is None and extract_answer(guess, "stop") == "4"
    assert find_answer(guess, "length").truncated and find_answer(guess).rule == "number"


def test_split_reasoning_api():
    """The small API reasoning presets build on: markers are parameters."""
    split = split_reasoning("<think>a</think>b")
    assert (split.reasoning, split.answer, split.closed) == ("a", "b", True)
    assert split_reasoning("thinking</think> answer").answer == " answer"  # the template opened it
    assert split_reasoning("<think>still thinking").closed is False
    assert split_reasoning("<think>still thinking").answer == ""
    assert split_reasoning("no markers").closed is None
    custom = split_reasoning("<|begin_of_thought|>x<|end_of_thought|>y", "<|begin_of_thought|>", "<|end_of_thought|>")
    assert (custom.reasoning, custom.answer) == ("x", "y")
    found = find_answer("[R]4[/R] so 5", markers=("[R]", "[/R]"))
    assert found.answer == "5"


# ---- numbers, box groups and votes ----------------------------------------------------------------------


def test_long_decimal_rule():
    from fractions import Fraction

    assert decimal_matches(Fraction(1, 7), "0.14285714") and decimal_matches(Fraction(1, 7), "0.14285715") is False
    assert decimal_matches(Fraction(2, 3), "0.66666667") and decimal_matches(Fraction(2, 3), "0.66666666")
    assert not decimal_matches(Fraction(1, 3), "0.3333333")  # 7 significant digits: not enough
    assert not decimal_matches(Fraction(25, 2), "12.000000")
    assert parse_number("2.5e4").values == {Fraction(25000)}
    assert parse_number(r"-3 \times 10^{-2}").values == {Fraction(-3, 100)}
    assert parse_number(r"\frac9{19}").values == {Fraction(9, 19)}
    assert parse_number("3,75") is None and parse_number("3,75", decimal_comma=True).values == {Fraction(15, 4)}
    assert parse_number("1,500", decimal_comma=True).values == {Fraction(1500)}


def test_box_groups_vote_together():
    assert extract_answer(r"so $\boxed{2}, \boxed{5}$") == r"\boxed{2}, \boxed{5}"
    assert same_answer(r"\boxed{2}, \boxed{5}", "5, 2") and not same_answer(r"\boxed{2}, \boxed{5}", "5")
    assert vote([r"\boxed{2}, \boxed{5}", "2, 5", "5"]) == r"\boxed{2}, \boxed{5}"
    assert is_equivalent(r"\boxed{2}, \boxed{5}", "5")  # a one-part gold reads the last box, as before
    assert extract_answer(r"\boxed{4}. Checking again, \boxed{6}") == "6"  # prose between: not a group


def test_reference_solutions_of_aime25_match_their_gold(data_dir):
    """AIME 2025 has no solutions: its answers, written as a model would end a solution, in each marker."""
    with open(data_dir / "qwen25math" / "aime25" / "test.jsonl", encoding="utf-8") as lines:
        answers = [str(json.loads(line)["answer"]) for line in lines]
    assert len(answers) == 30
    for answer in answers:
        for response in (rf"Thus the answer is $\boxed{{{answer}}}$.", f"The final answer is {answer}.",
                         f"... so the count is {answer}.", f"<think>maybe 1</think>\n#### {answer}"):
            assert grade(response, answer).correct, response
        assert not grade(rf"\boxed{{{int(answer) + 1}}}", answer).correct


# ---- peer graders ---------------------------------------------------------------------------------------


def test_graders_are_listed_and_unknown_ones_refused():
    assert set(available_graders()) <= set(GRADERS) and {"matheval", "math-verify"} <= set(available_graders())
    with pytest.raises(UserError, match="unknown --grader"):
        get_grader("sympy")


@pytest.mark.skipif(importlib.util.find_spec("lm_eval") is not None, reason="lm-eval is installed here")
def test_lm_eval_grader_needs_its_package():
    with pytest.raises(UserError, match=r"pip install 'matheval\[lm-eval\]'"):
        get_grader("lm-eval")


@pytest.mark.skipif(importlib.util.find_spec("lm_eval") is None, reason="lm-eval is not installed (an extra)")
def test_lm_eval_grader_reads_gsm8k_like_lm_eval():
    lm_eval = get_grader("lm-eval")
    assert lm_eval("She pays 2 * 9 = 18 dollars.\n#### 18", "18").correct
    assert lm_eval("So she has $1,250.", "1250").correct  # its regexes drop "," and "$"
    assert not lm_eval(r"So $\boxed{\frac{1}{2}}$", r"\frac{1}{2}").correct  # the last number only


def test_grade_takes_other_reasoning_markers():
    response = "<|begin_of_thought|>maybe 3<|end_of_thought|> so \\boxed{4}"
    assert grade(response, "4", markers=("<|begin_of_thought|>", "<|end_of_thought|>")).correct
    assert grade("<|begin_of_thought|>maybe 3", "3", markers=("<|begin_of_thought|>", "<|end_of_thought|>")).truncated
