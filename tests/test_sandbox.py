"""The sandbox, for real: normal programs, failures, and an attack suite.

Every attack runs twice: with all layers, and with the Python audit hook switched off, to show that the
OS layers (namespaces, uid switch, rlimits, landlock, seccomp) contain it on their own. After each
attack a normal program must still run, and at the end nothing may have leaked: no processes, no files.
OS-level checks are skipped where this machine lacks the layer (see sandbox_capabilities()).
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from matheval import sandbox
from matheval.errors import UserError
from matheval.sandbox import SandboxLimits, SandboxPool, run_python, sandbox_capabilities

REPO = Path(__file__).resolve().parents[1]
SECRET = f"sk-fake-secret-{uuid.uuid4().hex}"
MARK = uuid.uuid4().hex[:12]  # names of files that attacks try to create
LIMITS = SandboxLimits(wall_seconds=5, cpu_seconds=3, memory_mb=256, max_output_bytes=10_000,
                       max_file_bytes=1_000_000)
CAPS = sandbox_capabilities()


def needs(*layers):
    missing = [name for name in layers if not CAPS[name]]
    return pytest.mark.skipif(bool(missing), reason=f"sandbox layers unavailable here: {missing}")


class Runner:
    """Runs programs synchronously through a pool (all layers) or a bare zygote (no audit hook)."""

    def __init__(self, python_guard: bool):
        self.python_guard = python_guard
        if python_guard:
            self.pool = SandboxPool(workers=2, limits=LIMITS)
        else:
            self.client = sandbox.client.ZygoteClient(workers=2, preload=("numpy",), python_guard=False)

    def __call__(self, code: str, **limits) -> sandbox.SandboxResult:
        chosen = SandboxLimits(**{**LIMITS.__dict__, **limits})
        if self.python_guard:
            return asyncio.run(self.pool.run(code, chosen))
        return self.client.submit(code, chosen).future.result()

    def close(self):
        (self.pool if self.python_guard else self.client).close()


def our_processes() -> list[str]:
    """Zygotes started by this test process and every program forked from them (forks keep the
    zygote's command line, which names its parent)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "_zygote_main" in cmdline and f'"parent": {os.getpid()}' in cmdline:
            found.append(f"{entry.name}: {cmdline[:120]}")
    return found


def attack_targets() -> list[Path]:
    return [Path("/tmp") / f"pwned-{MARK}", REPO / f"pwned-{MARK}", Path.home() / f"pwned-{MARK}",
            Path("/dev/shm") / f"pwned-{MARK}", Path("/var/tmp") / f"pwned-{MARK}"]


@pytest.fixture(scope="module", autouse=True)
def nothing_leaks():
    os.environ["MATHEVAL_FAKE_SECRET"] = SECRET  # before any zygote starts
    tmp_before = {p.name for p in Path("/tmp").iterdir() if p.name.startswith("matheval-sandbox-")}
    yield
    os.environ.pop("MATHEVAL_FAKE_SECRET", None)
    deadline = time.monotonic() + 5
    while our_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert our_processes() == []
    tmp_after = {p.name for p in Path("/tmp").iterdir() if p.name.startswith("matheval-sandbox-")}
    assert tmp_after - tmp_before == set()
    assert [p for p in attack_targets() if p.exists()] == []


@pytest.fixture(scope="module", params=[True, False], ids=["all-layers", "os-layers-only"])
def run(request):
    runner = Runner(python_guard=request.param)
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def pool_run():
    runner = Runner(python_guard=True)
    yield runner
    runner.close()


def assert_still_works(run):
    result = run("print(sum(range(10)))")
    assert result.ok, result
    assert result.stdout == "45\n"


# ---------------------------------------------------------------------------------------------------
# Normal programs


def test_print_gives_a_clean_result(pool_run):
    result = pool_run("print('hello', 6 * 7)")
    assert result.ok
    assert (result.stdout, result.stderr, result.exit_code, result.timed_out, result.error) == \
        ("hello 42\n", "", 0, False, None)
    assert 0 < result.seconds < 5


def test_math_libraries_work(pool_run):
    code = """
import math, itertools
from fractions import Fraction
import numpy as np
import sympy as sp
x = sp.symbols('x')
print(sp.solve(x**2 - 2, x))
print(sp.integrate(sp.sin(x)**2, (x, 0, sp.pi)))
print(round(float(np.linalg.det(np.array([[1.0, 2.0], [3.0, 4.0]]))), 6))
print(sum(Fraction(1, k) for k in range(1, 5)), math.comb(10, 3), len(list(itertools.permutations(range(4)))))
print(0 <= np.random.rand() < 1)
"""
    result = pool_run(code)
    assert result.ok, result.stderr
    assert result.stdout.splitlines() == ["[-sqrt(2), sqrt(2)]", "pi/2", "-2.0", "25/12 120 24", "True"]


def test_run_python_uses_a_fresh_interpreter():
    result = run_python("import sympy, sys\nprint(sympy.factorint(2**16 + 1), 'numpy' in sys.modules)")
    assert result.ok, result.stderr
    assert result.stdout == "{65537: 1} False\n"


def test_working_directory_is_private_and_removed(pool_run):
    code = """
import os, tempfile
print(os.getcwd()); print(tempfile.gettempdir()); print(os.listdir('.'))
open('notes.txt', 'w').write('scratch'); print(open('notes.txt').read())
"""
    first = pool_run(code)
    second = pool_run(code)
    assert first.ok and second.ok, (first.stderr, second.stderr)
    cwd, tmp, listing, content = first.stdout.splitlines()
    assert tmp == cwd and listing == "[]" and content == "scratch"
    assert second.stdout.splitlines()[0] != cwd  # a fresh directory each time
    assert second.stdout.splitlines()[2] == "[]"
    assert not Path(cwd).exists()


def test_environment_is_scrubbed(run):
    code = """
import os
print(sorted(os.environ))
print(repr(os.environ.get('MATHEVAL_FAKE_SECRET')))
for path in ('/proc/self/environ', f'/proc/{os.getppid()}/environ', '/proc/1/environ'):
    try:
        print(open(path, 'rb').read())
    except OSError as exc:
        print('unreadable', path, type(exc).__name__)
"""
    result = run(code)
    assert result.ok, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "MATHEVAL_FAKE_SECRET" not in result.stdout.splitlines()[0]
    assert result.stdout.splitlines()[1] == "None"


# ---------------------------------------------------------------------------------------------------
# Failures are reported, not raised


def test_syntax_error(pool_run):
    result = pool_run("print(1 +")
    assert not result.ok and result.exit_code == 1
    assert result.error.startswith("exit code 1: SyntaxError")
    assert "<program>" in result.stderr and "SyntaxError" in result.stderr


def test_exception_gives_traceback_of_the_program_only(pool_run):
    result = pool_run("def f(n):\n    return 1 / n\n\nprint('before')\nf(0)\n")
    assert result.exit_code == 1 and result.error == "exit code 1: ZeroDivisionError: division by zero"
    assert result.stdout == "before\n"
    assert "Traceback" in result.stderr and "return 1 / n" in result.stderr
    assert "matheval/sandbox" not in result.stderr


def test_exit_codes(pool_run):
    assert pool_run("import sys; sys.exit(0)").ok
    assert (pool_run("import sys; sys.exit(3)").exit_code, pool_run("exit(3)").error) == (3, "exit code 3")
    result = pool_run("raise SystemExit('no solution found')")
    assert (result.exit_code, result.error) == (1, "exit code 1: no solution found")


def test_output_is_capped(pool_run):
    result = pool_run("import sys\nprint('x' * 50_000)\nprint('y' * 50_000, file=sys.stderr)")
    assert result.ok
    assert result.stdout.startswith("x" * 10_000) and "output truncated: 40001 more bytes" in result.stdout
    assert result.stderr.startswith("y" * 10_000) and "output truncated" in result.stderr
    assert len(result.stdout) < 10_100


def test_output_printed_before_a_time_out_is_kept(pool_run):
    result = pool_run("import time\nprint('partial answer: 12')\nwhile True: pass", wall_seconds=1)
    assert result.timed_out and result.stdout == "partial answer: 12\n"


def test_bad_limits_are_user_errors():
    with pytest.raises(UserError, match="wall_seconds"):
        run_python("print(1)", SandboxLimits(wall_seconds=0))
    with pytest.raises(UserError, match="workers"):
        SandboxPool(workers=0)
    with pytest.raises(TypeError):
        run_python(b"print(1)")


def test_capabilities_name_every_layer():
    assert list(CAPS) == list(sandbox.LAYERS)
    assert CAPS["process_group"] and CAPS["rlimits"] and CAPS["audit_hook"]
    if os.geteuid() == 0:
        assert CAPS["uid_switch"]


# ---------------------------------------------------------------------------------------------------
# Attack suite: each runs with all layers and with the OS layers only


def test_fork_bomb(run):
    result = run("import os\nwhile True:\n    os.fork()")
    assert not result.ok
    assert result.error in ("exit code 1: SandboxViolation: blocked: process creation",
                            "exit code 1: PermissionError: [Errno 1] Operation not permitted",
                            "exit code 1: BlockingIOError: [Errno 11] Resource temporarily unavailable")
    assert_still_works(run)


def test_threads_cannot_start(run):
    result = run("import threading\nthreading.Thread(target=print).start()")
    assert result.error == "exit code 1: RuntimeError: can't start new thread"


@pytest.mark.parametrize("code", [
    "import os\nprint(os.system('touch /tmp/pwned-{mark}'))",
    "import subprocess\nsubprocess.run(['touch', '/tmp/pwned-{mark}'])",
    "import os\nos.execv('/bin/touch', ['touch', '/tmp/pwned-{mark}'])",
    "import os\nos.posix_spawn('/bin/touch', ['touch', '/tmp/pwned-{mark}'], {{}})",
    "import pty\npty.spawn(['touch', '/tmp/pwned-{mark}'])",
], ids=["os.system", "subprocess", "exec", "posix_spawn", "pty"])
def test_no_new_programs(run, code):
    result = run(code.format(mark=MARK))
    assert not Path(f"/tmp/pwned-{MARK}").exists()
    if run.python_guard:
        assert result.error == "exit code 1: SandboxViolation: blocked: process creation"
    else:  # refused by seccomp (EPERM), or os.system's shell could not start (status 127)
        assert not result.ok or result.stdout.strip() == str(127 << 8), result


def test_memory_bomb(run):
    """RLIMIT_AS makes the allocation fail (MemoryError, in the program's words); a cgroup's OOM killer,
    where there is one, is the pool's own observation."""
    out_of_memory = ("exit code 1: MemoryError", "memory limit exceeded")
    result = run("x = bytearray(4 * 1024**3)")
    assert result.error in out_of_memory
    result = run("chunks = []\nwhile True:\n    chunks.append(b'x' * 10**7)")
    assert result.error in out_of_memory
    result = run("import numpy as np\na = np.ones((50_000, 50_000))")
    assert "MemoryError" in result.error or result.error == "memory limit exceeded"
    assert_still_works(run)


def test_infinite_loop_hits_cpu_limit(run):
    result = run("while True:\n    pass", cpu_seconds=1, wall_seconds=10)
    assert result.timed_out and result.exit_code is None
    assert result.error == "cpu time limit 1s exceeded"
    assert result.seconds < 5


def test_ignoring_sigxcpu_does_not_help(run):
    code = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass"
    result = run(code, cpu_seconds=1, wall_seconds=10)
    assert result.timed_out and result.error == "cpu time limit 1s exceeded"


def test_sleep_hits_wall_limit(run):
    result = run("import time\ntime.sleep(60)", wall_seconds=1)
    assert result.timed_out and result.error == "time limit 1s exceeded"
    assert result.seconds < 3
    result = run("import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)", wall_seconds=1)
    assert result.timed_out
    assert_still_works(run)


def test_flooding_output_then_hanging(run):
    result = run("import os\nwhile True:\n    print('x' * 1000)", wall_seconds=1)
    assert result.timed_out and len(result.stdout) < 10_100 and "output truncated" in result.stdout
    result = run("import os\nos.close(1); os.close(2)\nwhile True:\n    pass", wall_seconds=1)
    assert result.timed_out


def test_writing_outside_the_working_directory(run):
    for target in attack_targets():
        result = run(f"open({str(target)!r}, 'w').write('pwned')")
        assert not result.ok, target
        assert not target.exists(), target
    assert_still_works(run)


@needs("mount_namespace")
def test_repository_is_read_only(run):
    victim = REPO / f".sandbox-victim-{MARK}"
    victim.write_text("keep me")
    victim.chmod(0o666)
    try:
        for code in (f"import os\nos.remove({str(victim)!r})",
                     f"open({str(victim)!r}, 'w').write('changed')",
                     f"import os\nos.rename({str(victim)!r}, 'stolen')",
                     f"import shutil\nshutil.rmtree({str(REPO / 'tests')!r})"):
            result = run(code)
            assert not result.ok, code
        assert victim.read_text() == "keep me"
        assert (REPO / "tests" / "test_sandbox.py").exists()
    finally:
        victim.unlink()


def test_huge_file_write(run):
    result = run("with open('big', 'wb') as f:\n    while True:\n        f.write(b'x' * 2**20)")
    assert result.error == "exit code 1: OSError: [Errno 27] File too large"
    assert_still_works(run)


@needs("mount_namespace")
def test_many_small_files_fill_only_the_private_tmpfs(run):
    result = run("for i in range(20_000):\n    open(f'f{i}', 'w').write('x')")
    assert result.error.startswith("exit code 1: OSError: [Errno 28] No space left on device")


def test_network_is_unreachable(run):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    connections = []
    server.settimeout(0.2)

    def accept():
        try:
            connections.append(server.accept())
        except OSError:
            pass

    listener = threading.Thread(target=accept)
    listener.start()
    try:
        for code in (f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)",
                     "import socket\nsocket.socket(socket.AF_UNIX)",
                     "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=2)"):
            result = run(code)
            assert not result.ok, code
        listener.join()
        assert connections == []
    finally:
        server.close()


