"""The pool <-> zygote channel: one JSON object per datagram on a SOCK_SEQPACKET Unix socket, with the
program's descriptors (code, stdout, stderr, status) attached to its run message.

The zygote only ever sees ids, limits and exit facts: a program's code and output travel in descriptors
it passes on unread, so a later fork of it holds no earlier program's bytes."""

from __future__ import annotations

import json
import socket

MAX_MESSAGE = 1 << 16
RUN_FDS = 4  # code, stdout, stderr, status


def send(sock: socket.socket, message: dict, fds: list[int] = ()) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def receive(sock: socket.socket) -> tuple[dict | None, list[int]]:
    """(None, []) at end of stream. Descriptors beyond RUN_FDS are closed by the kernel (MSG_CTRUNC)."""
    data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, RUN_FDS, socket.MSG_CMSG_CLOEXEC)
    if not data:
        return None, fds
    return json.loads(data), fds
