"""Your own problems: `--dataset path/to/file.jsonl` (or .json, .csv), with its fields found or named.

The common layouts are recognised without flags: a question under `question`, `problem`, `prompt`,
`input` or `query`; the gold answer under `answer`, `final_answer`, `target`, `gold`, `expected_answer`
or `solution`, where a GSM8K-style `... #### 42` answer keeps what follows `####` and a worked solution
keeps its last `\\boxed{}`. `--question_field`, `--answer_field` and `--id_field` name other fields.
Each problem's id is its `id` field (or `--id_field`), else `<file stem>-<line index>`.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .local import read_jsonl
from .problem import Problem
from .records import BadRecord, format_number, last_boxed

SUFFIXES = (".jsonl", ".json", ".csv")
QUESTION_FIELDS = ("question", "problem", "prompt", "input", "query", "Question", "Problem")
ANSWER_FIELDS = ("answer", "final_answer", "target", "gold", "expected_answer", "Answer", "solution")
ID_FIELDS = ("id", "idx", "unique_id", "problem_id", "ID")


@dataclass(frozen=True)
class FieldMap:
    """Which fields hold the question, the gold answer and the id (None: found by name)."""

    question: str | None = None
    answer: str | None = None
    id: str | None = None

    @property
    def given(self) -> bool:
        return any((self.question, self.answer, self.id))


def is_file_dataset(name: str) -> bool:
    """A --dataset that names a file rather than a benchmark (a path, or a name ending .jsonl/.json/.csv)."""
    return name.lower().endswith(SUFFIXES) or "/" in name or Path(name).expanduser().is_file()


def file_label(path: str | Path) -> str:
    """The dataset's name in result folders and tables: the file name without its suffix."""
    return Path(path).name.rsplit(".", 1)[0] or "data"


def fingerprint(path: str | Path) -> str:
    """sha256 of the file's bytes (recorded in the manifest: which version of the file was evaluated)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def rows_of(path: Path) -> list[tuple[str, dict]]:
    """(label for messages, record) of every row of a JSONL, JSON (a list of objects) or CSV file."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                return [(f"{path} row {n}", dict(row)) for n, row in enumerate(csv.DictReader(handle), start=2)]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise UserError(f"cannot read {path} as CSV ({exc})") from exc
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"cannot read {path} as JSON ({exc}): a .json file holds a list of objects; "
                            "one object per line is .jsonl") from exc
        if isinstance(data, dict):  # {"data": [...]} or {"test": [...]}: the one list inside
            lists = [value for value in data.values() if isinstance(value, list)]
            data = lists[0] if len(lists) == 1 else data
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise UserError(f"{path}: expected a JSON list of objects (one per problem)")
        return [(f"{path} item {n}", item) for n, item in enumerate(data)]
    return [(f"{path} line {n}", record) for n, record in read_jsonl(path)]


def pick(record: dict, given: str | None, candidates: tuple[str, ...], what: str, flag: str) -> tuple[str, object]:
    if given is not None:
        if given not in record:
            raise BadRecord(f"no field {given!r} ({flag}); its fields are: {', '.join(record)}")
        return given, record[given]
    for key in candidates:
        value = record.get(key)
        if value not in (None, "") and not (isinstance(value, str) and not value.strip()):
            return key, value
    raise BadRecord(f"no {what} field (looked for {', '.join(candidates)}); name it with {flag} "
                    f"(its fields are: {', '.join(record)})")


def gold_answer(key: str, value) -> str:
    """The gold answer of a field: '#### n' (GSM8K), the last \\boxed{} of a worked solution, or the value."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value)
    text = str(value).strip()
    if "####" in text:
        return format_number(text.rpartition("####")[2].strip().replace(",", ""))
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    if key == "solution":
        raise BadRecord("the 'solution' field has no \\boxed{} answer: name the answer field with --answer_field")
    return format_number(text) if text else text


def load_file(path_text: str, fields: FieldMap | None = None) -> list[Problem]:
    """Every problem of a user's file, in file order."""
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise UserError(f"--dataset {path_text}: no such file (a benchmark name, see `matheval datasets`, "
                        "or a .jsonl/.json/.csv file of problems)")
    fields = fields or FieldMap()
    stem = file_label(path)
    problems, seen = [], {}
    for index, (label, record) in enumerate(rows_of(path)):
        try:
            _, question = pick(record, fields.question, QUESTION_FIELDS, "question", "--question_field")
            answer_key, answer = pick(record, fields.answer, ANSWER_FIELDS, "answer", "--answer_field")
            gold = gold_answer(answer_key, answer)
            if fields.id is not None:
                _, raw_id = pick(record, fields.id, (), "id", "--id_field")
            else:
                raw_id = next((record[k] for k in ID_FIELDS if record.get(k) not in (None, "")), None)
        except BadRecord as exc:
            raise UserError(f"{label}: {exc}") from exc
        if not gold:
            raise UserError(f"{label}: empty gold answer")
        problem_id = f"{stem}-{index}" if raw_id is None else (f"{stem}-{raw_id}" if isinstance(raw_id, int)
                                                                   else str(raw_id))
        if problem_id in seen:
            raise UserError(f"{label}: duplicate problem id {problem_id!r} (first at {seen[problem_id]}); "
                            "name a unique field with --id_field")
        seen[problem_id] = label
        metadata = {k: v for k, v in record.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)
                    and k in ("level", "subject", "type", "category", "difficulty", "year", "source")}
        problems.append(Problem(id=problem_id, question=str(question).strip(), answer=gold, metadata=metadata))
    if not problems:
        raise UserError(f"{path} holds no problems")
    return problems
