#!/usr/bin/env bash
# The GPU lane: physrnn's CUDA checks and GPU figures in one run of under 10 minutes.
#
#   bash benchmarks/gpu_lane.sh OUT_DIR            # on a machine with one CUDA GPU
#   GPU_LANE_DEVICE=cpu GPU_LANE_QUICK=1 bash benchmarks/gpu_lane.sh OUT_DIR   # smoke check
#
# Writes into OUT_DIR:
#   environment.txt            nvidia-smi, python, torch, jax and netket versions, git revision
#   cuda_tests.xml, .log       the CUDA tests (tests that skip without CUDA, run here)
#   vmc_speed-cuda.json, .log  the per-step speed table on CUDA: chains N = 20, 100, 400 and
#                              squares 4x4, 6x6, 10x10, d_h 64, float32; physrnn beside NetKet
#                              on JAX's default backend (its GPU where jax has one), or physrnn
#                              alone (--no-netket) when NetKet does not import; the committed
#                              CPU figures printed beside (--beside)
#   reproduce-10x10.json, .log as much of the Heisenberg 10x10 full-setting row (d_h 200, C4v,
#                              Sz = 0, annealing, 500 samples) as fits in GPU_LANE_ROW_S
#                              seconds (default 180), with its final energy
#   summary.txt                the exit status of each part
#
# Python packages: physrnn runs from this checkout (PYTHONPATH); torch, numpy, scipy, h5py,
# jax, flax and optax are expected on the machine. NetKet and what it needs beyond those can
# travel as wheels in WHEELS_DIR (default .whl): fetch them on a machine with PyPI with
#   bash benchmarks/gpu_lane.sh --fetch-wheels   (Python 3.12, manylinux x86_64)
# Each part has its own time limit, so that one failing part leaves the others' results.
set -u -o pipefail

WHEELS_DIR=${WHEELS_DIR:-.whl}
# NetKet and the packages it needs that a plain CUDA + JAX image lacks (exact versions: the
# ones tested here with netket 3.23.0)
DEVICE_WHEELS=(netket==3.23.0 igraph==1.0.0 texttable==1.7.2 orjson==3.13.0
               plum-dispatch==2.10.1 beartype==0.23.1 sparse==0.19.3)

if [[ "${1:-}" == "--fetch-wheels" ]]; then
    mkdir -p "$WHEELS_DIR"
    for wheel in "${DEVICE_WHEELS[@]}"; do
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
            --implementation cp --platform manylinux_2_28_x86_64 \
            --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            -d "$WHEELS_DIR" "$wheel" || { echo "gpu_lane: cannot fetch $wheel" >&2; exit 1; }
    done
    ls -l "$WHEELS_DIR"
    exit 0
fi

OUT_DIR=${1:?usage: bash benchmarks/gpu_lane.sh OUT_DIR (or --fetch-wheels)}
DEVICE=${GPU_LANE_DEVICE:-cuda}
QUICK=${GPU_LANE_QUICK:-0}
ROW_S=${GPU_LANE_ROW_S:-180}
PY=${PYTHON:-python3}
REPO=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT_DIR" || { echo "gpu_lane: cannot create $OUT_DIR" >&2; exit 1; }
OUT_DIR=$(cd "$OUT_DIR" && pwd)
cd "$REPO" || exit 1
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

if ! "$PY" -c "import netket" 2>/dev/null && compgen -G "$WHEELS_DIR/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target /tmp/gpu-lane-site "$WHEELS_DIR"/*.whl \
        && export PYTHONPATH="$PYTHONPATH:/tmp/gpu-lane-site"
fi

{
    date -u
    git -C "$REPO" rev-parse HEAD 2>/dev/null
    nvidia-smi 2>/dev/null || echo "nvidia-smi: not available"
    "$PY" - <<'EOF'
import importlib, sys
print("python", sys.version.split()[0])
for name in ("torch", "numpy", "jax", "netket"):
    try:
        mod = importlib.import_module(name)
        print(name, getattr(mod, "__version__", "?"))
    except Exception as err:  # report, do not stop
        print(name, "not importable:", err)
import torch
print("cuda available", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
try:
    import jax
    print("jax devices", jax.devices())
except Exception as err:
    print("jax devices: none", err)
EOF
} >"$OUT_DIR/environment.txt" 2>&1

status() { echo "$1: exit $2" | tee -a "$OUT_DIR/summary.txt"; }
: >"$OUT_DIR/summary.txt"

# 1. The CUDA tests (skipped on a machine without CUDA): at most 90 s
timeout 90 "$PY" -m pytest -q -p no:cacheprovider -o addopts="" -m "not slow" -k "cuda or device" \
    tests/vmc/test_operators.py tests/test_distributed.py \
    --junitxml "$OUT_DIR/cuda_tests.xml" >"$OUT_DIR/cuda_tests.log" 2>&1
status "cuda tests" $?

# 2. The per-step speed table on the GPU: at most 140 + 80 s
NETKET_FLAG=()
"$PY" -c "import netket" 2>/dev/null || NETKET_FLAG=(--no-netket)
BESIDE=(benchmarks/results/vmc_speed-2026-11-27-cpu2.json
        benchmarks/results/vmc_speed-2026-11-27-cpu2-threads2-n400-d64.json)
if [[ "$QUICK" == 1 ]]; then
    SPEED=(--sizes 4 --hidden 8 --models tfim,heisenberg_square --samples 64 --steps 1)
else
    SPEED=(--sizes 20,100,400 --hidden 64 --models tfim,heisenberg --samples 1024 --steps 3)
fi
timeout 140 "$PY" benchmarks/vmc_speed.py --device "$DEVICE" "${SPEED[@]}" --dtypes float32 \
    --energy-steps 0 --no-memory "${NETKET_FLAG[@]}" --beside "${BESIDE[@]}" \
    --json "$OUT_DIR/vmc_speed-cuda.json" >"$OUT_DIR/vmc_speed-cuda.log" 2>&1
status "vmc_speed chains" $?
if [[ "$QUICK" != 1 ]]; then
    timeout 80 "$PY" benchmarks/vmc_speed.py --device "$DEVICE" --sizes 4,6,10 --hidden 64 \
        --models heisenberg_square --samples 512 --steps 3 --dtypes float32 --energy-steps 0 \
        --no-memory "${NETKET_FLAG[@]}" --json "$OUT_DIR/vmc_speed-cuda-square.json" \
        >"$OUT_DIR/vmc_speed-cuda-square.log" 2>&1
    status "vmc_speed squares" $?
fi

# 3. As much of the Heisenberg 10x10 full-setting row as fits (training + final estimate)
if [[ "$QUICK" == 1 ]]; then
    ROW=(--quick --rows "heisenberg 4x4 obc" --optimizers adam)
else
    ROW=(--preset full --rows "heisenberg 10x10 obc" --budget-s "$ROW_S" --final-samples 10000)
fi
timeout $((ROW_S + 100)) "$PY" benchmarks/reproduce_rnn_wavefunctions.py --device "$DEVICE" \
    "${ROW[@]}" --json "$OUT_DIR/reproduce-10x10.json" >"$OUT_DIR/reproduce-10x10.log" 2>&1
status "heisenberg 10x10 row" $?


! grep -qv ": exit 0$" "$OUT_DIR/summary.txt"
