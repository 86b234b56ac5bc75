#!/usr/bin/env bash
# The all-cell tables' pieces the CPU cannot finish, computed on a lent GPU in one command: the table
# job (benchmarks/proxy_tables_job.py) on CUDA, one proxy:table at a time, under one time limit for
# all. Shards of 10 cells, so a stop keeps every finished shard; the job skips the shards the working
# tree already holds. Usage on the lent machine, from the repository root:
#   BENCHSUITE_DATA=DIR [LIMIT=480] [WORKERS=2] bash benchmarks/gpu_tables.sh [PROXY:TABLE ...]
# (with the device tool: `cp -r ../shared/data .devdata` here, then run `bash benchmarks/gpu_tables.sh`
# there with carry [".devdata"]: BENCHSUITE_DATA defaults to it)
# Default: the CIFAR-10 columns the CPU job has not finished.
# The shards of every piece come back as one archive, $OUT/shards.tgz (the device tool returns at most
# 8 files, 2 folders down): `tar -xzf shards.tgz -C results/zero_cost_all/shards` here, then
# `python benchmarks/build_proxy_tables.py` for the proxies complete.
# A proxy's shards must keep one --shard-size for all of its table: the NB-201 columns keep the CPU
# job's 250; an NB-101 piece is cut into shards of 10 cells.
set -uo pipefail
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 MPLBACKEND=Agg BENCHSUITE_OFFLINE=1
export BENCHSUITE_DATA="${BENCHSUITE_DATA:-$PWD/.devdata}"
OUT="${OUT:-/tmp/gpu_tables}"
LIMIT="${LIMIT:-480}"
WORKERS="${WORKERS:-2}"
DEVICE="${DEVICE:-cuda}"   # DEVICE=cpu runs the same steps on a machine without a GPU (a smoke run)
EXTRA="${EXTRA:-}"         # more job options, e.g. EXTRA="--classes 2" for a smoke run (with SHARDS elsewhere)
shards="${SHARDS:-results/zero_cost_all/shards}"
mkdir -p "$OUT"
log="$OUT/gpu_tables_log.txt"
pieces=("$@")
[ ${#pieces[@]} -eq 0 ] && pieces=(swap:nb201-cifar10 tenas_ntk:nb201-cifar10)
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } 2>&1 | tee -a "$log"
end=$(( $(date +%s) + LIMIT ))
back=()
for piece in "${pieces[@]}"; do
    proxy=${piece%%:*}; table=${piece#*:}
    size=250; [ "$table" = nb101-cifar10 ] && size=10
    left=$(( end - $(date +%s) ))
    [ "$left" -le 10 ] && { echo "time limit reached before $piece" | tee -a "$log"; break; }
    before=$(ls "$shards/$table/$proxy"/shard-*.json 2>/dev/null | wc -l)
    t0=$(date +%s)
    # SIGTERM lets the job stop its workers; the shard in progress is lost, the finished ones stay
    timeout --signal=TERM "$left" python3 benchmarks/proxy_tables_job.py --proxies "$proxy" --tables "$table" \
        --device "$DEVICE" --workers "$WORKERS" --shard-size "$size" --out "$shards" $EXTRA 2>&1 | tee -a "$log"
    rc=${PIPESTATUS[0]}
    after=$(ls "$shards/$table/$proxy"/shard-*.json 2>/dev/null | wc -l)
    echo "$piece: exit $rc, $(( after - before )) new shards ($after in all) in $(( $(date +%s) - t0 )) s" | tee -a "$log"
    [ "$after" -gt 0 ] && back+=("$table/$proxy")
done
if [ ${#back[@]} -gt 0 ]; then
    tar -czf "$OUT/shards.tgz" -C "$shards" "${back[@]}" && echo "shards of ${back[*]} in $OUT/shards.tgz" | tee -a "$log"
fi
