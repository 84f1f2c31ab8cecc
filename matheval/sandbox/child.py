"""The child: a fresh fork of the zygote that locks itself down, reports its layers, then runs one program.

Descriptors on entry (the zygote placed them): 0 /dev/null, 1 stdout pipe, 2 stderr pipe, 3 status pipe,
4 the program's code (a memfd the pool wrote). The status pipe carries one line, written before the
program's first line runs and closed right after, so nothing the program does can reach it: the pool
decides every failure's reason from what it observes (verdict.py)."""

from __future__ import annotations

import json
import os
import signal

from . import cgroup, landlock, mountview, namespaces, seccomp
from .audithook import audit_hook
from .libc import PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, drop_capabilities, prctl, try_write
from .limits import set_rlimits, switch_uid
from .program import reset_interpreter, run_program
from .records import LAYERS

CODE_FD, STATUS_FD = 4, 3
SETUP_FAILED = 70  # the exit code of a child whose sandbox could not be built (the program never ran)


def close_all_except(keep: set[int]) -> None:
    low = 0
    for fd in sorted(keep) + [1 << 20]:
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1


def read_code() -> str:
    chunks = []
    while chunk := os.read(CODE_FD, 1 << 20):
        chunks.append(chunk)
    os.close(CODE_FD)
    return b"".join(chunks).decode("utf-8", errors="surrogatepass")


def main(job: dict, config: dict, zygote_pid: int) -> int:
    """Never raises; returns the exit code."""
    view = config.get("view_namespace") or {}
    keep = {0, 1, 2, STATUS_FD, CODE_FD, config.get("landlock_fd"), view.get("mnt"), view.get("user")} - {None}
    close_all_except(keep)  # the zygote's socket and pidfds, the other programs' descriptors
    try:
        code = read_code()
        layers = enter_sandbox(job, config, zygote_pid)
    except BaseException as exc:  # noqa: BLE001 - the program never ran; the pool reports this text
        _report({"setup_error": f"{type(exc).__name__}: {exc}"})
        return SETUP_FAILED
    _report({"layers": layers})
    os.close(STATUS_FD)
    if config["python_guard"]:
        import sys
        sys.addaudithook(audit_hook(job["workdir"]))
    return run_program(code)


def _report(message: dict) -> None:
    try:
        os.write(STATUS_FD, (json.dumps(message) + "\n").encode())
    except OSError:
        pass


def enter_sandbox(job: dict, config: dict, zygote_pid: int) -> dict:
    """Apply every layer this machine offers, in the order their prerequisites need (cgroup, namespaces
    and mounts while privileged, then limits, then dropping privileges, then filters); returns which
    took effect."""
    workdir, limits, disabled = job["workdir"], job["limits"], set(config.get("disabled", ()))
    layers = dict.fromkeys(LAYERS, False)
    os.setsid()
    layers["process_group"] = True
    try_write("/proc/self/oom_score_adj", "1000")  # if memory runs out, the kernel kills us first
    if job.get("cgroup"):
        layers["cgroup_memory"] = cgroup.join(job["cgroup"])
    is_root = os.geteuid() == 0
    uid = config["uid_base"] + os.getpid()
    view = config.get("view_namespace")
    if view and view["user"] is not None:
        mountview.join_user_namespace(view)
    entered = namespaces.enter(is_root, in_user_namespace=bool(view and view["user"] is not None),
                               disabled=disabled)
    layers["user_namespace"] = "user" in entered
    layers["network_namespace"] = "net" in entered
    layers["ipc_namespace"] = "ipc" in entered
    if view:
        mountview.enter(view, workdir, limits["max_file_bytes"], uid if is_root else None)
        layers["mount_namespace"] = True
    else:
        if is_root:
            os.chown(workdir, uid, uid)
        os.chmod(workdir, 0o700)
        os.chdir(workdir)
    layers["rlimits"] = set_rlimits(limits, config["baseline_bytes"])
    if is_root:
        layers["uid_switch"] = switch_uid(uid)
    elif "user" in entered:
        drop_capabilities()
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid switch, which clears it
    if os.getppid() != zygote_pid:  # the zygote died before we could ask to die with it
        raise RuntimeError("zygote exited")
    layers["no_new_privs"] = prctl(PR_SET_NO_NEW_PRIVS, 1)
    if layers["no_new_privs"] and "landlock" not in disabled:
        layers["landlock"] = landlock.restrict(workdir, config.get("landlock_fd"), config["landlock_abi"])
    for fd in (config.get("landlock_fd"), (view or {}).get("mnt"), (view or {}).get("user")):
        if fd is not None:  # the Landlock ruleset and the view's namespaces: applied, so closed
            os.close(fd)
    if layers["no_new_privs"] and "seccomp" not in disabled:
        layers["seccomp"] = seccomp.install(os.getpid())
    reset_interpreter(workdir)
    layers["audit_hook"] = bool(config["python_guard"])
    return layers
