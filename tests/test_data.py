"""matheval.data against the real benchmark files in the shared data folder (MATHEVAL_DATA_DIR)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from matheval.data import (DATASETS, SYNTHETIC_SIZE, FieldMap, Problem, dataset_name, load_examples, load_problems,
                           split_datasets)
from matheval.data.examples import BUILTIN_EXAMPLES
from matheval.data.synthetic import TEMPLATES, generate
from matheval.errors import UserError

REPO = Path(__file__).resolve().parents[1]

# Record counts from the shared data README.
LOCAL_COUNTS = {
    "gsm8k": 1319,
    "math500": 500,
    "aime24": 30,
    "aime25": 30,
    "amc23": 40,
    "svamp": 1000,
    "asdiv": 2215,
    "mawps": 2065,
    "minerva_math": 272,
    "olympiadbench": 675,
    "college_math": 2818,
}

# Gold answers read by hand from the files (id -> answer).
KNOWN_ANSWERS = {
    "gsm8k": {"gsm8k-0": "18", "gsm8k-1": "3", "gsm8k-146": "2125"},  # "#### 2,125"
    "math500": {"test/precalculus/807.json": "\\left( 3, \\frac{\\pi}{2} \\right)"},
    "aime24": {"aime24-60": "204", "aime24-67": "25", "aime24-89": "902"},  # file has "025"
    "aime25": {"aime25-0": "70", "aime25-1": "588"},  # AIME 2025 I problems 1 and 2
    "amc23": {"amc23-0": "27", "amc23-3": "3159", "amc23-17": "-1"},  # file has 27.0, -1.0
    "svamp": {"chal-777": "145"},  # 145.0
    "asdiv": {"asdiv-0": "9", "asdiv-849": "5:6", "asdiv-1313": "-(1/3)"},  # "9 (apples)"
    "mawps": {"mawps-0": "43", "mawps-288": "0.6666666667"},
    "minerva_math": {"minerva_math-0": "1.6"},  # last \boxed{1.6} of the solution
    "olympiadbench": {
        "olympiadbench-1606": "2",
        "olympiadbench-1618": "(1,8,19), (2,7,13), (4,5,7)",
        "olympiadbench-1664": "69,84",  # ["$69$,$84$"]
    },
    "college_math": {"Beginning_and_Intermediate_Algebra/exercise.0.4.61": "10-4 n"},  # "$10-4 n$"
}


@pytest.fixture(scope="module")
def loaded(data_dir) -> dict[str, list[Problem]]:
    return {name: load_problems(name, data_dir) for name in LOCAL_COUNTS}


def test_registry_lists_every_benchmark():
    expected = set(LOCAL_COUNTS) | {"math", "synthetic"}
    assert expected <= set(DATASETS)


@pytest.mark.parametrize("name", sorted(LOCAL_COUNTS))
def test_local_dataset_loads_completely(loaded, name):
    problems = loaded[name]
    assert len(problems) == LOCAL_COUNTS[name]
    assert all(isinstance(p, Problem) for p in problems)
    assert all(p.question.strip() and p.answer.strip() for p in problems)
    assert len({p.id for p in problems}) == len(problems)


@pytest.mark.parametrize("name", sorted(KNOWN_ANSWERS))
def test_known_gold_answers(loaded, name):
    by_id = {p.id: p for p in loaded[name]}
    for problem_id, answer in KNOWN_ANSWERS[name].items():
        assert by_id[problem_id].answer == answer


def test_field_mappings(loaded):
    gsm = loaded["gsm8k"][1]
    assert "<<" not in gsm.solution and gsm.solution.endswith("The answer is 3.")
    m500 = {p.id: p for p in loaded["math500"]}["test/precalculus/807.json"]
    assert m500.question.startswith("Convert the point $(0,3)$")
    assert m500.metadata == {"level": 2, "subject": "Precalculus", "unique_id": "test/precalculus/807.json"}
    assert "\\boxed" in m500.solution
    svamp = {p.id: p for p in loaded["svamp"]}["chal-777"]
    assert svamp.question == (
        "There are 87 oranges and 290 bananas in Philip's collection. If the bananas are organized "
        "into 2 groups and oranges are organized into 93 groups. How big is each group of bananas?"
    )
    asdiv = {p.id: p for p in loaded["asdiv"]}["asdiv-0"]
    assert asdiv.question == ("Seven red apples and two green apples are in the basket. "
                              "How many apples are in the basket?")
    mawps = loaded["mawps"][0]
    assert mawps.question.startswith("Joan found 70 seashells") and mawps.metadata == {"type": "singleeq"}
    olympiad = {p.id: p for p in loaded["olympiadbench"]}
    assert olympiad["olympiadbench-2592"].metadata["error"] == "1e-1"
    assert olympiad["olympiadbench-2253"].metadata["unit"] == "minute"
    assert all("$" not in p.answer for p in loaded["olympiadbench"])
    assert not any(p.answer.endswith(".0") for name in ("svamp", "mawps", "amc23") for p in loaded[name])


def test_count_takes_the_first_problems(data_dir, loaded):
    first = load_problems("gsm8k", data_dir, count=5)
    assert first == loaded["gsm8k"][:5]
    assert len(load_problems("gsm8k", data_dir, count=1319)) == 1319


def test_count_too_large(data_dir):
    with pytest.raises(UserError, match=r"^gsm8k has 1319 problems; use --count 1319 or less$"):
        load_problems("gsm8k", data_dir, count=1320)
    with pytest.raises(UserError, match="positive"):
        load_problems("gsm8k", data_dir, count=0)


def test_unknown_dataset_lists_known_names(data_dir):
    with pytest.raises(UserError) as caught:
        load_problems("gsm9k", data_dir)
    message = str(caught.value)
    assert "unknown dataset 'gsm9k'" in message
    assert all(name in message for name in DATASETS)


def test_environment_variable_points_at_local_files(monkeypatch, data_dir):
    monkeypatch.setenv("MATHEVAL_DATA_DIR", str(data_dir))
    assert len(load_problems("aime24")) == 30


def test_train_split_has_its_own_ids(data_dir):
    train = load_problems("gsm8k", data_dir, split="train")
    assert len(train) == 7473
    assert train[0].id == "train:gsm8k-0" and train[0].answer == "72"


def test_missing_local_file_says_what_to_do(data_dir, tmp_path):
    with pytest.raises(UserError, match="hub.*math500"):
        load_problems("math", data_dir)
    with pytest.raises(UserError, match="does not exist"):
        load_problems("gsm8k", tmp_path / "nowhere")
    with pytest.raises(UserError, match="no local aime24 test file"):
        load_problems("aime24", tmp_path)


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _gsm8k_line(i: int) -> str:
    return json.dumps({"question": f"What is {i} + 1?", "answer": f"{i} + 1 = {i + 1}\n#### {i + 1}"})


def test_malformed_jsonl_names_file_and_line(tmp_path):
    lines = [_gsm8k_line(i) for i in range(16)] + ['{"question": "broken", "answer": ']
    path = _write_lines(tmp_path / "gsm8k" / "test.jsonl", lines)
    with pytest.raises(UserError) as caught:
        load_problems("gsm8k", tmp_path)
    assert str(caught.value).startswith(f"{path} line 17: not valid JSON (")


def test_blank_lines_are_skipped_but_counted(tmp_path):
    lines = [_gsm8k_line(0), "", _gsm8k_line(1), "[1, 2]"]
    path = _write_lines(tmp_path / "gsm8k" / "test.jsonl", lines)
    with pytest.raises(UserError, match=re.escape(f"{path} line 4: expected a JSON object")):
        load_problems("gsm8k", tmp_path)
    _write_lines(path, lines[:3])
    assert [p.answer for p in load_problems("gsm8k", tmp_path)] == ["1", "2"]


def test_missing_field_names_file_line_and_field(tmp_path):
    good = {"Body": "Ann has 3 pens.", "Question": "How many pens?", "Answer": 3.0, "ID": "a"}
    bad = {"Body": "Bo has 4 pens.", "Question": "How many pens?", "ID": "b"}
    path = _write_lines(tmp_path / "qwen25math" / "svamp" / "test.jsonl",
                        [json.dumps(good), json.dumps(dict(good, ID="c")), json.dumps(bad)])
    with pytest.raises(UserError, match=re.escape(f"{path} line 3: missing field 'Answer'")):
        load_problems("svamp", tmp_path)
    gsm = _write_lines(tmp_path / "gsm8k" / "test.jsonl", [json.dumps({"question": "Q?", "answer": "42"})])
    with pytest.raises(UserError, match=re.escape(f"{gsm} line 1: answer has no '#### <number>' line")):
        load_problems("gsm8k", tmp_path)


def test_duplicate_ids_are_refused(tmp_path):
    record = {"id": 5, "problem": "What is 2+2?", "answer": "4"}
    _write_lines(tmp_path / "qwen25math" / "aime24" / "test.jsonl", [json.dumps(record)] * 2)
    with pytest.raises(UserError, match="line 2: duplicate problem id 'aime24-5'"):
        load_problems("aime24", tmp_path)


def test_olympiadbench_proof_items_are_skipped(tmp_path):
    answerable = {"id": 1, "question": "Find $x$.", "final_answer": ["$3$"], "solution": ["x=3"]}
    proof = {"id": 2, "question": "Prove that $x>0$.", "final_answer": None, "solution": ["..."]}
    _write_lines(tmp_path / "qwen25math" / "olympiadbench" / "test.jsonl",
                 [json.dumps(proof), json.dumps(answerable)])
    problems = load_problems("olympiadbench", tmp_path)
    assert [(p.id, p.answer) for p in problems] == [("olympiadbench-1", "3")]


def test_dataset_without_hub_source_needs_local_files(monkeypatch):
    monkeypatch.delenv("MATHEVAL_DATA_DIR", raising=False)
    with pytest.raises(UserError, match="college_math has no hub source; pass --data_dir"):
        load_problems("college_math")


HUB_CODE = (
    "from matheval.data import load_problems\n"
    "from matheval.errors import UserError\n"
    "try:\n    load_problems('aime24')\n"
    "except UserError as exc:\n    print('USERERROR', exc)\n"
)


@pytest.mark.parametrize("offline", [{"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}],
                         ids=["HF_HUB_OFFLINE", "unreachable"])
def test_hub_failure_is_one_line_without_retries(offline):
    """Really asks the datasets library: with HF_HUB_OFFLINE, or a hub that cannot be reached (a closed port
    here, as with no network), the failure is one UserError line, with no minute of retry messages first."""
    env = {k: v for k, v in os.environ.items() if k not in ("MATHEVAL_DATA_DIR", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    env.update(offline, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", HUB_CODE], env=env, capture_output=True, text=True, timeout=120)
    line = [l for l in result.stdout.splitlines() if l.startswith("USERERROR")]
    assert line, result.stdout + result.stderr
    assert "could not load aime24 from the hub (HuggingFaceH4/aime_2024): not in the local datasets cache" in line[0]
    assert ("HF_HUB_OFFLINE is set" if "HF_HUB_OFFLINE" in offline else "127.0.0.1 cannot be reached") in line[0]
    assert "pass --data_dir with local files (layout: <data_dir>/qwen25math/aime24/test.jsonl)" in line[0]
    assert "Retrying" not in result.stderr and "Retry" not in result.stdout


# --- few-shot examples ----------------------------------------------------------------------------

def test_fewshot_examples_come_from_train_split(data_dir, loaded):
    first = load_examples("gsm8k", 4, data_dir)
    assert first == load_examples("gsm8k", 4, data_dir)
    assert len(first) == 4 and all(p.id.startswith("train:gsm8k-") for p in first)
    test_questions = {p.question for p in loaded["gsm8k"]} | {p.question for p in loaded["svamp"]}
    assert not any(p.question in test_questions for p in first)
    assert all(p.solution for p in first)
    # word-problem sets borrow GSM8K's train split
    assert load_examples("svamp", 4, data_dir) == first
    assert load_examples("gsm8k", 0, data_dir) == []


def test_fewshot_falls_back_to_builtin_examples(data_dir, loaded):
    examples = load_examples("aime24", 4, data_dir)
    assert examples == load_examples("aime24", 4, data_dir)
    assert all(p.id.startswith("builtin-competition-") for p in examples)
    all_test = {p.question for name in loaded for p in loaded[name]}
    assert not any(p.question in all_test for p in examples)
    with pytest.raises(UserError, match="built-in few-shot examples"):
        load_examples("math500", 9, data_dir)


def test_synthetic_fewshot_uses_its_train_split():
    examples = load_examples("synthetic", 4)
    assert examples == load_examples("synthetic", 4)
    test_questions = {p.question for p in load_problems("synthetic")}
    assert all(p.id.startswith("synthetic-train-") for p in examples)
    assert not any(p.question in test_questions for p in examples)


# --- arithmetic checking, shared by the synthetic set and the built-in word examples ---------------

EQUATION = re.compile(r"(\d+(?:\.\d+)?) ([-+*/]) (\d+(?:\.\d+)?) = (\d+(?:\.\d+)?)")
OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}


def check_arithmetic(problem: Problem, constants=frozenset({"100", "1000", "4"})) -> None:
    """Every equation in the solution is right, each operand comes from the question, an earlier
    result or a unit constant, and the last result is the gold answer."""
    available = set(re.findall(r"\d+(?:\.\d+)?", problem.question)) | set(constants)
    equations = EQUATION.findall(problem.solution)
    assert equations, problem.solution
    for a, op, b, result in equations:
        assert OPS[op](Fraction(a), Fraction(b)) == Fraction(result), (problem.id, a, op, b, result)
        assert a in available and b in available, (problem.id, a, op, b, problem.question)
        available.add(result)
    assert Fraction(equations[-1][3]) == Fraction(problem.answer), problem.id


def test_builtin_word_examples_are_correct():
    for example in BUILTIN_EXAMPLES["word"]:
        check_arithmetic(example, constants={"0.3", "2", "5", "6"})
    for example in BUILTIN_EXAMPLES["word"] + BUILTIN_EXAMPLES["competition"]:
        assert example.solution.endswith(f"\\boxed{{{example.answer}}}." if "$" not in example.solution
                                         else f"\\boxed{{{example.answer}}}$.")


# --- synthetic ------------------------------------------------------------------------------------

def test_synthetic_is_deterministic_and_sliceable():
    problems = load_problems("synthetic")
    assert len(problems) == SYNTHETIC_SIZE == 500
    assert problems == load_problems("synthetic")
    assert load_problems("synthetic", count=10) == problems[:10]
    assert len(load_problems("synthetic", count=700)) == 700
    assert len({p.id for p in problems}) == 500


SYNTHETIC_500_SHA256 = "9c7973f8c4411027d4aefa9de1cba6049593816333f9c1fb7015746456650a44"


def _digest(problems) -> str:
    blob = json.dumps([[p.id, p.question, p.answer, p.solution, p.metadata] for p in problems])
    return hashlib.sha256(blob.encode()).hexdigest()


def test_synthetic_is_the_same_in_every_process():
    """Pinned: a change here changes the benchmark (update the digest only on purpose)."""
    code = ("from matheval.data import load_problems; import json, hashlib;"
            "ps = load_problems('synthetic');"
            "print(hashlib.sha256(json.dumps([[p.id, p.question, p.answer, p.solution, p.metadata]"
            " for p in ps]).encode()).hexdigest())")
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONHASHSEED="12345")
    other = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           check=True, timeout=120).stdout.strip()
    here = _digest(load_problems("synthetic"))
    assert other == here == SYNTHETIC_500_SHA256


def test_synthetic_levels_templates_and_metadata():
    problems = load_problems("synthetic")
    assert [p.metadata["level"] for p in problems[:10]] == [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    assert {p.metadata["template"] for p in problems[:10]} == set(TEMPLATES)
    assert len(TEMPLATES) >= 8
    pairs = {(p.metadata["template"], p.metadata["level"]) for p in problems[:50]}
    assert len(pairs) == len(TEMPLATES) * 5
    for p in problems:
        assert set(p.metadata) == {"level", "template", "steps"}
        assert p.metadata["steps"] == len(EQUATION.findall(p.solution))
        assert p.solution.endswith(f"The answer is {p.answer}.")
    mean_steps = [sum(p.metadata["steps"] for p in problems if p.metadata["level"] == level) / 100
                  for level in range(1, 6)]
    assert mean_steps == sorted(mean_steps) and mean_steps[0] < mean_steps[-1]
    assert all(p.metadata["steps"] <= 2 for p in problems if p.metadata["level"] == 1)


def test_synthetic_answers_check_independently():
    for seed in (0, 1, 2, 3):
        for problem in generate(500, seed=seed):
            check_arithmetic(problem)
            assert int(problem.answer) >= 0


def test_synthetic_train_split_differs_from_test():
    train = generate(500, split="train")
    test_questions = {p.question for p in load_problems("synthetic")}
    assert not any(p.question in test_questions for p in train)


# Rows as the hub serves them (column names from each dataset card), through the hub converter.
HUB_ROWS = {
    "gsm8k": ({"question": "Q?", "answer": "2 * 3 = <<2*3=6>>6\n#### 1,006"}, "1006"),
    "math": ({"problem": "P?", "level": "Level 3", "type": "Algebra",
              "solution": "So $x = \\boxed{\\frac{1}{2}}$."}, "\\frac{1}{2}"),
    "aime24": ({"id": 61, "problem": "P?", "solution": "S", "answer": "025", "url": "u",
                "year": "2024"}, "25"),
    "amc23": ({"id": 3, "question": "P?", "answer": 3159.0, "url": "u"}, "3159"),
    "svamp": ({"ID": "chal-1", "Body": "Ann has 3 pens", "Question": "How many?", "Equation": "3",
               "Answer": 3.0, "Type": "Addition"}, "3"),
    "asdiv": ({"body": "B.", "question": "Q?", "solution_type": "Sum", "answer": "12 (cats)",
               "formula": "5+7=12"}, "12"),
    "mawps": ({"id": "mawps_1", "question": "Q?", "chain": "", "result": "1/2", "result_float": 0.5,
               "equation": "", "expression": ""}, "0.5"),
    "minerva_math": ({"question": "Q?", "answer": "4.5e33"}, "4.5e33"),
    "olympiadbench": ({"id": 1700, "question": "Q?", "solution": ["S"], "final_answer": ["$\\frac{1}{2}$"],
                       "context": None, "is_multiple_answer": False, "unit": None, "answer_type": "Numerical",
                       "error": None, "subfield": "Algebra"}, "\\frac{1}{2}"),
}


@pytest.mark.parametrize("name", sorted(HUB_ROWS))
def test_hub_rows_convert(name):
    spec = DATASETS[name]
    row, answer = HUB_ROWS[name]
    problem = (spec.hub.convert or spec.convert)(row, 0)
    assert problem.answer == answer and problem.question.strip()


# --- your own files, seeded subsets ----------------------------------------------------------------

def test_own_files_in_the_common_layouts(tmp_path, data_dir):
    """The shared benchmark files given by path (GSM8K's '#### n', MATH-500's problem/answer, AIME 2025's
    problem/answer/id) and a CSV are read without field flags, and agree with the registry's loaders."""
    gsm8k = load_problems(str(data_dir / "gsm8k" / "test.jsonl"), count=5)
    assert [p.answer for p in gsm8k] == [p.answer for p in load_problems("gsm8k", data_dir, count=5)]
    assert gsm8k[0].id == "test-0" and gsm8k[0].answer == "18"
    math500 = load_problems(str(data_dir / "math500" / "test.jsonl"), count=3)
    assert [p.answer for p in math500] == [p.answer for p in load_problems("math500", data_dir, count=3)]
    assert math500[0].id == "test/precalculus/807.json" and math500[0].metadata["level"] == 2
    aime25 = load_problems("aime25", data_dir)
    assert len(aime25) == 30 and aime25[0].answer == "70" and aime25[0].metadata["contest"] == "AIME 2025 I"
    table = tmp_path / "mine.csv"
    table.write_text("question,answer\nWhat is 2+3?,5\nHalf of 9?,4.5\n")
    assert [(p.id, p.answer) for p in load_problems(str(table))] == [("mine-0", "5"), ("mine-1", "4.5")]