def test_signalling_the_parent(run):
    received = []
    previous = signal.signal(signal.SIGUSR1, lambda *_: received.append(1))
    try:
        for target in (os.getpid(), "os.getppid()"):
            result = run(f"import os, signal\nos.kill({target}, signal.SIGUSR1)")
            assert not result.ok
        time.sleep(0.2)
        assert received == []
    finally:
        signal.signal(signal.SIGUSR1, previous)
    result = run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    assert not result.ok
    assert_still_works(run)  # the zygote survived


def test_ctypes_is_refused_or_contained(run):
    code = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for name, call in [("fork", lambda: libc.fork()), ("socket", lambda: libc.socket(2, 1, 0)),
                   ("kill", lambda: libc.kill(os.getppid(), 9)), ("setuid", lambda: libc.setuid(0)),
                   ("unshare", lambda: libc.unshare(0x10000000)),
                   ("execv", lambda: libc.execv(b"/bin/true", None))]:
    print(name, call(), ctypes.get_errno())
"""
    if not run.python_guard and not CAPS["seccomp"]:
        pytest.skip("raw system calls are only refused by seccomp")
    result = run(code)
    if run.python_guard:
        assert result.error == "exit code 1: SandboxViolation: blocked: native code (ctypes)"
    else:
        assert result.ok, result.stderr
        assert all(line.split()[1] == "-1" for line in result.stdout.splitlines()), result.stdout
    assert_still_works(run)


@needs("seccomp")
def test_audit_hook_bypass_is_still_contained(pool_run):
    """The zygote's libc handle, with syscall() already resolved, needs no dlopen or dlsym, so the audit
    hook never sees it: raw system calls. seccomp still refuses them."""
    code = """
