"""A dependency-free progress bar: redraws in place on a terminal, prints every 10% otherwise."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, desc: str = "", stream=None):
        self.total, self.desc, self.done = max(total, 1), desc, 0
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.t0 = time.perf_counter()
        self._last_decile = -1

    def update(self, n: int = 1, postfix: str = "") -> None:
        """Advance by ``n``; ``postfix`` (e.g. running loss/accuracy) is shown after the counts."""
        self.done = min(self.total, self.done + n)
        tail = f" {postfix}" if postfix else ""
        frac = self.done / self.total
        rate = self.done / max(time.perf_counter() - self.t0, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        if self.tty:
            bar = "#" * int(30 * frac)
            counts = f"{self.done}/{self.total} {rate:.1f}/s eta {eta:.0f}s"
            self.stream.write(f"\r{self.desc} [{bar:<30}] {counts}{tail}\x1b[K")   # \x1b[K: clear the rest
            if self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()
        elif int(frac * 10) != self._last_decile:
            self._last_decile = int(frac * 10)
            line = f"{self.desc} {self.done}/{self.total} ({frac:.0%}, {rate:.1f}/s){tail}"
            print(line, file=self.stream, flush=True)
