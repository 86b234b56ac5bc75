"""Weight-sharing selectors: each asks the shared trainer (``benchsuite.supernet``) for a trained
supernet, then scores cells on it and derives one cell (darts, it, darts-pt, spos, fewshot, rlnas)."""
