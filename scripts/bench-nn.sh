#!/usr/bin/env bash
# NN core benchmark (not a test): the reference UNet (8.9 M parameters) in this project's NN core
# and in PyTorch on the CPU with 2 threads, same machine, same run, same weights (checked to give
# the same output). Installs PyTorch into .venv on first use (a large download).
# Writes bench/results/nn.json and prints the table. Extra arguments: --repeats N (default 5),
# --rounds R (default 3): ours then PyTorch, R times; the ratio is the median over rounds, since
# a shared machine's speed drifts by ±15 % within minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
VIDEOAGENT_WITH_TORCH=1 ./scripts/setup.sh
repeats=5
rounds=3
while [ $# -gt 0 ]; do
    case "$1" in
        --repeats) repeats=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        *) echo "bench-nn.sh: unknown argument '$1' (use --repeats N, --rounds R)" >&2; exit 2 ;;
    esac
done
swift build -c release --product bench-nn
mkdir -p bench/results
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pairs=()
for round in $(seq 1 "$rounds"); do
    echo "round $round of $rounds"
    .build/release/bench-nn --repeats "$repeats" --out "$tmp/swift-$round.json" --weights "$tmp/weights.safetensors"
    .venv/bin/python bench/nn/torch_unet.py "$tmp/weights.safetensors" "$tmp/weights-probe.safetensors" \
        "$tmp/torch-$round.json" "$repeats"
    pairs+=("$tmp/swift-$round.json" "$tmp/torch-$round.json")
done
.venv/bin/python bench/nn/report.py bench/results/nn.json "${pairs[@]}"
