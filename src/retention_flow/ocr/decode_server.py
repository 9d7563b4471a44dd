"""The decoder fork server: ``python -m retention_flow.ocr.decode_server FD``.

A single-threaded process with Pillow and PDFium loaded. For every job it receives on the
control socket ``FD`` (one byte carrying one file descriptor, the job's channel) it forks
a child that reads that one file and exits. Forking from this clean process costs a few
ms, where starting Python and importing the decoders costs half a second; forking the
(multi-threaded) API process itself would not be safe. The server exits when the control
socket closes (its parent went away). See :mod:`retention_flow.ocr.isolated`.

The child: sends its pid, receives ``(data, limits, memory_bytes, cpu_seconds)``, caps its
address space at its start size plus ``memory_bytes`` and its CPU time at
``cpu_seconds`` (a backstop should its parent die), then sends each page as a PNG as soon
as it is drawn, and ``done`` or the refusal.
"""

from __future__ import annotations

import io
import os
import resource
import signal
import socket
import sys
import time
from multiprocessing.connection import Connection

from retention_flow.ocr.errors import ScanTooLarge, UnreadableInput
from retention_flow.ocr.pages import iter_pages

MB = 1024 * 1024


def serve(control_fd: int) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C goes to the API process, not here
    control = socket.socket(fileno=control_fd)
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(control, 1, 1)
        except InterruptedError:
            continue
        if not message:
            return
        for fd in fds:
            if os.fork() == 0:
                control.close()
                _run_child(fd)
            os.close(fd)


def _run_child(fd: int) -> None:
    code = 0
    try:
        job(Connection(fd))
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _vm_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def job(conn: Connection) -> None:
    """One file, in the forked child."""
    conn.send(("pid", os.getpid()))
    data, limits, memory_bytes, cpu_seconds = conn.recv()
    try:
        cap = _vm_bytes() + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        cpu = int(cpu_seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        for image in iter_pages(data, limits):
            out = io.BytesIO()
            image.save(out, "PNG", compress_level=1)  # fast: the page is stored once
            width, height = image.size
            del image
            conn.send(("page", width, height, out.getvalue()))
        conn.send(("done", time.process_time()))
    except ScanTooLarge as exc:
        conn.send(("too_large", exc.detail, exc.limit))
    except UnreadableInput as exc:
        conn.send(("unreadable", exc.detail))
    except MemoryError:
        reason = f"decoding needs more than the memory limit of {memory_bytes // MB} MB"
        conn.send(("too_large", reason, "memory"))
    except Exception as exc:  # a decoder's own failure: the file is damaged
        conn.send(("unreadable", f"the file could not be decoded: {exc}"))
    finally:
        conn.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
