#!/usr/bin/env bash
# NN core benchmark (not a test): the reference UNet (8.9 M parameters) in this project's NN core
# and in PyTorch on the CPU with 2 threads, same machine, same run, same weights (checked to give
# the same output). Installs PyTorch into .venv on first use (a large download).
# Writes bench/results/nn.json and prints the table. Extra arguments: --repeats N (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
VIDEOAGENT_WITH_TORCH=1 ./scripts/setup.sh
repeats=5
if [ "${1:-}" = "--repeats" ]; then repeats=$2; fi
swift build -c release --product bench-nn
mkdir -p bench/results
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.build/release/bench-nn --repeats "$repeats" --out "$tmp/swift.json" --weights "$tmp/weights.safetensors"
.venv/bin/python bench/nn/torch_unet.py "$tmp/weights.safetensors" "$tmp/weights-probe.safetensors" "$tmp/torch.json" "$repeats"
.venv/bin/python bench/nn/report.py "$tmp/swift.json" "$tmp/torch.json" bench/results/nn.json
