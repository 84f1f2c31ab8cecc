"""The Python audit hook: clear refusals ("blocked: network access") for the common cases.

Only a courtesy layer: it runs inside the program's own interpreter, so native code (numpy keeps ctypes
loaded) or monkeypatching switches it off. The OS layers carry the weight; the attack tests run with
the hook off."""

from __future__ import annotations

import os

from .records import SandboxViolation

_REFUSED_EVENTS = {  # CPython's audit events (os.spawn* goes through os.fork)
    "subprocess.Popen": "process creation", "os.system": "process creation",
    "os.fork": "process creation", "os.forkpty": "process creation", "os.exec": "process creation",
    "os.posix_spawn": "process creation", "pty.spawn": "process creation",
    "gc.get_objects": "inspecting the interpreter", "gc.get_referrers": "inspecting the interpreter",
    "gc.get_referents": "inspecting the interpreter",
}
_PATH_EVENTS = {  # event -> positions of the arguments that name paths being changed
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.chmod": (0,), "os.chown": (0,),
    "os.truncate": (0,), "os.utime": (0,), "os.setxattr": (0,), "os.removexattr": (0,),
    "os.rename": (0, 1), "os.link": (1,), "os.symlink": (1,), "shutil.rmtree": (0,),
}


def audit_hook(workdir: str):
    realpath, fsdecode, getpid = os.path.realpath, os.fsdecode, os.getpid
    inside = workdir.rstrip("/") + "/"
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    refused, path_events = dict(_REFUSED_EVENTS), dict(_PATH_EVENTS)

    def allowed_target(path) -> bool:
        if isinstance(path, int):  # an already-open descriptor
            return True
        resolved = realpath(fsdecode(path))
        return resolved == workdir or resolved.startswith(inside) or resolved == "/dev/null"

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            if len(args) > 2 and isinstance(args[2], int) and args[2] & writing \
                    and not allowed_target(args[0]):
                raise SandboxViolation("blocked: writing outside the working directory")
        elif event in path_events:
            if not all(allowed_target(args[i]) for i in path_events[event] if i < len(args)):
                raise SandboxViolation("blocked: changing files outside the working directory")
        elif event in refused:
            raise SandboxViolation(f"blocked: {refused[event]}")
        elif event.startswith("socket."):
            raise SandboxViolation("blocked: network access")
        elif event.startswith("ctypes."):
            raise SandboxViolation("blocked: native code (ctypes)")
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            if not (event == "os.kill" and args and args[0] == getpid()):
                raise SandboxViolation("blocked: signalling other processes")

    return hook
