"""The one-layer transformer of Nanda et al. (2023), with TransformerLens's names and hooks.

Parameter names and shapes follow TransformerLens, so users' TL habits carry over:
    embed.W_E [d_vocab, d_model]          pos_embed.W_pos [n_ctx, d_model]
    blocks.0.attn.W_Q/W_K/W_V [n_heads, d_model, d_head]
    blocks.0.attn.W_O [n_heads, d_head, d_model]
    blocks.0.mlp.W_in [d_model, d_mlp], b_in [d_mlp], W_out [d_mlp, d_model], b_out [d_model]
    unembed.W_U [d_model, d_vocab_out]
No LayerNorm, untied embed/unembed, biases only in the MLP, d_vocab = p + 1 (`=` is token p),
d_vocab_out = p. Hook names are TL's (`hook_embed`, `blocks.0.attn.hook_pattern`,
`blocks.0.mlp.hook_post`, `blocks.0.hook_resid_post`, ...), and `run_with_cache(tokens,
names_filter=...)` returns (logits, {hook name: activation}) as TL's does; as in TL, each head's own
output (`blocks.0.attn.hook_result`) is computed only after `set_use_attn_result(True)`, since it
costs n_heads times the memory of the summed output.

This module needs torch only: its hook points are `Tap`s, identities that record what passes
during `run_with_cache`. Importing TransformerLens takes seconds (it loads transformers, datasets
and pandas), so training, analysis and the app never do; `workbench.hooked.HookedTransformer` is
the same model as a TransformerLens `HookedRootModule` (hooks, `run_with_hooks`, ...) for notebooks.

Three forward paths share the weights: `forward` (every position, every hook) for analysis,
`last_logits` (only the `=` position, which is all the loss reads) for training, and
`last_position` (the same path, with the `=` row's attention pattern and MLP activations) for
the per-input maps the app shows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from workbench.errors import BadInputError


DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class ModelConfig:
    p: int
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    act_fn: str = "relu"
    n_layers: int = 1
    n_ctx: int = 3
    dtype: str = "float32"  # of the weights and the forward pass: "float32" or "float64"

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def d_vocab(self) -> int:
        return self.p + 1

    @property
    def d_vocab_out(self) -> int:
        return self.p

    @classmethod
    def from_spec(cls, spec: dict) -> "ModelConfig":
        return cls(p=spec["domain"]["p"], **spec["model"])

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every parameter's name and shape, in TransformerLens conventions."""
        d, h, dh, m = self.d_model, self.n_heads, self.d_head, self.d_mlp
        return {
            "embed.W_E": (self.d_vocab, d),
            "pos_embed.W_pos": (self.n_ctx, d),
            "blocks.0.attn.W_Q": (h, d, dh),
            "blocks.0.attn.W_K": (h, d, dh),
            "blocks.0.attn.W_V": (h, d, dh),
            "blocks.0.attn.W_O": (h, dh, d),
            "blocks.0.mlp.W_in": (d, m),
            "blocks.0.mlp.b_in": (m,),
            "blocks.0.mlp.W_out": (m, d),
            "blocks.0.mlp.b_out": (d,),
            "unembed.W_U": (d, self.d_vocab_out),
        }


def init_weights(cfg: ModelConfig, seed: int) -> dict[str, torch.Tensor]:
    """The progress-measures paper code's initialization, drawn from a private generator.

    That code draws, in this order and in its own layouts, W_E [d_model, d_vocab],
    W_pos [n_ctx, d_model], W_K, W_Q, W_V [n_heads, d_head, d_model], W_O [d_model, n_heads*d_head],
    W_in [d_mlp, d_model], W_out [d_model, d_mlp] (each randn / sqrt(d_model)) and
    W_U [d_model, d_vocab] (randn / sqrt(d_vocab), with a column for `=` that we drop); MLP biases
    start at zero. Drawing the same way makes seed 999 the paper's own starting point. The draws
    are float32 whatever `cfg.dtype`, so a float64 model starts from the same weights, widened.
    """
    gen = torch.Generator().manual_seed(seed)
    d, h, dh, m, v = cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp, cfg.d_vocab

    def randn(*shape, scale=d):
        return torch.randn(*shape, generator=gen) / math.sqrt(scale)

    W_E = randn(d, v)
    W_pos = randn(cfg.n_ctx, d)
    W_K, W_Q, W_V = (randn(h, dh, d) for _ in range(3))
    W_O = randn(d, h * dh)
    W_in = randn(m, d)
    W_out = randn(d, m)
    W_U = randn(d, v, scale=v)
    weights = {
        "embed.W_E": W_E.T.contiguous(),
        "pos_embed.W_pos": W_pos,
        "blocks.0.attn.W_Q": W_Q.transpose(1, 2).contiguous(),
        "blocks.0.attn.W_K": W_K.transpose(1, 2).contiguous(),
        "blocks.0.attn.W_V": W_V.transpose(1, 2).contiguous(),
        "blocks.0.attn.W_O": W_O.T.reshape(h, dh, d).contiguous(),
        "blocks.0.mlp.W_in": W_in.T.contiguous(),
        "blocks.0.mlp.b_in": torch.zeros(m),
        "blocks.0.mlp.W_out": W_out.T.contiguous(),
        "blocks.0.mlp.b_out": torch.zeros(d),
        "unembed.W_U": W_U[:, : cfg.d_vocab_out].contiguous(),
    }
    return {name: w.to(cfg.torch_dtype) for name, w in weights.items()}


