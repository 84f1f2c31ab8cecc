"""The openai backend against a real server: `transformers serve` on 127.0.0.1, serving SmolLM2 on CPU.

The server is started once for this module (tests/servers.py). Faults are real where they can be:
the server process is SIGKILLed mid-run and restarted. Rate limits and 503s, which this server never
sends, come from a small HTTP proxy in front of it that answers the first requests with those codes.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from matheval.engines.base import EngineOptions, Request, Sampling
from matheval.engines.openai_engine import OpenAIEngine, RetryPolicy, served_model
from matheval.errors import UserError

from conftest import gsm8k_messages, tiny_eval
from servers import TransformersServer, free_port, serve_available

pytestmark = pytest.mark.skipif(not serve_available(), reason="transformers serve needs fastapi and uvicorn: "
                                                              "pip install 'matheval[server]'")

QUICK_RETRIES = RetryPolicy(retries=40, base=0.2, cap=2.0)


@pytest.fixture(scope="module")
def server(smollm2_path, tmp_path_factory):
    server = TransformersServer(smollm2_path, tmp_path_factory.mktemp("server") / "serve.log")
    server.start()
    yield server
    server.kill()


def engine_for(url: str, model_path: str, **extra) -> OpenAIEngine:
    extra.setdefault("retry_policy", QUICK_RETRIES)
    return OpenAIEngine(served_model(model_path), EngineOptions(extra=dict(base_url=url, **extra)))


def generate_all(engine, requests):
    async def main():
        return await asyncio.gather(*(engine.generate(r.messages, r.sampling) for r in requests))

    return asyncio.run(main())


def test_chat_and_completions_give_the_local_backends_text(server, smollm2_path, transformers_backend, data_dir):
    """Greedy text and token counts from the server equal the in-process transformers backend's, both
    when the server applies the chat template (chat) and when we render it here (completions)."""
    requests = [Request(m, Sampling(max_tokens=12)) for m in gsm8k_messages(data_dir, 2)]
    local = transformers_backend.generate_batch(requests, batch_size=2)
    for api in ("chat", "completions"):
        engine = engine_for(server.url, smollm2_path, api=api)
        remote = generate_all(engine, requests)
        for mine, theirs in zip(remote, local):
            assert mine.texts == theirs.texts, api
            assert mine.completion_tokens == theirs.completion_tokens, api
            assert mine.prompt_tokens == theirs.prompt_tokens > 0, api
        assert engine.stats.requests == 2 and engine.stats.completion_tokens == 24 and engine.stats.retries == 0


def test_n_falls_back_to_separate_requests_and_stop_strings_are_cut(server, smollm2_path, data_dir):
    """transformers serve ignores `n`: the backend notices the missing choices and asks for the rest
    one by one (3 HTTP requests for n=3). Stop strings come back without the stop string, as the
    OpenAI API specifies. (The samples themselves may coincide: transformers serve samples only when
    the model's generation_config says do_sample, which the converted SmolLM2 folder does not.)"""
    engine = engine_for(server.url, smollm2_path)
    message = gsm8k_messages(data_dir, 1)[0]
    sampled, stopped = generate_all(engine, [
        Request(message, Sampling(max_tokens=6, temperature=1.0, n=3, seed=11)),
        Request(message, Sampling(max_tokens=24, stop=(" eggs",))),
    ])
    assert len(sampled.texts) == 3 and sampled.completion_tokens == [6, 6, 6]
    assert engine.server_honours_n is False and engine.stats.calls == 4 and engine.stats.sequences == 4
    assert stopped.finish_reasons == ["stop"] and "eggs" not in stopped.text and stopped.text.strip()
    assert 0 < stopped.completion_tokens[0] < 24


def test_unreachable_server_is_one_line_with_the_url(smollm2_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(UserError) as caught:
        engine_for(url, smollm2_path)
    message = str(caught.value)
    assert url in message and "serve" in message and "\n" not in message


def test_model_the_server_does_not_serve_is_a_user_error(server):
    engine = OpenAIEngine(served_model("someone/other-model"), EngineOptions(extra={"base_url": server.url}))
    with pytest.raises(UserError, match="other-model"):
        generate_all(engine, [Request([{"role": "user", "content": "hi"}], Sampling(max_tokens=2))])


class FlakyProxy(http.server.ThreadingHTTPServer):
    """Forwards to the real server, but answers the first POSTs with the given error codes."""

    def __init__(self, upstream: str, failures: list[int]):
        self.upstream, self.failures = upstream, list(failures)
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self, data: bytes | None) -> None:
        target = self.server.upstream + self.path.removeprefix("/v1")
        request = urllib.request.Request(target, data=data, method=self.command,
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                self.reply(response.status, response.read())
        except urllib.error.HTTPError as exc:
            self.reply(exc.code, exc.read())

    def do_GET(self):
        self.forward(None)

    def do_POST(self):
        data = self.rfile.read(int(self.headers["content-length"]))
        if self.server.failures:
            status = self.server.failures.pop(0)
            self.reply(status, json.dumps({"error": {"message": f"injected {status}"}}).encode())
        else:
            self.forward(data)


def test_rate_limits_and_server_errors_are_retried(server, smollm2_path, data_dir):
    proxy = FlakyProxy(server.url, failures=[429, 503, 500])
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        request = Request(gsm8k_messages(data_dir, 1)[0], Sampling(max_tokens=6))
        flaky = engine_for(proxy.url, smollm2_path)
        through_proxy = generate_all(flaky, [request])[0]
        direct = generate_all(engine_for(server.url, smollm2_path), [request])[0]
    finally:
        proxy.shutdown()
    assert flaky.stats.retries == 3 and not proxy.failures
    assert through_proxy.texts == direct.texts


def test_retries_run_out_into_one_line(server, smollm2_path):
    proxy = FlakyProxy(server.url, failures=[503] * 3)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        engine = engine_for(proxy.url, smollm2_path, retry_policy=RetryPolicy(retries=2, base=0.01, cap=0.02))
        with pytest.raises(UserError, match="rerun the same command") as caught:
            generate_all(engine, [Request([{"role": "user", "content": "hi"}], Sampling(max_tokens=2))])
    finally:
        proxy.shutdown()
    assert "503" in str(caught.value) and engine.stats.retries == 2


def journal_lines(results_dir) -> list[dict]:
    files = list(results_dir.glob("*/answers/*.jsonl"))
    if not files:
        return []
    return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()][1:]


def test_server_killed_mid_run_loses_and_repeats_nothing(server, smollm2_path, tmp_path):
    """SIGKILL the server after two problems are journaled, restart it: the in-flight requests are
    retried, the run completes, every problem is journaled exactly once, and a rerun has nothing to do."""
    results = tmp_path / "results"
    outage = {}

    def take_server_away():
        deadline = time.monotonic() + 600
        while len(journal_lines(results)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()
        outage["done_at_kill"] = len(journal_lines(results))
        time.sleep(1.0)
        server.start()

    saboteur = threading.Thread(target=take_server_away)
    saboteur.start()
    settings = dict(backend="openai", model=smollm2_path, count=6, concurrency=2, max_tokens=24,
                    engine_extra={"base_url": server.url, "retry_policy": QUICK_RETRIES})
    try:
        outcome = tiny_eval(results, **settings)
    finally:
        saboteur.join()
    records = journal_lines(results)
    assert 2 <= outage["done_at_kill"] < 6, "the server must die mid-run"
    assert sorted((r["id"], r["run"]) for r in records) == sorted({(r["id"], r["run"]) for r in records})
    assert len(records) == 6 and outcome.new_problems == 6 and outcome.summary.count == 6
    assert outcome.row.get("engine_calls") and outcome.paths.answers.exists()
    rerun = tiny_eval(results, **settings)
    assert rerun.new_problems == 0 and len(journal_lines(results)) == 6


def test_cli_flags_reach_the_server(server, smollm2_path, tmp_path, capsys):
    from matheval.cli import main

    code = main(["eval", "--inference_backend", "openai", "--base_url", server.url, "--api", "completions",
                 "--max_concurrency", "2", "--model", smollm2_path, "--dataset", "synthetic", "--count", "2",
                 "--max_new_tokens", "12", "--results_dir", str(tmp_path), "--no_progress"])
    assert code == 0, capsys.readouterr().err
    assert "accuracy" in capsys.readouterr().out
