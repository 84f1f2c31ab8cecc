"""How fast and how right the grader is on a large generated (response, gold) pair set, and how it agrees
with plain math-verify on the free-form cases (tests/grading_cases.py).

The pairs come from the reference solutions of GSM8K (test), MATH-500 and AIME 2024 and the answers of
AIME 2025 in ../shared/data: each gold answer is put behind every marker (``\\boxed{}``, "The answer is",
``####``, Minerva's "Final Answer", a free-form last sentence, a ``<think>`` block first) and written in
other notations (thousands separators, dollars, units, a long decimal of a fraction), and each is paired
with wrong answers (the gold plus one, plus one half, a fraction rounded to 6 places, another problem's
gold, a response cut at the token cap whose last number is the gold). Every pair has the verdict a careful
grader must give.

    .venv/bin/python benchmarks/grading_speed.py                 # matheval only (about half a minute here)
    .venv/bin/python benchmarks/grading_speed.py --math-verify   # plain math-verify too (minutes)
    PYTHONPATH=/path/to/other/checkout .venv/bin/python benchmarks/grading_speed.py   # another version

One process, one thread, cold caches. Prints a summary and writes benchmarks/results/<date>-cpu-grading.json.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import random
import re
import sys
import time
from collections import Counter, defaultdict
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("MATHEVAL_DATA_DIR", REPO.parent / "shared" / "data"))


def references() -> list[tuple[str, str, str]]:
    """(benchmark, reference solution without its final answer line, gold)."""
    rows = []
    for line in (DATA / "gsm8k" / "test.jsonl").open(encoding="utf-8"):
        record = json.loads(line)
        solution, gold = record["answer"].rsplit("####", 1)
        rows.append(("gsm8k", solution.strip(), gold.strip().replace(",", "")))
    for line in (DATA / "math500" / "test.jsonl").open(encoding="utf-8"):
        record = json.loads(line)
        rows.append(("math500", record["solution"], record["answer"]))
    for line in (DATA / "qwen25math" / "aime24" / "test.jsonl").open(encoding="utf-8"):
        record = json.loads(line)
        rows.append(("aime24", record["solution"], str(record["answer"])))
    for line in (DATA / "qwen25math" / "aime25" / "test.jsonl").open(encoding="utf-8"):
        record = json.loads(line)
        rows.append(("aime25", "We count the cases carefully.", str(record["answer"])))
    return rows


MARKERS = (
    ("boxed", "{body}\nThus the answer is $\\boxed{{{answer}}}$."),
    ("answer_is", "{body}\nThe answer is {answer}."),
    ("hashes", "{body}\n#### {answer}"),
    ("minerva", "{body}\nFinal Answer: The final answer is ${answer}$. I hope it is correct."),
    ("think", "<think>{body}</think>\nThe final answer is $\\boxed{{{answer}}}$."),
)


def _integer(gold: str) -> int | None:
    return int(gold) if re.fullmatch(r"-?\d+", gold.strip()) else None  # int() would read "52_8" as 528


def _fraction(gold: str) -> Fraction | None:
    match = re.fullmatch(r"\\[dt]?frac\{(\d+)\}\{(\d+)\}", gold.strip())
    if not match or not int(match[2]):
        return None
    return Fraction(int(match[1]), int(match[2]))


def _repeating(value: Fraction) -> bool:
    """Whether the value's decimal never ends (its denominator has a prime other than 2 and 5)."""
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    return denominator > 1


def pairs(seed: int = 0) -> list[tuple[str, str, str, bool, str | None]]:
    """(kind, response, gold, expected verdict, finish reason)."""
    rng = random.Random(seed)
    rows = references()
    golds = [gold for _, _, gold in rows]
    out = []
    for benchmark, solution, gold in rows:
        # the reference's own box or "the answer is" would answer first: keep them out of the body
        body = re.sub(r"\\(?:boxed|fbox)", "", re.sub(r"(?i)answer", "result", solution))[-1500:]
        forms = [gold]
        number = _integer(gold)
        if number is not None:
            forms += [f"{number:,}", f"\\${number:,}", f"{number} units"]
        fraction = _fraction(gold)
        if fraction is not None and _repeating(fraction):
            forms.append(f"{float(fraction):.10f}")
        wrong = []
        if number is not None:
            wrong += [str(number + 1), f"{number}.5"]
        if fraction is not None and _repeating(fraction):
            wrong.append(f"{float(fraction):.6f}")
        other = rng.choice(golds)
        if other.strip() != gold.strip():
            wrong.append(other)
        for name, template in MARKERS:
            for form in forms:
                out.append((f"{benchmark}/{name}/right", template.format(body=body, answer=form), gold, True, "stop"))
            for form in wrong:
                out.append((f"{benchmark}/{name}/wrong", template.format(body=body, answer=form), gold, False, "stop"))
        out.append((f"{benchmark}/free/right", f"{body}\nSo we get ${gold}$.", gold, True, "stop"))
        out.append((f"{benchmark}/truncated", f"Let me compute. So far we have {gold} and", gold, False, "length"))
    return out


