#!/usr/bin/env bash
# The GPU check of issue 12, one command for a session that has a CUDA GPU (no network needed):
#
#   bash benchmarks/gpu/check.sh OUTDIR
#
# Builds ganforge._C for the visible GPU's architecture (pip, --no-index: nothing is downloaded),
# runs the CUDA kernel tests (outputs, gradients, running statistics, fp32/fp16/bf16, NCHW and
# channels_last, odd shapes, opcheck of every op), measures the device-to-device copy bandwidth,
# runs `ganforge bench --device cuda` at batch 64/128/256 in float32 and bfloat16,
# `ganforge bench train` where that command exists, and a 200-step `ganforge train dcgan`.
# Writes OUTDIR/report.md, the raw JSON and one log per step. A failing step is recorded and
# the next one runs; the exit code is 1 if any step failed. A time budget (GPU_CHECK_BUDGET_S,
# default 540 s) keeps the whole run inside 10 minutes: steps that no longer fit are recorded
# as skipped-for-time, which counts as a failure.
# Without a CUDA GPU it prints one line and exits 1, leaving nothing behind.
# PYTHON picks the interpreter (default: python).
set -u -o pipefail

if [ $# -ne 1 ]; then
    echo "usage: bash benchmarks/gpu/check.sh OUTDIR" >&2
    exit 2
fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python}"
OUT="$1"
BUDGET="${GPU_CHECK_BUDGET_S:-540}"

probe="$("$PYTHON" "$HERE/probe.py" 2>/dev/null)"
if [ $? -ne 0 ] || [ -z "$probe" ]; then
    echo "${probe:-check.sh: $PYTHON could not run $HERE/probe.py; nothing was run}" | head -n 1
    exit 1
fi
read -r _ ARCH GPU_NAME <<<"$probe"

mkdir -p "$OUT/logs" || exit 1
OUT="$(cd "$OUT" && pwd)"
STEPS="$OUT/steps.jsonl"
: >"$STEPS"
FAILED=0
START=$SECONDS
export PYTHON OUT
cd "$ROOT" || exit 1

record() {  # name status rc seconds [note]
    printf '{"name": "%s", "status": "%s", "rc": %d, "seconds": %d, "log": "logs/%s.log", "note": "%s"}\n' \
        "$1" "$2" "$3" "$4" "$1" "${5:-}" >>"$STEPS"
    case "$2" in ok|skipped) ;; *) FAILED=$((FAILED + 1)) ;; esac
}

run_step() {  # name limit_seconds command...
    local name="$1" limit="$2" begin=$SECONDS rc status
    shift 2
    local left=$((BUDGET - (SECONDS - START)))
    if [ "$left" -lt 20 ]; then
        echo "== $name: skipped, out of the ${BUDGET}s budget"
        : >"$OUT/logs/$name.log"
        record "$name" "skipped-for-time" 0 0 "out of the ${BUDGET}s budget"
        return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    echo "== $name (limit ${limit}s): $*"
    timeout -k 10 "$limit" "$@" >"$OUT/logs/$name.log" 2>&1
    rc=$?
    case $rc in 0) status=ok ;; 124|137) status=timeout ;; *) status=failed ;; esac
    record "$name" "$status" "$rc" $((SECONDS - begin))
    echo "   $status in $((SECONDS - begin))s"
    [ "$status" = ok ] || tail -n 5 "$OUT/logs/$name.log" | sed 's/^/   | /'
}

echo "GPU check on $GPU_NAME (compute capability $ARCH) into $OUT"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
        --format=csv >"$OUT/nvidia-smi.csv" 2>&1 || true
fi

run_step build 300 env TORCH_CUDA_ARCH_LIST="$ARCH" GANFORGE_BUILD_CUDA=1 MAX_JOBS="$(nproc)" \
    "$PYTHON" -m pip install --no-index --no-build-isolation --no-deps -e .
run_step info 60 bash -c '"$PYTHON" -m ganforge info --json >"$OUT/info.json"'
run_step kernels-for-device 30 "$PYTHON" "$HERE/report.py" --check-info "$OUT/info.json"
run_step cuda-tests 240 env CI=1 "$PYTHON" -m pytest -q -p no:cacheprovider \
    tests/ops/test_fused_cuda.py tests/ops/test_fused_running_stats.py tests/ops/test_fused_loading.py \
    --junitxml "$OUT/cuda_tests.xml"
run_step copy-bandwidth 60 "$PYTHON" "$HERE/copy_bandwidth.py" --json "$OUT/copy_bandwidth.json"
# The targets are at batch 128, so torch.compile (a fresh compilation per case) runs there only.
for dtype in float32 bfloat16; do
    run_step "bench-$dtype-b128" 150 "$PYTHON" -m ganforge bench --device cuda --dtype "$dtype" \
        --batch 128 --repeats 30 --json "$OUT/bench_cuda_${dtype}_b128.json"
done
RUNS="$(mktemp -d)"
run_step train-dcgan 150 "$PYTHON" -m ganforge train dcgan --device cuda --steps 200 \
    --runs-dir "$RUNS" --name gpu-check
if [ -d "$RUNS/gpu-check" ]; then
    mkdir -p "$OUT/train"
    cp "$RUNS/gpu-check/config.json" "$RUNS/gpu-check/metrics.jsonl" "$OUT/train/" 2>/dev/null
fi
rm -rf "$RUNS"
for dtype in float32 bfloat16; do
    run_step "bench-$dtype-b64-b256" 90 "$PYTHON" -m ganforge bench --device cuda --dtype "$dtype" \
        --batch 64 --batch 256 --repeats 30 --no-include-compile \
        --json "$OUT/bench_cuda_${dtype}_b64_b256.json"
done
# `bench train --help` exits 0 even where bench takes no subcommand (--help wins), so look for
# the subcommand's own usage line.
if "$PYTHON" -m ganforge bench train --help 2>/dev/null | grep -q "bench train"; then
    run_step bench-train 150 "$PYTHON" -m ganforge bench train --device cuda \
        --json "$OUT/bench_train.json"
else
    : >"$OUT/logs/bench-train.log"
    record bench-train skipped 0 0 "this ganforge has no 'bench train' command"
fi

if ! "$PYTHON" "$HERE/report.py" "$OUT" >"$OUT/logs/report.log" 2>&1; then
    FAILED=$((FAILED + 1))
    { echo "# GPU check: report generation failed"; echo; echo '```'; cat "$OUT/logs/report.log"
      echo '```'; echo; echo "Steps (steps.jsonl):"; echo; echo '```'; cat "$STEPS"; echo '```'
    } >"$OUT/report.md"
fi
echo "report: $OUT/report.md ($FAILED failed step(s), $((SECONDS - START))s)"
[ "$FAILED" -eq 0 ]
