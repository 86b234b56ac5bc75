"""Progress bars: tqdm on stderr with counts, rate and ETA, and an optional postfix (a supernet's
running loss and accuracy). On a terminal it redraws in place; in a log it writes a line at most
every 10 s, the first after 2 s (a quick failure prints only its error)."""
from __future__ import annotations

import sys

from tqdm import tqdm


class Progress:
    log_delay_s = 2.0   # in a log (not a terminal): nothing for a task shorter than this

    def __init__(self, total: int, desc: str = "", stream=None, unit: str = "it", initial: int = 0):
        """``initial``: how much is done already (a search's queries spent before it starts)."""
        stream = stream or sys.stderr
        tty = getattr(stream, "isatty", lambda: False)()
        self._bar = tqdm(total=max(total, 1), desc=desc, file=stream, unit=unit, dynamic_ncols=tty, initial=initial,
                         mininterval=0.2 if tty else 10.0, ascii=not tty, delay=0 if tty else self.log_delay_s)

    def update(self, n: int = 1, postfix: str = "") -> None:
        """Advance by ``n``; ``postfix`` (e.g. running loss/accuracy) is shown after the counts."""
        if postfix:
            self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.update(n)
        if self._bar.n >= self._bar.total:
            self._bar.close()

    def update_to(self, n: int, postfix: str = "") -> None:
        """Advance to ``n`` done (e.g. a search's queries spent so far); nothing when it has not moved,
        so a loop may call it every cycle."""
        if n != self._bar.n:
            self.update(n - self._bar.n, postfix)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:   # an error follows: wipe the half-drawn bar so it prints on a clean line
            self._bar.leave = False
        self._bar.close()
