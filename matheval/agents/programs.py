"""Model-written programs: finding them in a response, and reading an answer from what they print.

Shared by program_of_thoughts and tool_integrated. Only ```python (or ```py) blocks count as programs:
a bare ``` fence is also how ```output blocks close, so in a transcript it would turn prose into "code".
"""

from __future__ import annotations

import ast
import re

from ..grading.extract import clean_answer, explicit_answer, extract_answer

_PYTHON_BLOCK = re.compile(r"```(?:python3?|py)[ \t]*\n(.*?)(```|\Z)", re.DOTALL | re.IGNORECASE)
_BARE_BLOCK = re.compile(r"```[ \t]*\n(.*?)(```|\Z)", re.DOTALL)
_WORD = re.compile(r"[A-Za-z]{3,}")
_MATH_WORDS = {"sqrt", "frac", "dfrac", "pi", "sin", "cos", "tan", "log", "exp", "oo", "infty", "cdot", "times",
               "text", "left", "right", "Rational", "Integer", "Float", "Abs", "True", "False"}

MAX_SHOWN_OUTPUT = 2000
"""Characters of a program's output kept in records and shown back to the model."""


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a text, in order; a last block left open (a cut-off response) runs to the end."""
    return [match.group(1) for match in _PYTHON_BLOCK.finditer(text or "") if match.group(1).strip()]


def extract_program(text: str) -> str | None:
    """The program a program-of-thoughts response holds: its first ```python block, else its first bare
    ``` block, else the whole response if it is valid Python; None when there is none."""
    blocks = python_blocks(text)
    if blocks:
        return blocks[0]
    bare = [m.group(1) for m in _BARE_BLOCK.finditer(text or "") if m.group(1).strip()]
    if bare:
        return bare[0]
    stripped = (text or "").strip()
    if stripped and _is_python(stripped):
        return stripped
    return None


def _is_python(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


def trailing_program(segment: str) -> tuple[str, bool] | None:
    """The program a tool-integrated segment ends with, i.e. the code it asks to run: (code, closed) when
    the segment's last ```python block ends the segment (closed by ``` or cut at the stop), else None."""
    matches = list(_PYTHON_BLOCK.finditer(segment or ""))
    if not matches:
        return None
    last = matches[-1]
    if segment[last.end():].strip() or not last.group(1).strip():
        return None  # the model wrote on after its code: it did not stop to have it run
    return last.group(1), last.group(2) == "```"


def answer_from_output(stdout: str) -> str | None:
    """The answer a program printed: its last non-empty line, taken whole when it is a bare value or
    expression (``42``, ``3/4``, ``sqrt(2)/2``), through its marker when it has one ("Answer: 42",
    "x = 5"), else its last number ("The total is 42 dollars")."""
    lines = [line.strip() for line in (stdout or "").splitlines() if line.strip()]
    if not lines:
        return None
    line = lines[-1]
    marked = explicit_answer(line)
    if marked:
        return marked
    if "=" in line or ":" in line:
        line = re.split(r"[=:]", line)[-1].strip() or line
    if any(word not in _MATH_WORDS for word in _WORD.findall(line)):
        return extract_answer(line)
    return clean_answer(line) or None


def shown_output(stdout: str, stderr: str, error: str | None) -> str:
    """What the model sees of a run: its output, or the last line of the error when it failed."""
    text = (stdout or "").strip()
    if error:
        lines = [line for line in (stderr or "").strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else error
        text = f"{text}\n{reason}".strip()
    if len(text) > MAX_SHOWN_OUTPUT:
        text = text[:MAX_SHOWN_OUTPUT] + "\n... (output cut)"
    return text


def with_earlier_cells(earlier: list[str], code: str) -> str:
    """A program that first reruns the earlier blocks of the same solution with their printing silenced,
    so that a block can use the names they defined, as in a notebook (each run is a fresh process)."""
    if not earlier:
        return code
    silenced = "\n".join(earlier)
    return ("import sys as _matheval_sys, io as _matheval_io\n"
            "_matheval_stdout, _matheval_sys.stdout = _matheval_sys.stdout, _matheval_io.StringIO()\n"
            f"{silenced}\n"
            "_matheval_sys.stdout = _matheval_stdout\n"
            f"{code}")
