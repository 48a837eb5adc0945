"""The NN benchmark's reference UNet in PyTorch, timed on the CPU with 2 threads.

Same architecture and parameter names as bench/nn/ReferenceUNet.swift: it loads the weights the
Swift benchmark saved, checks that both give the same output on the same input, then times the
same AdamW training steps and forward passes. Run by scripts/bench-nn.sh.
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file


class ResBlock(nn.Module):
    def __init__(self, cin, cout, time_dim):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(time_dim, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = None if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x, t):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(t)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (x if self.skip is None else self.skip(x))


class Level(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.res = nn.ModuleList(blocks)


class ReferenceUNet(nn.Module):
    def __init__(self, in_channels=27, out_channels=24, widths=(64, 128, 256), time_dim=256):
        super().__init__()
        self.time_dim = time_dim
        self.timeEmbed1 = nn.Linear(time_dim, time_dim)
        self.timeEmbed2 = nn.Linear(time_dim, time_dim)
        self.convIn = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        ch = widths[0]
        for w in widths:
            self.down.append(Level([ResBlock(ch, w, time_dim), ResBlock(w, w, time_dim)]))
            ch = w
        self.mid = ResBlock(ch, ch, time_dim)
        self.up = nn.ModuleList()
        for w in reversed(widths):
            self.up.append(Level([ResBlock(ch + w, w, time_dim), ResBlock(w, w, time_dim)]))
            ch = w
        self.convOut = nn.Conv2d(widths[0], out_channels, 3, padding=1)

    def sinusoidal(self, timesteps):
        half = self.time_dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float64) / half)
        args = timesteps.double()[:, None] * freqs[None]
        return torch.cat([torch.sin(args), torch.cos(args)], dim=1).float()

    def forward(self, x, timesteps):
        t = self.timeEmbed2(F.silu(self.timeEmbed1(self.sinusoidal(timesteps))))
        h = self.convIn(x)
        skips = []
        for i, level in enumerate(self.down):
            for block in level.res:
                h = block(h, t)
            skips.append(h)
            if i < len(self.down) - 1:
                h = F.avg_pool2d(h, 2)
        h = self.mid(h, t)
        for i, level in enumerate(self.up):
            h = torch.cat([h, skips.pop()], dim=1)
            for block in level.res:
                h = block(h, t)
            if i < len(self.up) - 1:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
        return self.convOut(F.silu(h))


def main():
    weights, probe_path, out_path, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = ReferenceUNet()
    model.load_state_dict(load_file(weights), strict=True)
    probe = load_file(probe_path)
    with torch.no_grad():
        out = model(probe["x"], torch.tensor([3.0, 71.0]))
    difference = (out - probe["out"]).abs().max().item()
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"max |Swift - PyTorch| on the probe: {difference:.2e}")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    results = []
    for size, batch in [(32, 16), (64, 8)]:
        x = torch.randn(batch, 27, size, size)
        target = torch.randn(batch, 24, size, size)
        timesteps = torch.tensor([float(i * 7 % 100) for i in range(batch)])
        seconds = []
        for step in range(repeats + 1):
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss = F.mse_loss(model(x, timesteps), target)
            loss.backward()
            optimizer.step()
            if step > 0:
                seconds.append(time.perf_counter() - start)
        results.append({"name": f"train step {size}x{size} batch {batch}", "median_seconds": statistics.median(seconds)})
        print(results[-1]["name"], f"{results[-1]['median_seconds']:.3f} s")
    for size in [32, 64]:
        x = torch.randn(1, 27, size, size)
        seconds = []
        with torch.no_grad():
            for step in range(repeats * 2 + 1):
                start = time.perf_counter()
                model(x, torch.tensor([50.0]))
                if step > 0:
                    seconds.append(time.perf_counter() - start)
        results.append({"name": f"forward {size}x{size} batch 1", "median_seconds": statistics.median(seconds)})
        print(results[-1]["name"], f"{results[-1]['median_seconds']:.4f} s")
    with open(out_path, "w") as f:
        json.dump({"torch": torch.__version__, "probe_max_abs_difference": difference, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
