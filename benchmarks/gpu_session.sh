#!/usr/bin/env bash
# Every CUDA check and timing in one run of about 10 minutes on one GPU, for when GPU time is
# short: the roofline against that GPU's float32 peaks (the 41^4 PINN landscape whole, the
# default and the paper's UNet-CRF landscape points and HVPs, a CIFAR-sized CNN, an
# MNIST-sized MLP), then the CUDA-vs-CPU checks of the CLI stages (which also run the 41^4
# landscape through `losstopo landscape`). Each step has its own time limit and writes as it
# goes, so a step that runs out keeps what it measured and the next one still runs; the exit
# status is non-zero if any step failed or ran out.
#
#     bash benchmarks/gpu_session.sh [OUT_DIR]     # default /tmp/gpu-session
#
# Needs python3 with torch (CUDA build) and losstopo's runtime dependencies; the checkout's
# src/ is put first on PYTHONPATH, so nothing needs installing.
set -uo pipefail
out=$(mkdir -p "${1:-/tmp/gpu-session}" && cd "${1:-/tmp/gpu-session}" && pwd) || exit 1
cd "$(dirname "$0")/.." || exit 1
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')" ||
    exit 1
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv \
    2>&1 | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)" |
    tee -a "$out/gpu.txt"
failed=0

echo "== roofline on CUDA"
timeout 300 python3 benchmarks/roofline.py --device cuda --memory-budget 16384 \
    --work /tmp/gpu-session-roofline --only pinn unet paper-unet cifar-cnn mlp \
    --pinn-grid 4 41 --json "$out/roofline.json" 2>&1 | tee "$out/roofline.txt"
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || { echo "roofline: exit $status (124: out of time)"; failed=1; }

echo "== CUDA vs CPU: CLI stages and paper-size UNet timings"
timeout 300 python3 benchmarks/cuda_check.py --work /tmp/gpu-session-check \
    --only pinn paper_unet --json "$out/cuda_check.json" 2>&1 | tee "$out/cuda_check.txt" |
    tail -n 60
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || { echo "cuda_check: exit $status (124: out of time)"; failed=1; }
echo "== done"
exit "$failed"