def _param(*shape: int) -> nn.Parameter:
    return nn.Parameter(torch.zeros(*shape))


class Tap(nn.Module):
    """An identity at a TransformerLens hook's place (TL's `HookPoint` without TL): while
    `Transformer.run_with_cache` runs, what passes is recorded under the hook's name."""

    def __init__(self):
        super().__init__()
        self.name: str | None = None  # set by the model: its path, e.g. "blocks.0.mlp.hook_post"
        self.sink: dict | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.sink is not None:
            self.sink[self.name] = x.detach()
        return x


class Embed(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.W_E = _param(cfg.d_vocab, cfg.d_model)


class PosEmbed(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.W_pos = _param(cfg.n_ctx, cfg.d_model)


class Unembed(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.W_U = _param(cfg.d_model, cfg.d_vocab_out)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, HookPoint: type[nn.Module] = Tap):
        super().__init__()
        self.cfg = cfg
        self.W_Q = _param(cfg.n_heads, cfg.d_model, cfg.d_head)
        self.W_K = _param(cfg.n_heads, cfg.d_model, cfg.d_head)
        self.W_V = _param(cfg.n_heads, cfg.d_model, cfg.d_head)
        self.W_O = _param(cfg.n_heads, cfg.d_head, cfg.d_model)
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()  # [batch, pos, head, d_head]
        self.hook_attn_scores = HookPoint()  # [batch, head, query_pos, key_pos], scaled and masked
        self.hook_pattern = HookPoint()  # [batch, head, query_pos, key_pos]
        self.hook_z = HookPoint()  # [batch, pos, head, d_head]
        self.hook_result = HookPoint()  # [batch, pos, head, d_model]: each head's output (use_attn_result)
        self.use_attn_result = False

    def forward(self, resid: torch.Tensor) -> torch.Tensor:
        q = self.hook_q(torch.einsum("bpm,hmd->bphd", resid, self.W_Q))
        k = self.hook_k(torch.einsum("bpm,hmd->bphd", resid, self.W_K))
        v = self.hook_v(torch.einsum("bpm,hmd->bphd", resid, self.W_V))
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(self.cfg.d_head)
        n = resid.shape[1]
        causal = torch.ones(n, n, dtype=torch.bool, device=resid.device).tril()
        scores = self.hook_attn_scores(scores.masked_fill(~causal, float("-inf")))
        pattern = self.hook_pattern(scores.softmax(dim=-1))
        z = self.hook_z(torch.einsum("bhqk,bkhd->bqhd", pattern, v))
        if self.use_attn_result:
            return self.hook_result(torch.einsum("bqhd,hdm->bqhm", z, self.W_O)).sum(dim=2)
        return torch.einsum("bqhd,hdm->bqm", z, self.W_O)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig, HookPoint: type[nn.Module] = Tap):
        super().__init__()
        self.W_in = _param(cfg.d_model, cfg.d_mlp)
        self.b_in = _param(cfg.d_mlp)
        self.W_out = _param(cfg.d_mlp, cfg.d_model)
        self.b_out = _param(cfg.d_model)
        self.act = F.relu if cfg.act_fn == "relu" else F.gelu
        self.hook_pre, self.hook_post = HookPoint(), HookPoint()  # [batch, pos, d_mlp]

    def forward(self, resid: torch.Tensor) -> torch.Tensor:
        post = self.hook_post(self.act(self.hook_pre(resid @ self.W_in + self.b_in)))
        return post @ self.W_out + self.b_out


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, HookPoint: type[nn.Module] = Tap):
        super().__init__()
        self.attn, self.mlp = Attention(cfg, HookPoint), MLP(cfg, HookPoint)
        self.hook_resid_pre, self.hook_attn_out = HookPoint(), HookPoint()
        self.hook_resid_mid, self.hook_mlp_out = HookPoint(), HookPoint()
        self.hook_resid_post = HookPoint()

    def forward(self, resid: torch.Tensor) -> torch.Tensor:
        resid = self.hook_resid_pre(resid)
        resid = self.hook_resid_mid(resid + self.hook_attn_out(self.attn(resid)))
        return self.hook_resid_post(resid + self.hook_mlp_out(self.mlp(resid)))