def run_matheval(rows) -> tuple[float, list[bool]]:
    from matheval.grading import grade

    takes_reason = "finish_reason" in inspect.signature(grade).parameters
    grade("1", "1")  # start a worker before the clock
    started = time.perf_counter()
    verdicts = [grade(response, gold, finish_reason=reason).correct if takes_reason else grade(response, gold).correct
                for _, response, gold, _, reason in rows]
    return time.perf_counter() - started, verdicts


def run_math_verify(rows) -> tuple[float, list[bool]]:
    import logging

    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    started = time.perf_counter()
    verdicts = []
    for _, response, gold, _, _ in rows:
        try:
            verdicts.append(bool(verify(parse(f"${gold}$"), parse(response))))
        except Exception:
            verdicts.append(False)
    return time.perf_counter() - started, verdicts


def freeform_agreement() -> dict[str, dict[str, int]]:
    sys.path.insert(0, str(REPO / "tests"))
    from grading_cases import CASES

    from matheval.grading import grade
    from matheval.grading.graders import get_grader

    plain = get_grader("math-verify")
    table: dict[str, dict[str, int]] = defaultdict(lambda: {"cases": 0, "matheval": 0, "math-verify": 0})
    for name, response, gold, expected in CASES:
        table[name]["cases"] += 1
        table[name]["matheval"] += grade(response, gold).correct is expected
        table[name]["math-verify"] += plain(response, gold).correct is expected
    return dict(table)


def summarize(rows, verdicts) -> dict:
    right = [v is expected for v, (_, _, _, expected, _) in zip(verdicts, rows)]
    wrong_by_kind = Counter(kind for ok, (kind, *_) in zip(right, rows) if not ok)
    return {"pairs": len(rows), "right": sum(right), "accuracy": sum(right) / len(rows),
            "errors_by_kind": dict(wrong_by_kind.most_common())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--math-verify", action="store_true", help="also time plain math-verify on the same pairs")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    import matheval

    rows = pairs()
    seconds, verdicts = run_matheval(rows)
    result = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.node()} {platform.machine()}, "
              f"{os.cpu_count()} cores, Python {platform.python_version()}", "matheval": str(Path(matheval.__file__).parent),
              "grader_seconds": round(seconds, 2), "grader": summarize(rows, verdicts)}
    print(f"{len(rows)} pairs: matheval {seconds:.1f} s ({1e3 * seconds / len(rows):.2f} ms/pair), "
          f"{result['grader']['right']}/{len(rows)} right ({100 * result['grader']['accuracy']:.2f}%)")
    for kind, count in list(result["grader"]["errors_by_kind"].items())[:10]:
        print(f"  errors {kind}: {count}")
    if args.math_verify:
        mv_seconds, mv_verdicts = run_math_verify(rows)
        result["math_verify_seconds"] = round(mv_seconds, 2)
        result["math_verify"] = summarize(rows, mv_verdicts)
        print(f"plain math-verify {mv_seconds:.1f} s, {result['math_verify']['right']}/{len(rows)} right "
              f"({100 * result['math_verify']['accuracy']:.2f}%)")
    try:
        result["freeform"] = freeform_agreement()
    except (ImportError, TypeError) as exc:  # an older matheval without the peer graders
        result["freeform"] = f"not measured: {exc}"
    if isinstance(result["freeform"], dict):
        totals = Counter()
        for name, counts in result["freeform"].items():
            totals.update(counts)
            print(f"  free-form {name:22s} {counts['cases']:3d} cases: matheval {counts['matheval']:3d}, "
                  f"math-verify {counts['math-verify']:3d}")
        print(f"free-form total: matheval {totals['matheval']}/{totals['cases']}, "
              f"math-verify {totals['math-verify']}/{totals['cases']}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = "" if Path(matheval.__file__).resolve().is_relative_to(REPO) else "-other-checkout"
    path = out / f"{result['date']}-cpu-grading{tag}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
