"""Hostile programs, one or more per class of escape that an independent suite found (issue 21).

Each attack runs with the Python audit hook off (only the operating system's layers stand), as root (the
programs then run as a fresh uid) and as a non-root user (uid 65534, through user namespaces) where this
machine allows both; some run again with one layer switched off, to show that another one holds alone.

The safety net, so that a failing layer cannot hurt the CI machine: every attack is bounded (a few
hundred MB at most, a few seconds), the non-root pool runs in a child process with its own limits, and a
fixture removes any System V or POSIX IPC object an attack managed to leave behind (and fails the test).
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path

import pytest

from matheval.results import Journal
from matheval.sandbox import SandboxLimits, SandboxPool
from matheval.sandbox.client import ZygoteClient

REPO = Path(__file__).resolve().parents[1]
MARK = uuid.uuid4().hex[:12]
IPC_KEY = 0x5A000000 | (int(MARK[:6], 16) & 0xFFFFFF)
MQ_NAME = f"/matheval-attack-{MARK}"
LIMITS = dict(wall_seconds=5, cpu_seconds=3, memory_mb=128, max_output_bytes=20_000, max_file_bytes=32 * 2**20)
NOBODY = 65534

# --------------------------------------------------------------------------------------------------
# Runners: the same call, in this process (as root) or in a child process dropped to uid 65534

REMOTE = r"""
import json, os, resource, sys
from dataclasses import asdict
package_root, uid = sys.argv[1], int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NPROC, (256, 256))  # the net: bounded processes for this uid
resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 2**20, 256 * 2**20))
if os.geteuid() == 0:
    os.setgroups([]); os.setgid(uid); os.setuid(uid)
sys.path.insert(0, package_root)
from matheval.sandbox import SandboxLimits
from matheval.sandbox.client import ZygoteClient
clients = {}
for line in sys.stdin:
    request = json.loads(line)
    key = tuple(request["disabled"])
    if key not in clients:
        clients[key] = ZygoteClient(2, (), python_guard=False, disabled=key)
    job = clients[key].submit(request["code"], SandboxLimits(**request["limits"]))
    result = job.future.result()
    print(json.dumps({**asdict(result), "layers": job.layers,
                      "zygote": clients[key]._connection.process.pid}), flush=True)
"""


class Result(dict):
    __getattr__ = dict.__getitem__

    @property
    def ok(self) -> bool:
        return self["exit_code"] == 0 and not self["timed_out"] and self["error"] is None


class LocalRunner:
    """Programs from this process's own pool (root here: each program gets a fresh uid)."""

    name = "root" if os.geteuid() == 0 else "non-root"

    def __init__(self):
        self.clients: dict[tuple, ZygoteClient] = {}

    def run(self, code: str, disabled: tuple = (), **limits) -> Result:
        if disabled not in self.clients:
            self.clients[disabled] = ZygoteClient(2, ("numpy",), python_guard=False, disabled=disabled)
        client = self.clients[disabled]
        job = client.submit(code, SandboxLimits(**{**LIMITS, **limits}))
        result = job.future.result()
        ZYGOTES_SEEN.add(client._connection.process.pid)
        return Result(asdict(result), layers=job.layers, zygote=client._connection.process.pid)

    def close(self):
        for client in self.clients.values():
            client.close()