class Transformer(nn.Module):
    """`forward(tokens [batch, 3]) -> logits [batch, 3, p]`; `last_logits(a, b) -> [batch, p]`."""

    HOOK_POINT: type[nn.Module] = Tap  # what stands at each hook (`workbench.hooked`: TL's HookPoint)

    def __init__(self, cfg: ModelConfig, weights: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.cfg = cfg
        HookPoint = self.HOOK_POINT
        self.embed, self.pos_embed = Embed(cfg), PosEmbed(cfg)
        self.blocks = nn.ModuleList([Block(cfg, HookPoint)])
        self.unembed = Unembed(cfg)
        self.hook_embed, self.hook_pos_embed = HookPoint(), HookPoint()  # [batch, pos, d_model]
        for name, module in self.named_modules():
            if isinstance(module, HookPoint):
                module.name = name
        self.to(cfg.torch_dtype)
        if weights is not None:
            self.load_state_dict(weights)

    def run_with_cache(self, tokens: torch.Tensor, names_filter=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(logits, {hook name: activation}) of one forward, as TransformerLens's `run_with_cache`:
        `names_filter` is None (every hook), a name, a list of names or a predicate on names."""
        if names_filter is None:
            wanted = None
        elif isinstance(names_filter, str):
            wanted = {names_filter}.__contains__
        elif callable(names_filter):
            wanted = names_filter
        else:
            wanted = set(names_filter).__contains__
        cache: dict[str, torch.Tensor] = {}
        taps = [m for m in self.modules() if isinstance(m, Tap) and (wanted is None or wanted(m.name))]
        for tap in taps:
            tap.sink = cache
        try:
            return self(tokens), cache
        finally:
            for tap in taps:
                tap.sink = None

    def set_use_attn_result(self, use: bool) -> None:
        """Compute each head's output separately (`blocks.0.attn.hook_result`), as TransformerLens's
        `set_use_attn_result` does: for direct logit attribution per head."""
        for block in self.blocks:
            block.attn.use_attn_result = use

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        embed = self.hook_embed(self.embed.W_E[tokens])
        pos = self.hook_pos_embed(self.pos_embed.W_pos[: tokens.shape[1]].expand_as(embed))
        resid = self.blocks[0](embed + pos)
        return resid @ self.unembed.W_U

    def last_logits(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Logits at the `=` position for inputs `a b =` (`last_position`'s "logits")."""
        return self.last_position(a, b)["logits"]

    def last_position(self, a: torch.Tensor, b: torch.Tensor, mlp: bool = True) -> dict[str, torch.Tensor]:
        """The `=` position for inputs `a b =`, computing only what its logits depend on:
            "blocks.0.attn.hook_pattern"  [batch, head, 3 key positions]  the `=` row of the pattern
            "blocks.0.hook_resid_mid"     [batch, d_model]  the MLP's input
            "blocks.0.mlp.hook_post"      [batch, d_mlp]
            "logits"                      [batch, p]
        With `mlp=False` it stops at the MLP's input (the first two): a tenth of the work.

        The `=` position's residual is the same for every input, so its query is one vector per
        head; keys and values of positions 0 and 1 depend only on (token, position), so they are
        computed once per vocabulary entry and gathered. The MLP and unembedding then run once
        per input instead of three times.
        """
        cfg, attn = self.cfg, self.blocks[0].attn
        W_E, W_pos = self.embed.W_E, self.pos_embed.W_pos
        resid_eq = W_E[cfg.p] + W_pos[2]  # [d_model]
        resid_tok = W_E[: cfg.p, None, :] + W_pos[None, :2, :]  # [p, position 0/1, d_model]
        q = torch.einsum("m,hmd->hd", resid_eq, attn.W_Q)
        key_dir = torch.einsum("hmd,hd->mh", attn.W_K, q) / math.sqrt(cfg.d_head)  # [d_model, head]
        v_tok = torch.einsum("tpm,hmd->tphd", resid_tok, attn.W_V)  # [p, 2, head, d_head]
        v_eq = torch.einsum("m,hmd->hd", resid_eq, attn.W_V)  # [head, d_head]
        table_a = torch.cat([resid_tok[:, 0] @ key_dir, v_tok[:, 0].flatten(1)], dim=1)
        table_b = torch.cat([resid_tok[:, 1] @ key_dir, v_tok[:, 1].flatten(1)], dim=1)
        if torch.is_grad_enabled():
            # Gather per-token tables with one-hot matmuls: on CPU they (and their backward) are far
            # cheaper than indexing, whose backward is a serial scatter-add.
            rows_a = F.one_hot(a, cfg.p).to(W_E.dtype) @ table_a  # [batch, head + head*d_head]
            rows_b = F.one_hot(b, cfg.p).to(W_E.dtype) @ table_b
        else:  # no backward (the test forward): indexing, the same values bit for bit
            rows_a, rows_b = table_a[a], table_b[b]
        h = cfg.n_heads
        scores = torch.stack([rows_a[:, :h], rows_b[:, :h], (resid_eq @ key_dir).expand(len(a), h)], dim=-1)
        pattern = scores.softmax(dim=-1)  # [batch, head, 3 key positions]
        z = (pattern[..., 0, None] * rows_a[:, h:].view(-1, h, cfg.d_head)
             + pattern[..., 1, None] * rows_b[:, h:].view(-1, h, cfg.d_head)
             + pattern[..., 2, None] * v_eq)  # [batch, head, d_head]
        resid = resid_eq + z.flatten(1) @ attn.W_O.flatten(0, 1)
        if not mlp:
            return {"blocks.0.attn.hook_pattern": pattern, "blocks.0.hook_resid_mid": resid}
        # in place: the same values and gradients, without two [batch, d_mlp] temporaries
        resid_mid, block = resid, self.blocks[0].mlp
        post = (resid @ block.W_in).add_(block.b_in)
        post = post.relu_() if block.act is F.relu else block.act(post)
        resid = resid + post @ block.W_out + block.b_out
        return {"blocks.0.attn.hook_pattern": pattern, "blocks.0.hook_resid_mid": resid_mid,
                "blocks.0.mlp.hook_post": post, "logits": resid @ self.unembed.W_U}

    def neuron_activations(self, resid_mid: torch.Tensor, neurons) -> torch.Tensor:
        """"blocks.0.mlp.hook_post" of only `neurons` (ids), from the MLP's input [batch, d_model]."""
        block = self.blocks[0].mlp
        return block.act(resid_mid @ block.W_in[:, neurons] + block.b_in[neurons])


class WeightsError(BadInputError):
    """A state dict does not fit the model; the message names the parameter and the fix."""


def check_weights(cfg: ModelConfig, arrays: dict, source: str) -> dict[str, torch.Tensor]:
    """Validate names, shapes and values of a state dict (NumPy or torch) against `cfg`; the
    tensors come back in the model's dtype (`cfg.dtype`)."""
    expected = cfg.param_shapes()
    missing = [k for k in expected if k not in arrays]
    extra = [k for k in arrays if k not in expected]
    if missing or extra:
        raise WeightsError(f"{source}: parameters do not match the model "
                           f"(missing: {', '.join(missing) or 'none'}; unexpected: {', '.join(extra) or 'none'})")
    weights = {}
    for name, shape in expected.items():
        tensor = torch.as_tensor(arrays[name])
        if tuple(tensor.shape) != shape:
            raise WeightsError(f"{source}: {name} has shape {tuple(tensor.shape)}, expected {shape} "
                               f"for p={cfg.p}, d_model={cfg.d_model}, n_heads={cfg.n_heads}, "
                               f"d_head={cfg.d_head}, d_mlp={cfg.d_mlp}")
        if not tensor.is_floating_point():
            raise WeightsError(f"{source}: {name} has dtype {tensor.dtype}, expected floating point")
        if not torch.isfinite(tensor).all():
            raise WeightsError(f"{source}: {name} contains NaN or infinite values")
        weights[name] = tensor.to(cfg.torch_dtype)
    return weights


# Analysis runs checkpoints in float64 whatever precision they trained in. A float32 forward pass
# rounds differently with each CPU's kernels (and could with thread counts), and a last-bit
# difference tips near-ties: a neuron's dominant frequency, an input's prediction. In float64 the
# artifacts, stored in float32 or less, come out the same in every process and worker (measured:
# identical with 1 or 2 workers and threads, and all but the float64-stored losses identical
# between AVX-512 and ATEN_CPU_CAPABILITY=default kernels).
ANALYSIS_DTYPE = "float64"


def load_model(cfg: ModelConfig, arrays: dict, source: str = "checkpoint", device: str = "cpu",
               dtype: str | None = None) -> Transformer:
    """A ready model (eval mode) from a state dict, validated first; in `dtype` ("float32" or
    "float64") if given, else the precision it trained in (`cfg.dtype`)."""
    if dtype is not None:
        cfg = replace(cfg, dtype=dtype)
    return Transformer(cfg, check_weights(cfg, arrays, source)).to(device).eval()
