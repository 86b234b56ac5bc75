#!/usr/bin/env bash
# The device checks of issue "on a GPU", as one command on a CUDA machine (a few minutes):
#   1. packing's speed-up: the eight zero-cost proxies (share=true) on 64 NB-201 cells, one cell
#      per pass against 32 per pass, each on an empty cache;
#   2. the whole space: the eight proxies on all 15,625 NB-201 cells (6,466 classes), CIFAR-10
#      subset images, seed 0, packed path; wall time and cells/s; every proxy's column written to
#      one CSV with the CIFAR-10 200-epoch test accuracy, and its Spearman rho over all cells;
#   3. the CUDA-visible tests of the proxy and supernet code (device "auto" resolves to cuda).
# Usage there: BENCHSUITE_DATA=DIR bash benchmarks/gpu_checks.sh   (OUT: where files go)
# Each step has its own time limit, so a slow one still leaves the others' figures.
set -uo pipefail
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 MPLBACKEND=Agg BENCHSUITE_OFFLINE=1
export BENCHSUITE_DATA="${BENCHSUITE_DATA:-$PWD/.devdata}"
OUT="${OUT:-/tmp/gpu_checks}"
mkdir -p "$OUT"
work="$(mktemp -d)"
log="$OUT/gpu_log.txt"
say() { echo "$*" | tee -a "$log"; }
stamp() { date +%s.%N; }

say "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$log"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())" \
    2>&1 | tee -a "$log"

say "== 1. packing: 8 proxies (share=true) on 64 cells, cell_batch 1 vs 32, empty cache each"
for cb in 1 32; do
    t0=$(stamp)
    BENCHSUITE_CACHE="$work/cache-pack$cb" timeout 100 python3 -m benchsuite run --bench nb201 --selector synflow \
        --hp share=true --hp cell_batch=$cb --device cuda --sample 64 --no-plots --n-boot 0 \
        --out "$work/pack$cb" >>"$log" 2>&1
    rc=$?
    say "cell_batch=$cb: exit $rc, $(python3 -c "print(round($(stamp) - $t0, 1))") s wall (import and table load included)"
done

say "== 2. whole space: 8 proxies on all 15,625 cells, CIFAR-10, seed 0, cell_batch 64"
t0=$(stamp)
BENCHSUITE_CACHE="$work/cache" timeout 220 python3 -m benchsuite run --bench nb201 --selector synflow \
    --hp share=true --hp cell_batch=64 --device cuda --no-plots --n-boot 0 --out "$work/space" >>"$log" 2>&1
rc=$?
say "whole space: exit $rc, $(python3 -c "print(round($(stamp) - $t0, 1))") s wall"
BENCHSUITE_CACHE="$work/cache" timeout 60 python3 - "$work/space" "$OUT" <<'EOF' 2>&1 | tee -a "$log"
import sys, time
from pathlib import Path

import pandas as pd
from scipy import stats

from benchsuite import get_selector
from benchsuite.run_folder import read_scores
from benchsuite.selectors.base import Context
from benchsuite.selectors.proxies.measures import PROXIES

space, out = Path(sys.argv[1]), Path(sys.argv[2])
done = read_scores(space / "scores.csv")          # the cells the run finished (all, unless it timed out)
table = done[["arch", "true_acc"]].rename(columns={"true_acc": "cifar10_200ep_test"})
ctx = Context(space="nb201", dataset="cifar10", seed=0, device="cuda")
t0 = time.time()
for p in PROXIES:                                  # served from the cache the run filled
    sel = get_selector(p, share=True, cell_batch=64, device="cuda", seed=0)
    sel.preflight(ctx)
    table[p] = sel.score(list(table.arch), ctx)
print(f"served {len(PROXIES)} proxies x {len(table)} cells from the cache in {time.time() - t0:.1f} s")
for p in PROXIES:
    ok = table[p].notna()
    rho = stats.spearmanr(table.loc[ok, p], table.loc[ok, "cifar10_200ep_test"]).statistic
    print(f"  {p:<10} rho {rho:.4f} over {int(ok.sum())} cells (CIFAR-10 200-epoch test, seed 0)")
table.to_csv(out / "nb201_cifar10_seed0_proxies.csv.gz", index=False, float_format="%.10g")
EOF
cp "$work/space/run.json" "$OUT/space_run.json" 2>/dev/null

say "== 3. tests with CUDA visible"
BENCHSUITE_CACHE="$work/cache-tests" timeout 90 python3 -m pytest -q -p no:cacheprovider -x \
    tests/test_proxy_packed.py tests/test_zero_cost.py tests/test_supernet.py -m "not slow" 2>&1 | tail -15 | tee -a "$log"
say "== done"
