"""Linux system calls that Python's os module lacks, through one ctypes handle on libc.

The zygote resolves everything here before it forks, so a child never has to load a library (dlopen)
once its filters are on."""

from __future__ import annotations

import ctypes
import os
import platform
import struct

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWIPC = 0x00020000, 0x10000000, 0x40000000, 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS = 1, 22, 38

MACHINE = platform.machine()
SYSCALLS = {  # name: (x86_64, aarch64); from the kernel's unistd headers
    "fork": (57, None), "vfork": (58, None), "clone": (56, 220), "clone3": (435, 435),
    "execve": (59, 221), "execveat": (322, 281), "socket": (41, 198), "socketpair": (53, 199),
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "chroot": (161, 51),
    "unshare": (272, 97), "setns": (308, 268), "bpf": (321, 280), "perf_event_open": (298, 241),
    "keyctl": (250, 219), "add_key": (248, 217), "request_key": (249, 218), "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294), "reboot": (169, 142),
    "swapon": (167, 224), "swapoff": (168, 225), "acct": (163, 89), "open_tree": (428, 428),
    "move_mount": (429, 429), "fsopen": (430, 430), "fsconfig": (431, 431), "fsmount": (432, 432),
    "fspick": (433, 433), "mount_setattr": (442, 442), "pidfd_getfd": (438, 438),
    "pidfd_send_signal": (424, 424), "pidfd_open": (434, 434), "process_madvise": (440, 440),
    "open_by_handle_at": (304, 265), "kcmp": (312, 272), "syslog": (103, 116),
    # kernel objects that outlive the process (System V and POSIX IPC)
    "shmget": (29, 194), "shmat": (30, 196), "shmctl": (31, 195), "shmdt": (67, 197),
    "semget": (64, 190), "semop": (65, 193), "semctl": (66, 191), "semtimedop": (220, 192),
    "msgget": (68, 186), "msgsnd": (69, 189), "msgrcv": (70, 188), "msgctl": (71, 187),
    "mq_open": (240, 180), "mq_unlink": (241, 181), "mq_timedsend": (242, 182),
    "mq_timedreceive": (243, 183), "mq_notify": (244, 184), "mq_getsetattr": (245, 185),
    # memory that RLIMIT_AS does not count until it is mapped
    "memfd_create": (319, 279), "memfd_secret": (447, 447),
    # locks that would stall the host's writers
    "flock": (73, 32),
    # signals: allowed only to the program's own pid (see seccomp.py)
    "kill": (62, 129), "tkill": (200, 130), "tgkill": (234, 131), "rt_sigqueueinfo": (129, 138),
    "rt_tgsigqueueinfo": (297, 240), "fcntl": (72, 25),
    # used by the sandbox itself
    "landlock_create_ruleset": (444, 444), "landlock_add_rule": (445, 445),
    "landlock_restrict_self": (446, 446),
}


def syscall_number(name: str) -> int | None:
    column = {"x86_64": 0, "aarch64": 1}.get(MACHINE)
    return None if column is None else SYSCALLS[name][column]


_LIBC = None


def libc():
    global _LIBC
    if _LIBC is None:
        handle = ctypes.CDLL(None, use_errno=True)
        handle.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                                 ctypes.c_char_p]
        handle.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        handle.unshare.argtypes = [ctypes.c_int]
        handle.setns.argtypes = [ctypes.c_int, ctypes.c_int]
        handle.syscall.restype = ctypes.c_long
        for name in ("prctl", "capset", "capget", "syscall", "setns"):
            getattr(handle, name)  # resolve now
        _LIBC = handle
    return _LIBC


def syscall(name: str, *args) -> int:
    """A raw system call; returns -1 and sets errno on failure (and when the call is unknown here)."""
    number = syscall_number(name)
    if number is None:
        return -1
    return libc().syscall(ctypes.c_long(number), *args)


def check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: None if s is None else s.encode())
    check(libc().mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def umount(target: str, flags: int = 0) -> None:
    check(libc().umount2(target.encode(), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    check(syscall("pivot_root", new_root.encode(), put_old.encode()), "pivot_root")


def unshare(flags: int) -> bool:
    if hasattr(os, "unshare"):  # Python >= 3.12
        try:
            os.unshare(flags)
            return True
        except OSError:
            return False
    return libc().unshare(flags) == 0


def prctl(option: int, arg: int = 0) -> bool:
    ulong = ctypes.c_ulong
    return libc().prctl(option, ulong(arg), ulong(0), ulong(0), ulong(0)) == 0


def drop_capabilities() -> None:
    """Clear the effective, permitted and inheritable capability sets of this thread."""
    header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = ctypes.create_string_buffer(24)  # two zeroed {effective, permitted, inheritable}
    check(libc().capset(ctypes.c_char_p(header), data), "capset")


def has_capabilities() -> bool:
    header = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0))
    data = ctypes.create_string_buffer(24)
    check(libc().capget(header, data), "capget")
    return any(data.raw)


def try_write(path: str, text: str) -> bool:
    try:
        with open(path, "w") as f:
            f.write(text)
        return True
    except OSError:
        return False
