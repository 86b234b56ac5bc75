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

    def update(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        frac = self.done / self.total
        rate = self.done / max(time.perf_counter() - self.t0, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        if self.tty:
            bar = "#" * int(30 * frac)
            self.stream.write(f"\r{self.desc} [{bar:<30}] {self.done}/{self.total} {rate:.1f}/s eta {eta:.0f}s")
            if self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()
        elif int(frac * 10) != self._last_decile:
            self._last_decile = int(frac * 10)
            print(f"{self.desc} {self.done}/{self.total} ({frac:.0%}, {rate:.1f}/s)", file=self.stream, flush=True)