class RemoteRunner:
    """Programs from a pool in a child process running as uid 65534 (the non-root path, from root)."""

    name = "non-root"

    def __init__(self, python: str, package_root: str):
        self.process = subprocess.Popen([python, "-I", "-c", REMOTE, package_root, str(NOBODY)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/")
        self.lock = threading.Lock()

    def run(self, code: str, disabled: tuple = (), **limits) -> Result:
        request = {"code": code, "disabled": list(disabled), "limits": {**LIMITS, **limits}}
        with self.lock:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the non-root sandbox runner died")
        result = Result(json.loads(line))
        ZYGOTES_SEEN.add(result.zygote)
        return result

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


def _copy_package(target: Path) -> None:
    """The sandbox's own files, where uid 65534 can read them (the checkout may be under /root)."""
    (target / "matheval").mkdir(parents=True)
    for name in ("__init__.py", "errors.py"):
        shutil.copy(REPO / "matheval" / name, target / "matheval" / name)
    shutil.copytree(REPO / "matheval" / "sandbox", target / "matheval" / "sandbox",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _nobody_python(package_root: str) -> str | None:
    """An interpreter that uid 65534 can run and that imports the sandbox (pyenv under /root cannot)."""
    probe = "import sys; sys.path.insert(0, sys.argv[1]); import matheval.sandbox"
    for python in dict.fromkeys([sys.executable, "/usr/bin/python3", shutil.which("python3") or ""]):
        if not python or not os.path.exists(python):
            continue
        try:
            done = subprocess.run([python, "-I", "-c", probe, package_root], user=NOBODY, group=NOBODY,
                                  extra_groups=[], capture_output=True, timeout=60, cwd="/")
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return python
    return None


def _runner_params():
    params = [pytest.param("local", id=LocalRunner.name)]
    if os.geteuid() == 0:
        params.append(pytest.param("remote", id="non-root"))
    return params


ZYGOTES_SEEN: set[int] = set()


def _zygote_alive(pid: int) -> bool:
    try:
        return b"matheval.sandbox.zygote" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@pytest.fixture(scope="module", autouse=True)
def nothing_remains():
    """After the attacks: no zygote alive, no working directory left in /tmp."""
    folders_before = set(Path("/tmp").glob("matheval-sandbox-*"))
    yield
    deadline = time.monotonic() + 10
    while any(map(_zygote_alive, ZYGOTES_SEEN)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in ZYGOTES_SEEN if _zygote_alive(pid)] == []
    assert set(Path("/tmp").glob("matheval-sandbox-*")) - folders_before == set()


@pytest.fixture(scope="module")
def package_copy():
    folder = Path(tempfile.mkdtemp(prefix="matheval-sandbox-package-"))
    folder.chmod(0o755)
    _copy_package(folder)
    yield str(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module", params=_runner_params())
def runner(request, package_copy):
    if request.param == "local":
        chosen = LocalRunner()
    else:
        python = _nobody_python(package_copy)
        if python is None:
            pytest.skip("no Python interpreter here that uid 65534 can run")
        chosen = RemoteRunner(python, package_copy)
    yield chosen
    chosen.close()


@pytest.fixture(scope="module")
def root_runner():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    chosen = LocalRunner()
    yield chosen
    chosen.close()


# --------------------------------------------------------------------------------------------------
# The safety net for IPC objects (class 1)

LIBC = ctypes.CDLL(None, use_errno=True)
IPC_RMID = 0


def sysv_objects() -> dict[str, set[int]]:
    """kind -> ids of the host's System V IPC objects (their owners' uids do not matter)."""
    found = {}
    for kind in ("shm", "msg", "sem"):
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        except OSError:
            lines = []
        found[kind] = {int(line.split()[1]) for line in lines if line.strip()}
    return found


def remove_sysv(kind: str, ident: int) -> None:
    remover = {"shm": LIBC.shmctl, "msg": LIBC.msgctl, "sem": LIBC.semctl}[kind]
    if kind == "sem":
        remover(ident, 0, IPC_RMID)
    else:
        remover(ident, IPC_RMID, None)


@pytest.fixture(autouse=True)
def no_ipc_left_behind():
    before = sysv_objects()
    yield
    left = {kind: ids - before[kind] for kind, ids in sysv_objects().items()}
    for kind, ids in left.items():
        for ident in ids:
            remove_sysv(kind, ident)  # clean the machine first, then fail
    queue_left = LIBC.mq_unlink(MQ_NAME.encode()) == 0
    shm_left = [p for p in Path("/dev/shm").glob(f"*{MARK}*")] if Path("/dev/shm").is_dir() else []
    for path in shm_left:
        path.unlink()
    assert not any(left.values()) and not queue_left and not shm_left, (left, queue_left, shm_left)


# --------------------------------------------------------------------------------------------------
# 1. Kernel objects that outlive the program

IPC_ATTACK = f"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def report(name, value):
    print(name, value, ctypes.get_errno())
report("shm", libc.shmget({IPC_KEY}, 64 << 20, 0o1600))        # IPC_CREAT | 0600, 64 MiB
report("shm_private", libc.shmget(0, 64 << 20, 0o1600))
report("msg", libc.msgget({IPC_KEY}, 0o1600))
report("sem", libc.semget({IPC_KEY}, 4, 0o1600))
libc.mq_open.restype = ctypes.c_int
report("mq", libc.mq_open({MQ_NAME.encode()!r}, os.O_CREAT | os.O_RDWR, 0o600, None))
try:
    from multiprocessing import shared_memory
    shared_memory.SharedMemory(name="attack-{MARK}", create=True, size=1 << 20)
    print("posix_shm created")
except Exception as exc:
    print("posix_shm", type(exc).__name__)
"""


def test_ipc_objects_do_not_outlive_the_program(runner):
    before = sysv_objects()
    result = runner.run(IPC_ATTACK)
    assert result.ok, result.stderr
    created = {line.split()[0]: int(line.split()[1]) for line in result.stdout.splitlines() if line[:1] != "p"}
    assert all(value == -1 for value in created.values()), result.stdout  # seccomp refuses each call
    assert sysv_objects() == before  # and nothing is left (the fixture also checks the POSIX queue)


def test_the_ipc_namespace_alone_destroys_the_objects(root_runner):
    """With the seccomp filter off, the calls succeed, in the program's own IPC namespace, which dies
    with it: the host sees nothing, during or after."""
    before = sysv_objects()
    result = root_runner.run(IPC_ATTACK, disabled=("seccomp",))
    assert result.ok and result.layers["ipc_namespace"] and not result.layers["seccomp"], result
    created = {line.split()[0]: int(line.split()[1]) for line in result.stdout.splitlines() if line[:1] != "p"}
    assert created["shm"] >= 0 and created["msg"] >= 0 and created["sem"] >= 0, result.stdout
    assert sysv_objects() == before


# --------------------------------------------------------------------------------------------------
# 2. Memory outside the address-space limit

def shmem_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Shmem:"):
            return int(line.split()[1]) * 1024
    return 0


def test_memfd_pages_cannot_be_held_outside_the_limit(runner):
    code = """
import os, time
fd = os.memfd_create("hoard")
held = 0
for _ in range(4):                       # at most 4 x 64 MiB: bounded even if a layer fails
    os.posix_fallocate(fd, held, 64 << 20)
    held += 64 << 20
print("held", held >> 20, "MiB")
time.sleep(1)
"""
    before = shmem_bytes()
    result = runner.run(code, memory_mb=64)
    assert not result.ok and "held" not in result.stdout, result
    assert result.error in ("exit code 1: PermissionError: [Errno 1] Operation not permitted",
                            "memory limit exceeded"), result.error
    assert shmem_bytes() - before < 64 << 20


def test_files_in_the_working_directory_are_capped(runner):
    """Its tmpfs holds max_file_bytes in all: more files do not add memory."""
    if not runner.run("pass").layers["mount_namespace"]:
        pytest.skip("no private tmpfs without a mount namespace")
    code = "for i in range(8):\n    open(f'f{i}', 'wb').write(b'x' * (16 << 20))"
    result = runner.run(code, memory_mb=64, max_file_bytes=32 << 20)
    assert result.error.startswith("exit code 1: OSError: [Errno 28] No space left on device"), result.error


def test_the_cgroup_counts_what_the_program_holds(root_runner):
    """Where cgroup v2 memory is delegated: tmpfs pages count, and its OOM kill is the pool's verdict."""
    probe = root_runner.run("pass")
    if not probe.layers["cgroup_memory"]:
        pytest.skip("no cgroup v2 memory controller here (matheval check lists the layers)")
    code = "for i in range(6):\n    open(f'f{i}', 'wb').write(b'x' * (32 << 20))"
    result = root_runner.run(code, memory_mb=64, max_file_bytes=256 << 20)
    assert result.error == "memory limit exceeded", result


# --------------------------------------------------------------------------------------------------
# 3. One program reads another's code and output

def zygote_memory_contains(pid: int, needles: list[bytes]) -> list[bytes]:
    """Scan the writable memory of the process that every later program is forked from."""
    found = set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as memory:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if "w" not in fields[1] or (len(fields) > 5 and fields[5].startswith("[v")):
                continue
            for offset in range(start, end, 1 << 24):
                try:
                    memory.seek(offset)
                    chunk = memory.read(min(1 << 24, end - offset) + 64)
                except OSError:
                    continue
                found |= {needle for needle in needles if needle in chunk}
    return sorted(found)


def test_a_later_program_inherits_no_bytes_of_an_earlier_one(runner):
    secret_code = f"source-{uuid.uuid4().hex}"
    secret_output = uuid.uuid4().hex
    earlier = runner.run(f"note = {secret_code!r}\nprint('answer', {secret_output[::-1]!r}[::-1])")
    assert earlier.stdout == f"answer {secret_output}\n"
    later = runner.run("print('later')")
    assert later.zygote == earlier.zygote and later.ok
    control = b"matheval.sandbox.zygote"  # the scan does find what the zygote holds
    needles = [secret_code.encode(), secret_output.encode(), control]
    assert zygote_memory_contains(later.zygote, needles) == [control]


# --------------------------------------------------------------------------------------------------
# 4. The program writes its own error; any bytes it prints

FORGER = """
import os, sys
for fd in range(3, 256):
    try:
        os.write(fd, b'{"layers": {}, "reason": "memory limit exceeded", "setup_error": "x"}\\n')
    except OSError:
        pass
print("memory limit exceeded", file=sys.stderr)
"""


def test_a_program_cannot_write_the_reason(runner):
    claimed = runner.run(FORGER + "raise SystemExit(1)")
    assert claimed.error == "exit code 1: memory limit exceeded"  # its words, after the pool's
    assert runner.run(FORGER).ok  # exit 0 whatever it wrote
    assert runner.run("raise MemoryError()").error == "exit code 1: MemoryError"
    signalled = runner.run("import os, signal\nos.kill(os.getpid(), signal.SIGXCPU)")
    assert signalled.error == "killed by signal SIGXCPU" and not signalled.timed_out


NASTY_OUTPUT = r"""
import os, sys
for fd in (1, 2):
    os.write(fd, b"lone surrogate \xed\xa0\x80, invalid \xff\xfe, nul \x00, ansi \x1b[2J, bidi \xe2\x80\xae\n")
raise ValueError("\udc80 \x1b[31mred\x00\u202e\nsecond line")
"""


def test_any_bytes_a_program_prints_are_stored_safely(runner, tmp_path):
    result = runner.run(NASTY_OUTPUT)
    for text in (result.stdout, result.stderr, result.error):
        text.encode("utf-8")  # valid Unicode: no lone surrogate left
    assert result.error.startswith("exit code 1: ") and result.error.isprintable(), repr(result.error)
    journal = Journal(tmp_path / "answers.jsonl", {"test": 1})
    journal.append({"id": "p1", "run": 0, **{k: result[k] for k in ("stdout", "stderr", "error")},
                    "raw": "\ud800 unpaired in the record itself"})
    journal.close()
    reread = Journal(tmp_path / "answers.jsonl", {"test": 1}).records[("p1", 0)]
    assert reread["error"] == result.error and "\ufffd unpaired" in reread["raw"]


def test_a_failing_program_is_one_failed_attempt(tmp_path):
    """Through the pool the agents use: hostile programs beside a normal one, all answered."""
    programs = [NASTY_OUTPUT, FORGER + "raise SystemExit(1)", "import os\nos.kill(os.getpid(), 9)",
                "print(6 * 7)"]

    async def main():
        async with SandboxPool(workers=2, limits=SandboxLimits(**LIMITS), preload=()) as pool:
            return await asyncio.gather(*(pool.run(code) for code in programs))

    results = asyncio.run(main())
    assert [r.ok for r in results] == [False, False, False, True] and results[-1].stdout == "42\n"
    journal = Journal(tmp_path / "answers.jsonl", {"test": 1})
    for number, result in enumerate(results):
        journal.append({"id": f"p{number}", "run": 0, "program": programs[number], **asdict(result)})
    journal.close()
    assert len(Journal(tmp_path / "answers.jsonl", {"test": 1}).records) == len(programs)


# --------------------------------------------------------------------------------------------------
# 5. Reads of the project, the virtualenv, the data, home

def read_targets() -> list[str]:
    from conftest import DATA_DIR
    targets = [REPO / "README.md", REPO / "matheval" / "data" / "__init__.py", Path(sys.prefix) / "pyvenv.cfg",
               DATA_DIR / "gsm8k" / "test.jsonl", Path.home() / ".bashrc", Path("/etc/passwd"),
               Path("/proc/1/environ"), Path("/proc/self/status")]
    torch_dir = Path(sysconfig.get_paths()["purelib"]) / "torch" / "__init__.py"
    return [str(p) for p in targets + [torch_dir] if p.exists()]


def reading_attack(targets: list[str]) -> str:
    return f"""
import os
for path in {targets!r}:
    try:
        with open(path, "rb") as f:
            print("READ", path, f.read(40))
    except OSError as exc:
        print("blocked", path, type(exc).__name__)
for folder in {sorted({os.path.dirname(t) for t in targets})!r}:
    try:
        print("LISTED", folder, os.listdir(folder)[:3])
    except OSError as exc:
        print("blocked", folder, type(exc).__name__)
for module in ("matheval.data", "matheval.grading", "torch", "transformers"):
    try:
        __import__(module)
        print("IMPORTED", module)
    except Exception as exc:
        print("blocked", module, type(exc).__name__)
import zoneinfo, sqlite3, json, decimal, fractions   # the standard library stays importable
print("stdlib ok", zoneinfo.ZoneInfo("UTC"))
"""


@pytest.mark.parametrize("disabled", [(), ("mount_namespace",), ("landlock",)],
                         ids=["all", "landlock-alone", "mount-namespace-alone"])
def test_the_project_venv_data_and_home_are_unreadable(runner, disabled):
    if disabled and runner.name != "root":
        pytest.skip("one layer at a time: tested as root")
    result = runner.run(reading_attack(read_targets()), disabled=disabled)
    leaked = [line for line in result.stdout.splitlines() if line.startswith(("READ", "IMPORTED"))]
    assert leaked == [], leaked
    if not disabled:  # (Landlock alone leaves names visible, through stat and listings, not contents)
        listed = " ".join(line for line in result.stdout.splitlines() if line.startswith("LISTED"))
        for name in ("README.md", "'matheval'", "pyvenv.cfg", "test.jsonl", ".bashrc", "passwd", "torch"):
            assert name not in listed, listed  # only the read view's own folders are there
        assert "stdlib ok UTC" in result.stdout, result.stderr


def test_the_gold_answer_of_its_own_problem_is_out_of_reach(runner, data_dir):
    """What the suite did: model-written code printed the GSM8K gold answer of its problem."""
    first = json.loads((data_dir / "gsm8k" / "test.jsonl").read_text().splitlines()[0])
    gold = first["answer"].split("####")[-1].strip()
    code = f"""
import glob, os
found = []
for pattern in ({str(data_dir)!r} + "/*/*", {str(REPO)!r} + "/**/*.jsonl", "/work/**/test.jsonl"):
    for path in glob.glob(pattern, recursive=True)[:50]:
        try:
            found.append(open(path).read(200_000))
        except OSError:
            pass
try:
    from matheval.data import load_problems
    found.append(str(load_problems("gsm8k")))
except Exception as exc:
    print("no loader", type(exc).__name__)
text = " ".join(found)
print("#### {gold}" in text, {first["question"][:40]!r} in text)
"""
    result = runner.run(code)
    assert result.ok, result.stderr
    assert result.stdout.splitlines()[-1] == "False False"


# --------------------------------------------------------------------------------------------------
# 6. Locks on host files

LOCKER = """
import fcntl, os, time
for path in {paths!r}:
    try:
        f = open(path, "rb")
    except OSError as exc:
        print("unopened", type(exc).__name__)
        continue
    for name, lock in (("flock", lambda: fcntl.flock(f, fcntl.LOCK_SH)),
                       ("posix", lambda: fcntl.lockf(f, fcntl.LOCK_SH)),
                       ("ofd", lambda: fcntl.fcntl(f, 37, b"\\0" * 32))):   # F_OFD_SETLK, struct flock
        try:
            lock()
            print("LOCKED", name, path)
        except OSError as exc:
            print("refused", name, type(exc).__name__)
time.sleep(2.5)
"""


def test_no_lock_stalls_the_hosts_writers(runner, tmp_path):
    victim = REPO / f".lock-victim-{MARK}"
    victim.write_text("shared")
    victim.chmod(0o644)
    readable = os.path.join(sysconfig.get_paths()["stdlib"], "os.py")  # inside the read view
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(
        result=runner.run(LOCKER.format(paths=[str(victim), readable]), wall_seconds=6)))
    try:
        worker.start()
        time.sleep(1.5)  # the program holds its locks now, if it got any
        with open(victim, "r+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if a shared lock is held
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with open(readable, "rb") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(f, fcntl.LOCK_UN)
    finally:
        worker.join(timeout=20)
        victim.unlink()
    result = outcome["result"]
    assert result.ok, result.stderr
    assert not any(line.startswith("LOCKED") for line in result.stdout.splitlines()), result.stdout


# --------------------------------------------------------------------------------------------------
# The layers, as `matheval check` reports them

def test_the_non_root_path_has_the_layers_of_the_root_path(root_runner, package_copy):
    """Through user namespaces, uid 65534 gets every layer root gets, but the uid switch (root's own)."""
    python = _nobody_python(package_copy)
    if python is None:
        pytest.skip("no Python interpreter here that uid 65534 can run")
    nobody = RemoteRunner(python, package_copy)
    try:
        theirs = nobody.run("pass").layers
    finally:
        nobody.close()
    ours = root_runner.run("pass").layers
    assert ours["uid_switch"] and theirs["user_namespace"] == ours["network_namespace"]
    same = [name for name in ours if name not in ("uid_switch", "user_namespace", "cgroup_memory")]
    assert {name: theirs[name] for name in same} == {name: ours[name] for name in same}
    assert ours["seccomp"] and ours["mount_namespace"] == ours["network_namespace"]


def test_signals_and_the_parent_stay_out_of_reach(runner):
    """Sanity after the attacks: the pool's process cannot be signalled; it still answers."""
    result = runner.run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    assert not result.ok
    assert runner.run("print('alive')").stdout == "alive\n"


def test_the_checks_see_an_escape_when_its_layers_are_off(root_runner):
    """Negative control: with the layers that close a class switched off, the same programs do escape
    and the checks above would fail (the objects are removed here, before the safety net looks)."""
    before = sysv_objects()
    result = root_runner.run(IPC_ATTACK, disabled=("seccomp", "ipc_namespace"))
    leaked = {kind: ids - before[kind] for kind, ids in sysv_objects().items()}
    for kind, ids in leaked.items():
        for ident in ids:
            remove_sysv(kind, ident)
    assert leaked["shm"] and leaked["msg"] and leaked["sem"], (result.stdout, leaked)
    result = root_runner.run(reading_attack(read_targets()), disabled=("mount_namespace", "landlock"))
    assert any(line.startswith(f"READ {REPO / 'README.md'}") for line in result.stdout.splitlines())
