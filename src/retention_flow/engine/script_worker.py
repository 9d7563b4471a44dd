"""A script worker process (started by ``script_pool``; not a command to run by hand).

Reads requests from stdin and answers on stdout, one at a time: ``(kind, source, context,
external, options)`` where kind is ``exec`` or ``eval``. It runs them in a
``SandboxEnvironment`` without a pool (the same guards and time ticks as everywhere), under
an address-space limit set at start and a CPU limit set before each request, and answers
``("ok", value)`` or ``("error", (name, args, detail, errors, line))``; a third item asks the
pool to replace this worker (after a ``MemoryError``, its heap may be fragmented).
"""

from __future__ import annotations

import math
import os
import pickle
import resource
import signal
import sys
from typing import Any

from retention_flow.engine.sandbox import SandboxEnvironment
from retention_flow.engine.sandbox_limits import is_plain
from retention_flow.engine.sandbox_policy import SCRIPT_FILENAME
from retention_flow.engine.script_pool import HEADER, READY

INT_MAX_STR_DIGITS = 4300
CPU_GRACE_SECONDS = 2


def _read_exact(stream: Any, size: int) -> bytes | None:
    data = stream.read(size)
    return data if data and len(data) == size else None


def _limit_cpu(budget: float) -> None:
    """The kernel ends this process if the next request spins past its budget (+2 s)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    soft = math.ceil(used + budget) + CPU_GRACE_SECONDS
    resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))


def _line_of(error: BaseException) -> int | None:
    line = None
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename == SCRIPT_FILENAME:
            line = frame.tb_lineno
        frame = frame.tb_next
    return line


def _describe(error: BaseException) -> tuple[Any, ...]:
    args = tuple(arg if is_plain(arg) else repr(arg)[:1000] for arg in error.args[:4])
    detail = getattr(error, "detail", None) or str(error)[:4000]
    errors = getattr(error, "errors", None) or []
    return type(error).__name__, args, detail, errors, _line_of(error)


def handle(request: tuple[Any, ...]) -> tuple[Any, ...]:
    kind, source, context, external, options = request
    moment, helpers = options["now"], options["helpers"]
    env = SandboxEnvironment(
        budget_seconds=options["budget_seconds"],
        now=lambda: moment,
        helpers=lambda _moment: helpers,
        max_data_bytes=options["max_data_bytes"],
    )
    _limit_cpu(options["budget_seconds"])
    try:
        if kind == "eval":
            return ("ok", env.evaluate(source, context, external))
        env.execute(source, context, external)
        return ("ok", context)
    except MemoryError as error:
        return ("error", _describe(error), True)
    except Exception as error:
        return ("error", _describe(error))


def main() -> None:
    memory = int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    sys.dont_write_bytecode = True
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # no files written, whatever happens
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.set_int_max_str_digits(INT_MAX_STR_DIGITS)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers goes down the pipe
    stdout.write(READY)
    stdout.flush()
    while True:
        header = _read_exact(stdin, HEADER.size)
        if header is None:
            return
        payload = _read_exact(stdin, HEADER.unpack(header)[0])
        if payload is None:
            return
        reply: tuple[Any, ...] = ()
        try:
            reply = handle(pickle.loads(payload))  # noqa: S301 - from the serving process
            answer = pickle.dumps(reply, protocol=5)
        except MemoryError as error:
            reply = ("error", _describe(error), True)
            answer = pickle.dumps(reply, protocol=5)
        except Exception as error:  # an answer that does not pickle
            answer = pickle.dumps(("error", _describe(error)), protocol=5)
        stdout.write(HEADER.pack(len(answer)) + answer)
        stdout.flush()
        if len(reply) == 3 and reply[0] == "error" and reply[2] is True:
            os._exit(0)  # the pool replaces this worker
