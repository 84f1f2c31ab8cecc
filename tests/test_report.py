"""Reports of real result folders, opened in a real headless Chromium.

The study: the shared real run (synthetic, standard mode) plus a direct-mode run and a sampling agent
run of the real model, all in one results root. The page must agree with metrics.csv, show its plots,
filter its problems, and never run model text as code.
"""

from __future__ import annotations

import base64
import csv
import fcntl
import io
import json
import os
import re
import select
import shutil
import signal
import time
from pathlib import Path

import pytest

from conftest import REPO, tiny_eval
from matheval.agents.base import AgentParams, Attempt
from matheval.cli import main
from matheval.errors import UserError
from matheval.report import load_configs, render, write_report
from matheval.report.data import mcnemar_p, pareto_front

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install -y chromium); CI installs it")
AGENT = "sample_vote"
HOSTILE = "</pre></details><script>alert(1)</script><img src=x onerror=alert(2)>"


async def sample_vote(problem, llm, params: AgentParams) -> Attempt:
    """Self-consistency in one call: N samples of the standard prompt, the vote of their answers. The
    agents issue's majority vote writes records of this shape (samples, votes, trace); this small
    real agent lets the report be tested on them before that lands."""
    from matheval.grading import extract_answer, vote
    from matheval.prompts import build_messages

    completion = await llm.generate(build_messages(problem, params.mode, params.examples), role="sample",
                                    n=params.num_runs, diverse=True)
    answers = [extract_answer(text) for text in completion.texts]
    chosen = vote(answers)
    response = next((t for t, a in zip(completion.texts, answers) if a == chosen), completion.texts[0])
    return Attempt(answer=chosen, response=response, samples=answers,
                   extra={"distinct_answers": len({a for a in answers if a is not None})})


@pytest.fixture(scope="module")
def study(tmp_path_factory, synthetic_results) -> Path:
    """A results root with three real configurations of one dataset in one run folder."""
    from matheval.agents import AGENTS

    root = tmp_path_factory.mktemp("study")
    shutil.copytree(synthetic_results.paths.folder, root / synthetic_results.paths.folder.name)
    tiny_eval(root, mode="direct", max_tokens=16)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(AGENTS, AGENT, sample_vote)
        tiny_eval(root, agent=AGENT, max_tokens=16, batch_size=12, params=AgentParams(num_runs=3))
    return root


def run_folder(root: Path) -> Path:
    [folder] = [p for p in root.iterdir() if p.is_dir()]
    return folder


def latest_csv_rows(folder: Path) -> dict[str, dict]:
    with open(folder / "metrics.csv", newline="") as handle:
        return {row["mode"]: row for row in csv.DictReader(handle)}  # later rows win


def answers(folder: Path, label: str) -> list[dict]:
    [path] = (folder / "answers").glob(f"*_{label}_answers.json")
    return json.loads(path.read_text())


# ---------------------------------------------------------------- headless Chromium over the DevTools pipe