def test_own_file_field_flags_and_one_line_errors(tmp_path):
    own = tmp_path / "own.jsonl"
    own.write_text(json.dumps({"q": "1+1?", "gold": "2", "key": "a"}) + "\n" + json.dumps({"q": "2+2?", "gold": "4", "key": "b"}) + "\n")
    with pytest.raises(UserError, match=r"own.jsonl line 1: no question field .*--question_field .*fields are: q, gold, key"):
        load_problems(str(own))
    problems = load_problems(str(own), fields=FieldMap(question="q", id="key"))
    assert [(p.id, p.question, p.answer) for p in problems] == [("a", "1+1?", "2"), ("b", "2+2?", "4")]
    with pytest.raises(UserError, match="no field 'answer' .--answer_field"):
        load_problems(str(own), fields=FieldMap(question="q", answer="answer"))
    with pytest.raises(UserError, match="no such file"):
        load_problems(str(tmp_path / "missing.jsonl"))
    with pytest.raises(UserError, match="apply to a file"):
        load_problems("gsm8k", fields=FieldMap(question="q"))


def test_seeded_random_subset(data_dir):
    first = load_problems("gsm8k", data_dir, limit=10, sample_seed=1)
    assert first == load_problems("gsm8k", data_dir, limit=10, sample_seed=1)  # the same draw every time
    other = load_problems("gsm8k", data_dir, limit=10, sample_seed=2)
    assert len(first) == len(other) == 10 and first != other
    order = [p.id for p in load_problems("gsm8k", data_dir)]
    assert [order.index(p.id) for p in first] == sorted(order.index(p.id) for p in first)  # in dataset order
    assert [p.id for p in first] != order[:10]
    with pytest.raises(UserError, match="exclude each other"):
        load_problems("gsm8k", data_dir, count=5, limit=5)
    with pytest.raises(UserError, match="--sample_seed chooses the problems of --limit N"):
        load_problems("gsm8k", data_dir, count=5, sample_seed=2)
    with pytest.raises(UserError, match="has 30 problems; use --limit 30"):
        load_problems("aime25", data_dir, limit=31)
    assert dataset_name("gsm8k", 10, 1) == "gsm8k.sample1" and dataset_name("/x/my data.jsonl") == "my data"
    assert dataset_name("HuggingFaceH4/MATH-500") == "math500" and split_datasets("gsm8k, math500,") == ["gsm8k", "math500"]
