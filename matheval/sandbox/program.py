"""Running the program inside the locked-down child: a clean-looking interpreter, then exec.

Runs after every layer is on, so nothing here is trusted by the pool: the exit status is what the
kernel reports, and the traceback printed here is just the program's stderr."""

from __future__ import annotations

import os
import sys
import tempfile

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def reset_interpreter(workdir: str) -> None:
    """Make the forked interpreter look like a fresh one started in workdir with a minimal environment."""
    import importlib

    os.environ.clear()
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir,
                       "TMPDIR": workdir, "USER": "sandbox", "LOGNAME": "sandbox",
                       "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                       "PYTHONDONTWRITEBYTECODE": "1"})
    tempfile.tempdir = None
    sys.dont_write_bytecode = True
    sys.argv = ["<program>"]
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False,
                      buffering=1)  # line by line: what was printed before a time-out is kept
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False,
                      buffering=1)
    importlib.invalidate_caches()  # the import system lists folders afresh: only the read view is there
    if "random" in sys.modules:  # a fresh interpreter would seed from the OS; so do we
        sys.modules["random"].seed()
    if "numpy.random" in sys.modules:
        sys.modules["numpy.random"].seed()


def run_program(code: str) -> int:
    """exec the program as __main__; returns its exit code (1 and a traceback if it raised)."""
    import builtins
    import linecache
    import traceback
    import types

    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    linecache.cache["<program>"] = (len(code), None, code.splitlines(True), "<program>")
    exit_code = 0
    try:
        exec(compile(code, "<program>", "exec"), main.__dict__)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            exit_code = exc.code or 0
        else:  # sys.exit("message"): Python prints it and exits 1
            print(exc.code, file=sys.stderr)
            exit_code = 1
    except BaseException as exc:  # noqa: BLE001 - the program's failure, reported as Python would
        exit_code = 1
        try:
            traceback.print_exception(type(exc), exc, _program_frames(exc.__traceback__))
        except BaseException:  # noqa: BLE001
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass
    return exit_code if 0 <= exit_code <= 255 else exit_code & 0xFF


def _program_frames(tb):
    """The traceback without the sandbox's own frames (this runner, the audit hook)."""
    frames = []
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR + os.sep):
            frames.append(tb)
        tb = tb.tb_next
    for earlier, later in zip(frames, frames[1:]):
        earlier.tb_next = later
    if frames:
        frames[-1].tb_next = None
    return frames[0] if frames else None
