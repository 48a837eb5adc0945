"""Writes PyTorch reference fixtures for the Swift Tensor tests (Tests/TensorTests/Fixtures).

Each fixture is a safetensors file with the op's inputs (`in.*`), its output (`out`), an upstream
gradient (`gout`) and the gradients PyTorch computes for every input (`grad.*`); the metadata holds
the op name and its parameters as JSON. Run from the repository root:

    .venv/bin/python bench/nn/make_fixtures.py

CI does not need PyTorch: the fixtures are committed. Seed 0, float32, CPU.
"""
import json
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TensorTests", "Fixtures")
torch.manual_seed(0)


def fixture(name, fn, inputs, params=None):
    """Runs fn(**inputs), backpropagates a random upstream gradient, saves everything."""
    leaves = {k: v.detach().clone().requires_grad_(v.is_floating_point()) for k, v in inputs.items()}
    out = fn(**leaves)
    gout = torch.randn_like(out)
    out.backward(gout)
    tensors = {f"in.{k}": v.detach().float().contiguous() for k, v in leaves.items()}
    tensors["out"] = out.detach().contiguous()
    tensors["gout"] = gout.contiguous()
    for k, v in leaves.items():
        if v.grad is not None:
            tensors[f"grad.{k}"] = v.grad.contiguous()
    meta = {"op": name, "params": json.dumps(params or {})}
    save_file(tensors, os.path.join(OUT, f"{name}.safetensors"), metadata=meta)
    print(f"{name}: out {tuple(out.shape)}")


def r(*shape):
    return torch.randn(*shape)


os.makedirs(OUT, exist_ok=True)

fixture("linear", lambda x, weight, bias: F.linear(x, weight, bias), dict(x=r(2, 3, 5), weight=r(4, 5), bias=r(4)))
fixture("matmul_batched", lambda a, b: a @ b, dict(a=r(2, 3, 4, 5), b=r(2, 3, 5, 6)))
fixture("conv2d_3x3", lambda x, weight, bias: F.conv2d(x, weight, bias, stride=1, padding=1),
        dict(x=r(2, 3, 7, 6), weight=r(4, 3, 3, 3), bias=r(4)), {"stride": 1, "padding": 1})
fixture("conv2d_stride2", lambda x, weight, bias: F.conv2d(x, weight, bias, stride=2, padding=1),
        dict(x=r(2, 3, 8, 7), weight=r(5, 3, 3, 3), bias=r(5)), {"stride": 2, "padding": 1})
fixture("conv2d_1x1", lambda x, weight, bias: F.conv2d(x, weight, bias),
        dict(x=r(3, 4, 5, 5), weight=r(6, 4, 1, 1), bias=r(6)), {"stride": 1, "padding": 0})


def temporal(x, weight, bias):
    # Ours: x (B, F, C, H, W), weight (Co, Ci, k). PyTorch: Conv3d on (B, C, F, H, W) with (k, 1, 1).
    y = F.conv3d(x.permute(0, 2, 1, 3, 4), weight[:, :, :, None, None], bias, padding=(weight.shape[2] // 2, 0, 0))
    return y.permute(0, 2, 1, 3, 4)


fixture("temporal_conv", temporal, dict(x=r(2, 5, 3, 4, 3), weight=r(4, 3, 3), bias=r(4)))
fixture("group_norm", lambda x, weight, bias: F.group_norm(x, 2, weight, bias, eps=1e-5),
        dict(x=r(2, 6, 4, 5) * 3 + 1, weight=r(6), bias=r(6)), {"groups": 2})
fixture("video_group_norm",
        lambda x, weight, bias: F.group_norm(x.permute(0, 2, 1, 3, 4), 2, weight, bias, eps=1e-5).permute(0, 2, 1, 3, 4),
        dict(x=r(2, 3, 4, 3, 3) * 2 - 1, weight=r(4), bias=r(4)), {"groups": 2})
fixture("layer_norm", lambda x, weight, bias: F.layer_norm(x, (7,), weight, bias, eps=1e-5),
        dict(x=r(3, 4, 7) * 2, weight=r(7), bias=r(7)))
fixture("silu", lambda x: F.silu(x), dict(x=r(4, 9) * 3))
fixture("gelu", lambda x: F.gelu(x), dict(x=r(4, 9) * 3))
fixture("softmax", lambda x: F.softmax(x, dim=-1), dict(x=r(3, 4, 6) * 2))
fixture("attention", lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
        dict(q=r(2, 2, 5, 4), k=r(2, 2, 6, 4), v=r(2, 2, 6, 3)))
fixture("avg_pool2x", lambda x: F.avg_pool2d(x, 2), dict(x=r(2, 3, 6, 4)))
fixture("upsample2x", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), dict(x=r(2, 3, 3, 4)))
fixture("embedding", lambda table: F.embedding(torch.tensor([3, 0, 3, 5]), table), dict(table=r(6, 4)),
        {"indices": [3, 0, 3, 5]})
fixture("mse", lambda a, b: F.mse_loss(a, b), dict(a=r(3, 5), b=r(3, 5)))
fixture("l1", lambda a, b: F.l1_loss(a, b), dict(a=r(3, 5), b=r(3, 5)))
fixture("bce_with_logits", lambda x, t: F.binary_cross_entropy_with_logits(x, t),
        dict(x=r(4, 3) * 3, t=torch.rand(4, 3)))
fixture("cross_entropy", lambda x: F.cross_entropy(x, torch.tensor([2, 0, 4])), dict(x=r(3, 5) * 2),
        {"labels": [2, 0, 4]})
fixture("broadcast_arith", lambda a, b, c: (a + b) * c - a / (c.abs() + 1),
        dict(a=r(2, 3, 4), b=r(3, 1), c=r(1, 4)))


def resblock(x, temb, n1w, n1b, c1w, c1b, tw, tb, n2w, n2b, c2w, c2b, sw, sb):
    h = F.conv2d(F.silu(F.group_norm(x, 2, n1w, n1b)), c1w, c1b, padding=1)
    h = h + F.linear(temb, tw, tb)[:, :, None, None]
    h = F.conv2d(F.silu(F.group_norm(h, 2, n2w, n2b)), c2w, c2b, padding=1)
    return h + F.conv2d(x, sw, sb)


fixture("resblock", resblock, dict(
    x=r(2, 4, 6, 6), temb=r(2, 8), n1w=1 + 0.1 * r(4), n1b=0.1 * r(4), c1w=0.2 * r(6, 4, 3, 3), c1b=0.1 * r(6),
    tw=0.2 * r(6, 8), tb=0.1 * r(6), n2w=1 + 0.1 * r(6), n2b=0.1 * r(6), c2w=0.2 * r(6, 6, 3, 3), c2b=0.1 * r(6),
    sw=0.3 * r(6, 4, 1, 1), sb=0.1 * r(6)))
