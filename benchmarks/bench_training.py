"""Training speed: one full-batch AdamW epoch at p=113 (3,830 pairs), fast path vs full forward."""
from __future__ import annotations

import torch

from benchmarks.run import Benchmark
from workbench.families import load_family
from workbench.model import ModelConfig, Transformer, init_weights
from workbench.training import Split, cross_entropy_f64


def _epoch_fn(last_position_logits):
    spec = load_family("modular_addition").variant().spec
    cfg = ModelConfig.from_spec(spec)
    model = Transformer(cfg, init_weights(cfg, 999))
    split = Split.for_variant(spec, "cpu")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98))
    tokens = torch.stack([split.train_a, split.train_b, torch.full_like(split.train_a, cfg.p)], dim=1)

    def epoch():
        for _ in range(10):
            loss = cross_entropy_f64(last_position_logits(model, split, tokens), split.train_y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return epoch


BENCHMARKS = [
    Benchmark(
        "training: 10 full-batch epochs at p=113 (forward, backward, AdamW step)",
        ("full hooked forward, last position", _epoch_fn(lambda m, s, t: m(t)[:, -1])),
        ("fast path (last_logits)", _epoch_fn(lambda m, s, t: m.last_logits(s.train_a, s.train_b))),
        unit="s", repeats=3, goal=2.5),
]
