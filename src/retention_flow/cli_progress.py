"""A progress line for long commands: a bar redrawn in place on a terminal, plain lines
now and then otherwise (a log file or a pipe gets no carriage returns)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

BAR = 24


def _duration(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class ProgressLine:
    """``(done, total)`` -> ``label [#####-----] done / total unit  pct  rate/s  ETA``.

    On a terminal the line is redrawn at most every ``tty_every`` seconds; elsewhere a
    line is written at most every ``plain_every`` seconds. The first and the last call
    always show. ``clock`` is injectable (tests)."""

    def __init__(
        self,
        label: str,
        unit: str = "events",
        out: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        tty_every: float = 0.2,
        plain_every: float = 10.0,
    ) -> None:
        self.label, self.unit = label, unit
        self.out = out if out is not None else sys.stderr
        self.tty = self.out.isatty()
        self.clock = clock
        self.every = tty_every if self.tty else plain_every
        self.first: tuple[float, int] | None = None
        self.shown = -1.0
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.first is None:
            self.first = (now, done)
        elif now - self.shown < self.every and done < total:
            return
        self.shown = now
        self.out.write(("\r" if self.tty else "") + self.text(done, total, now))
        self.out.write("\x1b[K" if self.tty else "\n")
        self.out.flush()
        self.drawn = True

    def text(self, done: int, total: int, now: float) -> str:
        began, done_first = self.first or (now, done)
        rate = (done - done_first) / (now - began) if now > began else 0.0
        share = done / total if total else 1.0
        eta = _duration((total - done) / rate) if rate > 0 and done < total else "-"
        bar = ""
        if self.tty:
            filled = round(BAR * min(share, 1.0))
            bar = "[" + "#" * filled + "-" * (BAR - filled) + "] "
        return (
            f"{self.label} {bar}{done:,} / {total:,} {self.unit}  {share:6.1%}  "
            f"{rate:,.0f}/s  ETA {eta}"
        )

    def finish(self) -> None:
        """End the redrawn line (a terminal's next output starts on a line of its own)."""
        if self.tty and self.drawn:
            self.out.write("\n")
            self.out.flush()