import os
from matheval.sandbox import libc
fork = libc.syscall("clone", 17, 0, 0, 0, 0)  # clone(SIGCHLD): a fork
kill = libc.syscall("kill", os.getppid(), 9)
sock = libc.syscall("socket", 2, 1, 0)
print(fork, kill, sock)
"""
    result = pool_run(code)
    assert result.ok, result.stderr
    assert result.stdout == "-1 -1 -1\n"
    assert_still_works(pool_run)


def test_interpreter_crash_is_reported(run):
    result = run("import faulthandler\nfaulthandler._sigsegv()")
    assert (result.exit_code, result.error) == (None, "killed by signal SIGSEGV")
    assert_still_works(run)


# ---------------------------------------------------------------------------------------------------
# The pool


def test_pool_runs_programs_concurrently_with_bounded_workers():
    async def main():
        async with SandboxPool(workers=2, limits=LIMITS, preload=()) as pool:
            started = time.monotonic()
            sleepers = [pool.run("import time\ntime.sleep(0.5)\nprint('slept')") for _ in range(4)]
            quick = [pool.run(f"print({i} * {i})") for i in range(10)]
            results = await asyncio.gather(*sleepers, *quick)
            return results, time.monotonic() - started

    results, elapsed = asyncio.run(main())
    assert [r.stdout for r in results[:4]] == ["slept\n"] * 4
    assert [r.stdout for r in results[4:]] == [f"{i * i}\n" for i in range(10)]
    assert elapsed >= 1.0  # 4 sleepers on 2 workers: two rounds at least


def test_cancelling_a_run_kills_the_program():
    async def main():
        with SandboxPool(workers=1, limits=LIMITS, preload=()) as pool:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(pool.run("import time\ntime.sleep(30)"), timeout=0.5)
            started = time.monotonic()
            result = await pool.run("print('next')")
            return result, time.monotonic() - started

    result, waited = asyncio.run(main())
    assert result.stdout == "next\n"
    assert waited < 5  # the only worker was freed by the cancellation, not by the 30 s sleep


def test_pool_survives_the_death_of_its_zygote():
    async def main():
        with SandboxPool(workers=1, limits=LIMITS, preload=()) as pool:
            running = asyncio.ensure_future(pool.run("import time\ntime.sleep(30)"))
            await asyncio.sleep(0.5)
            pool._client._connection.process.kill()
            lost = await running
            return lost, await pool.run("print('recovered')")

    lost, recovered = asyncio.run(main())
    assert lost.error == "sandbox zygote exited unexpectedly"
    assert recovered.ok and recovered.stdout == "recovered\n"


def test_parent_death_takes_everything_down():
    """A parent killed outright: its zygote sees end of input, kills its programs and cleans up."""
    script = (f"import sys; sys.path.insert(0, {str(REPO)!r}); from matheval.sandbox.client import ZygoteClient, "
              "SandboxLimits\nc = ZygoteClient(1, ())\nc.submit('import time; time.sleep(60)', SandboxLimits())\n"
              "print(c._connection.process.pid, c._connection.root, flush=True)\nimport time; time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    zygote_pid, root = parent.stdout.readline().split()
    time.sleep(0.5)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{zygote_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{zygote_pid}").exists()
    assert not Path(root).exists()  # the zygote removed its programs' directories
