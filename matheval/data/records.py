"""Per-dataset record -> Problem converters, shared by local JSONL files and hub rows.

Each converter takes one raw record (a dict) and its 0-based position, and returns a Problem, or
None for a record that is not gradable by answer (an OlympiadBench proof). A record that lacks what
its dataset needs raises BadRecord; the loader adds the file and line to the message.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from .problem import Problem


class BadRecord(Exception):
    """A record that cannot become a Problem; the message says what is wrong with it."""


def need(record: dict, *keys: str):
    """The first of `keys` present with a non-empty value; BadRecord naming them otherwise."""
    for key in keys:
        value = record.get(key)
        if value is None or (isinstance(value, (str, list)) and not value):
            continue
        if isinstance(value, str) and not value.strip():
            continue
        return value
    raise BadRecord(f"missing field {' or '.join(repr(k) for k in keys)}")


def format_number(value) -> str:
    """A gold number as a grader-friendly string: 145.0 -> "145", "025" -> "25", 0.5 -> "0.5".

    Word-problem sets store answers as floats (SVAMP, MAWPS, AMC) or zero-padded strings (AIME);
    a spurious ".0" or leading zero would make exact-match graders fail on a right answer.
    """
    if isinstance(value, bool):
        raise BadRecord(f"answer {value!r} is not a number")
    text = str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text  # not a plain number ("5:6", "Yes"): keep it as written
    if not number.is_finite():
        raise BadRecord(f"answer {value!r} is not a finite number")
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def last_boxed(text: str) -> str | None:
    r"""Contents of the last \boxed{...} (or \fbox{...}) in text, braces balanced; None if absent."""
    starts = [m for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    if not starts:
        return None
    position = starts[-1].end()
    depth = 1
    for index in range(position, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[position:index].strip()
    return None


_SINGLE_MATH_SPAN = re.compile(r"^\$((?:[^$\\]|\\.)*)\$$", re.DOTALL)


def strip_math_span(text: str) -> str:
    """'$10-4 n$' -> '10-4 n'; an answer mixing prose and math ('$\\min$ at $2$') is kept as is."""
    text = text.strip()
    match = _SINGLE_MATH_SPAN.match(text)
    return match.group(1).strip() if match else text


def strip_dollars(text: str) -> str:
    """Remove every unescaped '$' (for answers that are pure math, such as OlympiadBench's)."""
    return re.sub(r"(?<!\\)\$", "", text).strip()


def _own_id(name: str, value, index: int) -> str:
    """A dataset's own id as a stable string: integers get the dataset prefix ("aime24-60")."""
    if value is None or value == "":
        return f"{name}-{index}"
    if isinstance(value, int):
        return f"{name}-{value}"
    return str(value)


def _int_or_none(value):
    """MATH levels come as 5 or "Level 5" ("Level ?" for a few): an int where there is one."""
    if isinstance(value, int):
        return value
    match = re.search(r"\d+", str(value or ""))
    return int(match.group()) if match else None


# --- grade-school word problems -------------------------------------------------------------------

def gsm8k(record: dict, index: int) -> Problem:
    """GSM8K: the gold answer is the text after '####' with thousands commas removed.

    The solution keeps the worked text without the <<48/2=24>> calculator annotations, and ends
    "The answer is X." like every other word-problem solution here.
    """
    question = need(record, "question")
    full = need(record, "answer")
    if "####" not in full:
        raise BadRecord("answer has no '#### <number>' line")
    work, _, gold = full.rpartition("####")
    answer = format_number(gold.strip().replace(",", ""))
    if not answer:
        raise BadRecord("empty answer after '####'")
    work = re.sub(r"<<[^>]*>>", "", work).strip()
    solution = f"{work}\nThe answer is {answer}." if work else f"The answer is {answer}."
    return Problem(
        id=_own_id("gsm8k", record.get("idx"), index),
        question=question.strip(),
        answer=answer,
        solution=solution,
    )


def svamp(record: dict, index: int) -> Problem:
    """SVAMP: question = Body + " " + Question (a full stop added when Body lacks one)."""
    body = str(need(record, "Body")).strip()
    if body[-1] not in ".?!":
        body += "."
    question = f"{body} {str(need(record, 'Question')).strip()}"
    return Problem(
        id=_own_id("svamp", record.get("ID", record.get("idx")), index),
        question=question,
        answer=format_number(need(record, "Answer")),
        metadata={k: record[k] for k in ("Type", "Equation") if record.get(k)},
    )


def asdiv(record: dict, index: int) -> Problem:
    """ASDiv: question = body + " " + question; the answer drops its unit ("9 (apples)" -> "9").

    Only a parenthesised unit after a space is removed, so "-(1/3)" stays intact. A few answers
    are words ("Yes", "Bryan") or times ("3:30 p.m."); they are kept as written.
    """
    question = f"{str(need(record, 'body')).strip()} {str(need(record, 'question')).strip()}"
    raw = str(need(record, "answer"))
    answer = format_number(re.sub(r"\s+\([^()]*\)\s*$", "", raw).strip())
    metadata = {k: record[k] for k in ("solution_type", "formula") if record.get(k)}
    return Problem(
        id=_own_id("asdiv", record.get("idx"), index),
        question=question,
        answer=answer,
        metadata=metadata,
    )


def mawps(record: dict, index: int) -> Problem:
    """MAWPS (Qwen2.5-Math file): question = input, answer = target (a float, formatted)."""
    return Problem(
        id=_own_id("mawps", record.get("idx"), index),
        question=str(need(record, "input")).strip(),
        answer=format_number(need(record, "target")),
        metadata={"type": record["type"]} if record.get("type") else {},
    )


def mawps_hub(record: dict, index: int) -> Problem:
    """MAWPS on the hub (MU-NLPC/Calc-mawps): question, result_float (or result), id."""
    value = record.get("result_float")
    answer = format_number(value if value is not None else need(record, "result"))
    return Problem(
        id=_own_id("mawps", record.get("id"), index),
        question=str(need(record, "question")).strip(),
        answer=answer,
    )


# --- competition mathematics ----------------------------------------------------------------------

def math500(record: dict, index: int) -> Problem:
    """MATH-500: problem, answer, solution; level/subject/unique_id kept in metadata."""
    metadata = {k: record[k] for k in ("level", "subject", "unique_id") if record.get(k) is not None}
    return Problem(
        id=_own_id("math500", record.get("unique_id"), index),
        question=str(need(record, "problem")).strip(),
        answer=str(need(record, "answer")).strip(),
        solution=record.get("solution"),
        metadata=metadata,
    )


def math_full(record: dict, index: int) -> Problem:
    r"""Full MATH: problem and solution; the gold answer is `answer` if given, else the last \boxed{}."""
    solution = record.get("solution")
    answer = record.get("answer")
    if not (isinstance(answer, str) and answer.strip()):
        answer = last_boxed(need(record, "solution"))
        if not answer:
            raise BadRecord("no 'answer' field and no \\boxed{} answer in the solution")
    metadata = {}
    level = _int_or_none(record.get("level"))
    if level is not None:
        metadata["level"] = level
    subject = record.get("subject") or record.get("type")
    if subject:
        metadata["subject"] = subject
    return Problem(
        id=_own_id("math", record.get("unique_id", record.get("idx")), index),
        question=str(need(record, "problem")).strip(),
        answer=answer.strip(),
        solution=solution,
        metadata=metadata,
    )


def aime24(record: dict, index: int) -> Problem:
    """AIME 2024: problem, answer ("025" -> "25"), solution, url, id."""
    metadata = {k: record[k] for k in ("url", "year") if record.get(k)}
    return Problem(
        id=_own_id("aime24", record.get("id"), index),
        question=str(need(record, "problem", "question")).strip(),
        answer=format_number(need(record, "answer")),
        solution=record.get("solution"),
        metadata=metadata,
    )


def aime25(record: dict, index: int) -> Problem:
    """AIME 2025 (I and II): problem, answer, and the contest it is from ("AIME 2025 I") where given."""
    metadata = {k: record[k] for k in ("contest", "url", "year") if record.get(k)}
    return Problem(
        id=_own_id("aime25", record.get("id"), index),
        question=str(need(record, "problem", "question")).strip(),
        answer=format_number(need(record, "answer")),
        solution=record.get("solution"),
        metadata=metadata,
    )


def amc23(record: dict, index: int) -> Problem:
    """AMC 2023: question (or problem), answer (stored as a float: 27.0 -> "27"), url, id."""
    return Problem(
        id=_own_id("amc23", record.get("id"), index),
        question=str(need(record, "problem", "question")).strip(),
        answer=format_number(need(record, "answer")),
        metadata={"url": record["url"]} if record.get("url") else {},
    )


def minerva_math(record: dict, index: int) -> Problem:
    r"""Minerva OCW courses: the gold answer is the solution's last \boxed{} (or an `answer` field)."""
    solution = record.get("solution")
    answer = record.get("answer")
    if not (isinstance(answer, str) and answer.strip()):
        answer = last_boxed(need(record, "solution"))
        if not answer:
            raise BadRecord("no \\boxed{} answer in the solution")
    return Problem(
        id=_own_id("minerva_math", record.get("idx"), index),
        question=str(need(record, "problem", "question")).strip(),
        answer=answer.strip(),
        solution=solution,
        metadata={"type": record["type"]} if record.get("type") else {},
    )


def olympiadbench(record: dict, index: int) -> Problem | None:
    """OlympiadBench (open-ended, text-only, English): final_answer list -> "a, b" without '$'.

    Theorem-proving items have no final_answer and cannot be graded by answer: they are skipped.
    `error` (a numeric tolerance), `unit`, `answer_type` and `is_multiple_answer` go to metadata.
    """
    finals = record.get("final_answer")
    if not finals:
        return None
    if isinstance(finals, str):
        finals = [finals]
    answer = ", ".join(strip_dollars(str(part)) for part in finals if str(part).strip())
    if not answer:
        return None
    question = str(need(record, "question")).strip()
    if record.get("context"):
        question = f"{str(record['context']).strip()}\n\n{question}"
    solution = record.get("solution")
    if isinstance(solution, list):
        solution = solution[0] if solution else None
    keys = ("subfield", "answer_type", "is_multiple_answer", "unit", "error")
    return Problem(
        id=_own_id("olympiadbench", record.get("id"), index),
        question=question,
        answer=answer,
        solution=solution,
        metadata={k: record[k] for k in keys if record.get(k) is not None},
    )


def college_math(record: dict, index: int) -> Problem:
    """College Math: question, answer with its $...$ removed; id = "<textbook>/<question_number>"."""
    source = str(record.get("data_source") or "").removeprefix("college_math.")
    number = record.get("question_number")
    own = f"{source}/{number}" if source and number else None
    keys = ("data_source", "data_topic", "question_number")
    return Problem(
        id=_own_id("college_math", own, index),
        question=str(need(record, "question")).strip(),
        answer=strip_math_span(str(need(record, "answer"))),
        metadata={k: record[k] for k in keys if record.get(k)},
    )
