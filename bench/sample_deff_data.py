#!/usr/bin/python3
"""Writes the data sets of the run-sampling design-effect measurement
(bench/run-sample-deff.sh) as raw little-endian float32 files in DIR:

  t3.f32          1e6 iid Student-t(3)
  pareto1.5.f32   1e6 iid symmetric Pareto, tail index 1.5
  outer1.f32      1000x1000 delta_i * x_j, delta Student-t(2), x Gaussian:
                  one example's Linear gradient, every row shares its delta
  outer8.f32      the same summed over a batch of 8 examples
  mlp-*.f32       real PyTorch minibatch gradients (batch 32) of a wide MLP
  cnn-*.f32       and of a CNN on sklearn's digits, after 100 SGD steps,
                  in PyTorch's own memory order (rows of a Linear weight,
                  3x3 kernels of a conv weight, are consecutive)

Usage: /usr/bin/python3 bench/sample_deff_data.py DIR
"""
import os
import sys

import numpy as np


def synthetic(out, rng):
    n = 1_000_000
    rng.standard_t(3, n).astype("<f4").tofile(os.path.join(out, "t3.f32"))
    sign = rng.choice([-1.0, 1.0], n)
    (sign * rng.uniform(size=n) ** (-1 / 1.5)).astype("<f4").tofile(os.path.join(out, "pareto1.5.f32"))
    for batch in (1, 8):
        g = np.zeros((1000, 1000))
        for _ in range(batch):
            g += np.outer(rng.standard_t(2, 1000), rng.standard_normal(1000))
        g.astype("<f4").tofile(os.path.join(out, f"outer{batch}.f32"))


def torch_gradients(out):
    import torch
    import torch.nn as nn
    from sklearn.datasets import load_digits

    torch.manual_seed(0)
    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(d.target)
    models = {
        "mlp": nn.Sequential(nn.Flatten(), nn.Linear(64, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                             nn.Linear(1024, 10)),
        "cnn": nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 128, 3, padding=1),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(128, 256, 3, padding=1), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 10)),
    }
    for name, model in models.items():
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        loss_fn = nn.CrossEntropyLoss()
        g = torch.Generator().manual_seed(1)
        for step in range(101):
            idx = torch.randint(0, len(x), (32,), generator=g)
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            if step < 100:
                opt.step()
        for pname, p in model.named_parameters():
            if p.grad.numel() >= 16384:
                path = os.path.join(out, f"{name}-{pname}.f32")
                p.grad.detach().contiguous().numpy().astype("<f4").tofile(path)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    synthetic(out, np.random.default_rng(3))
    torch_gradients(out)
    for f in sorted(os.listdir(out)):
        print(f, os.path.getsize(os.path.join(out, f)) // 4)


if __name__ == "__main__":
    main()
