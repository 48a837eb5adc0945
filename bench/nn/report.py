"""Merges the Swift and PyTorch NN benchmark rounds into bench/results/nn.json and prints a table.

Usage: report.py OUT SWIFT_1 TORCH_1 [SWIFT_2 TORCH_2 ...]. Each round ran ours and then PyTorch
back to back; a shared, noisy machine drifts between rounds, so the ratio is taken per round and
the median over rounds is reported (with every round's ratio beside it)."""
import json
import statistics
import sys
from datetime import datetime, timezone

out_path, paths = sys.argv[1], sys.argv[2:]
rounds = []
for swift_path, torch_path in zip(paths[0::2], paths[1::2]):
    swift = {r["name"]: float(r["median_seconds"]) for r in json.load(open(swift_path))}
    torch_run = json.load(open(torch_path))
    rounds.append((swift, {r["name"]: r["median_seconds"] for r in torch_run["results"]}, torch_run))


def cpu():
    model, flags = "cpu", set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and model == "cpu":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    extensions = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return f"{model} ({', '.join(extensions) or 'no AVX2'})"


rows = []
print(f"{'measurement':<30}{'ours (s)':>11}{'PyTorch (s)':>13}{'ours/PyTorch':>14}   per round")
for name in rounds[0][0]:
    ratios = [s[name] / t[name] for s, t, _ in rounds]
    ours = statistics.median(s[name] for s, _, _ in rounds)
    reference = statistics.median(t[name] for _, t, _ in rounds)
    ratio = statistics.median(ratios)
    rows.append({"name": name, "ours_seconds": ours, "pytorch_seconds": reference, "ratio": ratio,
                 "ratio_per_round": ratios})
    print(f"{name:<30}{ours:>11.4f}{reference:>13.4f}{ratio:>14.2f}   " + " ".join(f"{r:.2f}" for r in ratios))
last = rounds[-1][2]
result = {
    "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    "machine": cpu(),
    "network": "reference 2D UNet, 8,897,496 parameters (bench/nn/ReferenceUNet.swift, bench/nn/torch_unet.py)",
    "pytorch": last["torch"],
    "pytorch_threads": 2,
    "probe_max_abs_difference": max(r[2]["probe_max_abs_difference"] for r in rounds),
    "statistic": f"median of {len(rounds)} rounds (each: median of repeats), ratio taken per round",
    "rows": rows,
}
with open(out_path, "w") as f:
    json.dump(result, f, indent=2)
print(f"same weights, same input: max |ours - PyTorch| = {result['probe_max_abs_difference']:.2e}; wrote {out_path}")
