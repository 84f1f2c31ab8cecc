"""How a program ended, decided by the pool from what it observed, never from what the program said.

The observations: the kernel's wait status and CPU time (from the zygote's wait4), whether the zygote
killed it (wall-clock limit, cancellation), the cgroup's OOM-kill count, and whether the child reached
the point where its program starts (its status line, written before the program's first line). The
program's own words (the last line of its stderr, usually its exception) only ever follow "exit code N:",
sanitized to one printable line, so no program can claim a limit it did not hit, and no text it prints
can break a JSON or UTF-8 writer downstream."""

from __future__ import annotations

import json
import os
import signal
import unicodedata

from .records import LAYERS, SandboxLimits, SandboxResult

MAX_LINE = 300
_CPU_FRACTION = 0.5
"""RLIMIT_CPU fires on the kernel's tick-sampled CPU clock, which can run ahead of the precise time wait4
reports (SIGXCPU at a 1 s limit came with 0.74 s of CPU on the 2-core VM): a SIGXCPU (or an unexplained
SIGKILL, RLIMIT_CPU's hard limit) counts as the CPU limit when at least this share of it was used."""


def clean_line(text: str | bytes) -> str:
    """One line of printable text: no control, format, surrogate or private-use characters."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp"):
            kept.append(" " if char in "\t\n\r\x0b\x0c\u2028\u2029" else "?")
        else:
            kept.append(char)
    line = " ".join("".join(kept).split())
    return line if len(line) <= MAX_LINE else line[:MAX_LINE - 3] + "..."


def decode_output(data: bytes, dropped: int) -> str:
    """Valid Unicode whatever the bytes: invalid UTF-8 (also encoded surrogates) becomes U+FFFD."""
    text = data.decode("utf-8", errors="replace")
    if dropped:
        text += f"\n[output truncated: {dropped} more bytes]\n"
    return text


def parse_status(data: bytes) -> dict:
    """The child's one status line: {"layers": {...}} once its sandbox is up, or {"setup_error": text}."""
    try:
        message = json.loads(data.decode("utf-8", errors="replace").splitlines()[0])
    except (ValueError, IndexError):
        return {}
    if not isinstance(message, dict):
        return {}
    if isinstance(message.get("layers"), dict):
        return {"layers": {name: message["layers"].get(name) is True for name in LAYERS}}
    if isinstance(message.get("setup_error"), str):
        return {"setup_error": clean_line(message["setup_error"])}
    return {}


def last_line(stderr_tail: bytes) -> str:
    lines = [line for line in stderr_tail.decode("utf-8", errors="replace").splitlines() if line.strip()]
    return clean_line(lines[-1]) if lines else ""


def decide(exit_facts: dict, limits: SandboxLimits, status: dict, stderr_tail: bytes) -> tuple:
    """(exit_code, timed_out, error) from the zygote's exit facts and the child's status line."""
    if "start_error" in exit_facts:
        return None, False, f"sandbox could not start: {clean_line(str(exit_facts['start_error']))}"
    if exit_facts.get("cancelled_before_start"):
        return None, False, "cancelled"
    wait_status = int(exit_facts["wait_status"])
    exit_code = os.waitstatus_to_exitcode(wait_status) if os.WIFEXITED(wait_status) else None
    if exit_facts.get("timed_out"):
        return exit_code, True, f"time limit {limits.wall_seconds:g}s exceeded"
    if exit_facts.get("oom_kills"):
        return exit_code, False, "memory limit exceeded"
    if os.WIFSIGNALED(wait_status):
        number = os.WTERMSIG(wait_status)
        if exit_facts.get("cancelled"):
            return None, False, "cancelled"
        if number in (signal.SIGXCPU, signal.SIGKILL) and exit_facts["cpu"] >= _CPU_FRACTION * limits.cpu_seconds:
            return None, True, f"cpu time limit {limits.cpu_seconds:g}s exceeded"
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        return None, False, f"killed by signal {name}"
    if "layers" not in status:
        reason = status.get("setup_error") or f"exit code {exit_code}"
        return exit_code, False, f"sandbox setup failed: {reason}"
    if exit_code == 0:
        return 0, False, None
    words = last_line(stderr_tail)
    return exit_code, False, f"exit code {exit_code}" + (f": {words}" if words else "")


def result(exit_facts: dict, limits: SandboxLimits, status: dict, stdout: tuple[bytes, int],
           stderr: tuple[bytes, int], stderr_tail: bytes) -> SandboxResult:
    exit_code, timed_out, error = decide(exit_facts, limits, status, stderr_tail)
    return SandboxResult(stdout=decode_output(*stdout), stderr=decode_output(*stderr), exit_code=exit_code,
                         timed_out=timed_out, error=error, seconds=float(exit_facts.get("seconds", 0.0)))
