"""Merges the Swift and PyTorch NN benchmark results into bench/results/nn.json and prints a table."""
import json
import platform
import sys
from datetime import datetime, timezone

swift_path, torch_path, out_path = sys.argv[1:4]
swift = {r["name"]: float(r["median_seconds"]) for r in json.load(open(swift_path))}
torch_run = json.load(open(torch_path))
torch_times = {r["name"]: r["median_seconds"] for r in torch_run["results"]}
rows = []
print(f"{'measurement':<30}{'ours (s)':>11}{'PyTorch (s)':>13}{'ours/PyTorch':>14}")
for name, ours in swift.items():
    reference = torch_times[name]
    rows.append({"name": name, "ours_seconds": ours, "pytorch_seconds": reference, "ratio": ours / reference})
    print(f"{name:<30}{ours:>11.4f}{reference:>13.4f}{ours / reference:>14.2f}")
result = {
    "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
    "network": "reference 2D UNet, 8,897,496 parameters (bench/nn/ReferenceUNet.swift, bench/nn/torch_unet.py)",
    "pytorch": torch_run["torch"],
    "pytorch_threads": 2,
    "probe_max_abs_difference": torch_run["probe_max_abs_difference"],
    "statistic": "median",
    "rows": rows,
}
with open(out_path, "w") as f:
    json.dump(result, f, indent=2)
print(f"same weights, same input: max |ours - PyTorch| = {torch_run['probe_max_abs_difference']:.2e}; wrote {out_path}")