class Chromium:
    """Headless Chromium driven through the DevTools protocol on a pipe (--remote-debugging-pipe: the
    browser reads commands on fd 3 and writes replies on fd 4, NUL-separated JSON). No websocket
    client, no port to collide with other tests. Records console errors, uncaught exceptions,
    security (CSP) errors, dialogs and every network request the page makes."""

    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--remote-debugging-pipe")

    def __init__(self, profile: Path, timeout: float = 60.0):
        self.timeout = timeout
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.loaded = False
        self._next_id = 0
        self._buffer = b""
        to_browser, self._send_fd = os.pipe()
        self._recv_fd, from_browser = os.pipe()
        # copy both ends above 10 first, so that placing them on 3 and 4 cannot overwrite one another
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser, from_browser)]
        profile.mkdir(parents=True, exist_ok=True)
        self.log = profile / "chromium.log"
        log = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.pid = os.posix_spawn(CHROMIUM, [CHROMIUM, *self.FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                  dict(os.environ), file_actions=[
                                      (os.POSIX_SPAWN_DUP2, high[0], 3), (os.POSIX_SPAWN_DUP2, high[1], 4),
                                      (os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2)])
        for fd in (to_browser, from_browser, log, *high):
            os.close(fd)
        self.session = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.call(f"{domain}.enable")

    def _send(self, method: str, params: dict) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._send_fd, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._recv_fd], [], [], remaining)[0]:
                raise TimeoutError(f"Chromium did not answer in {self.timeout} s (log: {self.log})")
            chunk = os.read(self._recv_fd, 1 << 20)
            if not chunk:
                raise EOFError(f"Chromium exited: {self.log.read_text(errors='replace')[-2000:]}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        message = json.loads(message)
        self._on_event(message)
        return message

    def _on_event(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(details.get("exception", {}).get("description") or details.get("text", ""))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(params["entry"]["text"])
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Page.javascriptDialogOpening":
            self.dialogs.append(params["message"])
            self._send("Page.handleJavaScriptDialog", {"accept": False})
        elif method == "Page.loadEventFired":
            self.loaded = True

    def call(self, method: str, **params) -> dict:
        number = self._send(method, params)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def open(self, path: Path) -> None:
        self.loaded = False
        self.call("Emulation.setDeviceMetricsOverride", width=1280, height=1600, deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=path.resolve().as_uri())
        deadline = time.monotonic() + self.timeout
        while not self.loaded:
            self._receive(deadline)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (EOFError, TimeoutError, OSError):
            pass
        for _ in range(100):
            if os.waitpid(self.pid, os.WNOHANG) != (0, 0):
                break
            time.sleep(0.1)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self._send_fd)
        os.close(self._recv_fd)


@pytest.fixture
def browser(tmp_path):
    chromium = Chromium(tmp_path / "chromium-profile")
    yield chromium
    chromium.close()


def artifacts_dir(tmp_path: Path) -> Path:
    """Where the screenshot is kept: $MATHEVAL_ARTIFACTS, or results/ci-artifacts under CI (ignored by
    git, kept by the CI job), else the test's temporary folder."""
    if os.environ.get("MATHEVAL_ARTIFACTS"):
        folder = Path(os.environ["MATHEVAL_ARTIFACTS"])
    elif os.environ.get("CI"):
        folder = REPO / "results" / "ci-artifacts"
    else:
        folder = tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shown(text: str) -> float:
    """The first number on a page cell ('12.5%', '3 of 4', '25.0% (N=3)')."""
    return float(re.search(r"-?\d+(\.\d+)?", text).group())


def agrees(page_text: str, csv_value: str, digits: int, scale: float = 1.0) -> bool:
    """The page shows the CSV's value, rounded to the digits it displays."""
    return abs(shown(page_text) - float(csv_value) * scale) <= 0.5 * 10 ** -digits + 1e-6 * abs(float(csv_value) * scale)


SUMMARY_JS = """JSON.stringify([...document.querySelectorAll('#summary-table tbody tr')].map(row => ({
  model: row.dataset.model, dataset: row.dataset.dataset, label: row.dataset.label,
  cells: Object.fromEntries([...row.querySelectorAll('td[data-col]')].map(td => [td.dataset.col, td.textContent]))})))"""


# ---------------------------------------------------------------- the tests

@needs_chromium
def test_report_in_chromium(study, browser, tmp_path):
    output, configs = write_report([study], tmp_path / "report.html")
    assert {c.label for c in configs} == {"standard", "direct", AGENT}
    browser.open(output)
    assert browser.errors == []
    assert [u for u in browser.requests if not u.startswith("file:")] == []  # self-contained: nothing fetched

    # the summary table says what metrics.csv says
    folder = run_folder(study)
    rows = {r["label"]: r for r in json.loads(browser.evaluate(SUMMARY_JS))}
    for mode, csv_row in latest_csv_rows(folder).items():
        cells = rows[mode]["cells"]
        assert (rows[mode]["model"], rows[mode]["dataset"]) == (csv_row["model"], csv_row["dataset"])
        assert cells["count"] == csv_row["count"] and cells["backend"] == csv_row["backend"]
        assert agrees(cells["accuracy"], csv_row["accuracy"], 1, 100)
        low, high = re.findall(r"\d+\.\d", cells["ci"])
        assert agrees(low, csv_row["ci_low"], 1, 100) and agrees(high, csv_row["ci_high"], 1, 100)
        assert agrees(cells["completion_tokens_per_problem"], csv_row["completion_tokens_per_problem"], 1)
        assert agrees(cells["prompt_tokens_per_problem"], csv_row["prompt_tokens_per_problem"], 1)
        assert agrees(cells["calls_per_problem"], csv_row["calls_per_problem"], 2)
        assert agrees(cells["engine_seconds_per_problem"], csv_row["engine_seconds_per_problem"], 2)
        assert agrees(cells["tokens_per_second"], csv_row["tokens_per_second"], 1)
        if csv_row["maj_at_n"]:
            assert agrees(cells["maj"], csv_row["maj_at_n"], 1, 100) and agrees(cells["pass"], csv_row["pass_at_n"], 1, 100)
            assert "(N=3)" in cells["maj"]
        else:
            assert cells["maj"] == cells["pass"] == "—"

    # plots: two cost panels and a breakdown per metadata key, real drawings with a size on screen
    plots = json.loads(browser.evaluate("""JSON.stringify([...document.querySelectorAll('figure.plot')].map(f => {
        const svg = f.querySelector('svg'); const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
        return {kind: f.dataset.plot, paths: svg ? svg.querySelectorAll('path').length : 0,
                width: box.width, height: box.height}; }))"""))
    assert [p["kind"] for p in plots] == ["cost", "breakdown", "breakdown"]  # synthetic: level, template
    assert all(p["paths"] > 20 and p["width"] > 300 and p["height"] > 150 for p in plots)

    # breakdown by level: recounted here from the answers files
    standard = answers(folder, "standard")
    level_cells = json.loads(browser.evaluate("""JSON.stringify([...document.querySelector('table.breakdown')
        .querySelectorAll('tbody tr')].map(tr => [...tr.cells].map(td => td.textContent.trim())))"""))
    column = [c.label for c in configs].index("standard") + 1
    for row in level_cells:
        group = [r for r in standard if str(r["metadata"]["level"]) == row[0]]
        assert row[column].endswith(f"{sum(r['correct'] for r in group)}/{len(group)}")

    # flips of each configuration against the standard one, recounted here
    direct = {r["id"]: r["correct"] for r in answers(folder, "direct")}
    gained = sum(1 for r in standard if not r["correct"] and direct[r["id"]])
    lost = sum(1 for r in standard if r["correct"] and not direct[r["id"]])
    flip_cells = browser.evaluate("""(() => { const row = [...document.querySelectorAll('table.flips tbody tr')]
        .find(tr => tr.cells[0].textContent === 'direct'); return row.cells[3].textContent + '/' + row.cells[4].textContent; })()""")
    assert flip_cells == f"{gained}/{lost}"
    pair = browser.evaluate("""(() => { const pair = document.querySelector('.pair');
        const [first, second] = pair.querySelectorAll('select');
        first.value = [...first.options].find(o => o.text === 'direct').value;
        second.value = [...second.options].find(o => o.text === 'standard').value;
        second.dispatchEvent(new Event('change'));
        return pair.querySelector('.pair-result').textContent; })()""")
    assert f"right only in standard ({lost})" in pair and f"right only in direct ({gained})" in pair

    # the problem filter shows exactly the problems of each status
    statuses = browser.evaluate("[...document.querySelectorAll('.problem')].map(p => p.dataset.status).join(' ')").split()
    assert len(statuses) == 4
    for status in ("correct", "wrong", "mixed", "all"):
        browser.evaluate(f"document.querySelector('.filter input[value={status}]').click()")
        visible = browser.evaluate("[...document.querySelectorAll('.problem')].filter(p => p.offsetParent !== null).length")
        assert visible == (len(statuses) if status == "all" else statuses.count(status)), status

    # agent rows carry their samples and their trace
    agent_records = answers(folder, AGENT)
    assert browser.evaluate("document.querySelectorAll('.problem tr[data-config] .call').length") == \
        sum(len(r["trace"]) for r in agent_records)
    assert browser.evaluate("document.querySelectorAll('.problem code.ok, .problem code.bad').length") >= \
        sum(len(r["samples"]) for r in agent_records)

    # a screenshot of the top of the page, kept as an artifact, is not blank
    from PIL import Image, ImageStat

    png = browser.screenshot()
    (artifacts_dir(tmp_path) / "report.png").write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.size == (1280, 1600)
    assert ImageStat.Stat(image).stddev[0] > 20 and len(image.getcolors(1 << 16)) > 30
    assert browser.errors == [] and browser.dialogs == []


def test_hostile_model_text_is_escaped(study, tmp_path):
    root = tmp_path / "hostile"
    shutil.copytree(study, root)
    folder = run_folder(root)
    for label in ("direct", AGENT):
        [path] = (folder / "answers").glob(f"*_{label}_answers.json")
        records = json.loads(path.read_text())
        records[0]["response"] = HOSTILE
        records[0]["extracted"] = HOSTILE
        records[0]["question"] = HOSTILE
        for call in records[0].get("trace", []):
            call["texts"] = [HOSTILE for _ in call["texts"]]
            call["messages"] = [{"role": "user", "content": HOSTILE}]
        path.write_text(json.dumps(records))
    page = render(load_configs([root]))
    assert "<script>alert" not in page
    assert page.count("<script") == 1 and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    if CHROMIUM is None:
        pytest.skip("the static checks passed; opening the page needs Chromium (apt-get install -y chromium)")
    output = root / "report.html"
    output.write_text(page)
    chromium = Chromium(tmp_path / "profile")
    try:
        chromium.open(output)
        assert chromium.dialogs == [] and chromium.errors == []
        assert chromium.evaluate("document.querySelectorAll('script').length") == 1
        assert chromium.evaluate("document.querySelectorAll('img').length") == 0
        assert chromium.evaluate(f"document.body.textContent.includes({json.dumps(HOSTILE)})")
    finally:
        chromium.close()


def test_unfinished_run_is_read_from_its_journal(study, tmp_path, capsys):
    """What a kill leaves: a journal (with a torn last line), no answers file, no metrics row."""
    root = tmp_path / "killed"
    shutil.copytree(study, root)
    folder = run_folder(root)
    [final] = (folder / "answers").glob("*_direct_answers.json")
    final.unlink()
    journal = final.with_suffix(".jsonl")
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:3]) + lines[3][:25])
    with open(folder / "metrics.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["mode"] != "direct"]
    with open(folder / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    [direct] = [c for c in load_configs([folder]) if c.label == "direct"]
    assert not direct.finished and direct.summary.count == 2 and direct.expected == 4
    assert direct.backend == "transformers" and direct.tokens_per_second is None
    assert "unfinished: 2 of 4" in direct.warnings[0]
    assert main(["compare", str(root)]) == 0
    out = capsys.readouterr()
    assert "2 of 4" in out.out and "unfinished" in out.err


def test_cli_report_and_compare(study, tmp_path, capsys):
    output = tmp_path / "out" / "study.html"
    assert main(["report", str(study), "-o", str(output)]) == 0
    assert output.stat().st_size > 10_000 and str(output) in capsys.readouterr().out
    assert main(["report", str(run_folder(study)), str(study), "-o", str(tmp_path)]) == 0  # a folder: report.html in it
    assert (tmp_path / "report.html").exists()
    assert main(["compare", str(study)]) == 0
    out = capsys.readouterr().out
    rows = latest_csv_rows(run_folder(study))
    for mode in ("standard", "direct", AGENT):
        assert f"{float(rows[mode]['accuracy']) * 100:.1f}%" in out
    assert "maj@3" in out and "pass@3" in out  # one N for every sampling configuration: said in the heading
    [agent_line] = [line for line in out.splitlines() if line.startswith(AGENT)]
    assert agent_line.split()[4:6] == [f"{float(rows[AGENT][k]) * 100:.1f}%" for k in ("maj_at_n", "pass_at_n")]


def test_bad_inputs_get_one_line(study, tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty")]) == 2
    error = capsys.readouterr().err
    assert "no results in" in error and error.count("\n") == 1
    root = tmp_path / "corrupt"
    shutil.copytree(study, root)
    [path] = (run_folder(root) / "answers").glob("*_direct_answers.json")
    path.write_text("[{")
    with pytest.raises(UserError, match="cannot read .*direct_answers.json"):
        load_configs([root])


def test_pareto_front_and_mcnemar():
    points = [(100, 0.5), (50, 0.5), (200, 0.7), (300, 0.6), (10, 0.1)]
    assert pareto_front(points) == [4, 1, 2]  # (50, .5) dominates (100, .5); (300, .6) is beaten by (200, .7)
    assert mcnemar_p(0, 5) == pytest.approx(0.0625) and mcnemar_p(3, 3) == 1.0 and mcnemar_p(0, 0) == 1.0
