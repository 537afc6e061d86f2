"""Speed of our Transformer against torch.nn.Transformer of the same size, and of fused against written-out attention.

    python -m benchmarks.transformer      (needs the Bible packages, fetched into data/cache if missing)

Training = forward + backward + Adam update on length-sorted batches of real verses (the
profile's token budget), for both models built with the same sizes: embeddings ×√d_model,
sinusoidal positions, post-LN layers, output layer tied to the target embeddings, padding
masks (torch's also ends each stack with a LayerNorm, 4·d_model parameters more). The passes
alternate between the two models, so the printed ratio compares like with like on a machine
whose speed drifts. The goal of the issue: ours at most 1.1× slower.

Attention alone: Eq. 1 forward + backward with torch's fused kernel
(`F.scaled_dot_product_attention`) against the softmax written out (the path that returns
the weights for plots), at a verse's length and at a longer one.
"""

from __future__ import annotations

import math

import pandas as pd
import torch
from torch import nn

from attnmem_core.attention.dot_product import scaled_dot_product_attention
from attnmem_core.attention.positional import positional_encoding
from attnmem_core.data import bible
from attnmem_core.experiments import rnnsearch
from attnmem_core.experiments import transformer as trx
from attnmem_core.models.transformer import Transformer
from benchmarks import cli
from benchmarks.timing import alternating_medians


class TorchTranslator(nn.Module):
    """torch.nn.Transformer with the embeddings, positions and tied output layer our model has."""

    def __init__(self, source_vocab: int, target_vocab: int, scale: trx.Scale):
        super().__init__()
        self.d_model = scale.d_model
        self.E_x = nn.Embedding(source_vocab, scale.d_model, padding_idx=0)
        self.E_y = nn.Embedding(target_vocab, scale.d_model, padding_idx=0)
        self.position = positional_encoding("sinusoidal", scale.d_model, 1024)
        self.dropout = nn.Dropout(scale.dropout)
        self.core = nn.Transformer(
            scale.d_model, scale.heads, scale.layers, scale.layers, scale.d_ff, scale.dropout, batch_first=True
        )
        self.W_o = nn.Linear(scale.d_model, target_vocab, bias=False)
        self.W_o.weight = self.E_y.weight

    def forward(self, source, target_in):
        x = self.dropout(self.position(self.E_x(source) * math.sqrt(self.d_model), 0))
        y = self.dropout(self.position(self.E_y(target_in) * math.sqrt(self.d_model), 0))
        causal = nn.Transformer.generate_square_subsequent_mask(target_in.shape[1], dtype=torch.bool)
        out = self.core(
            x,
            y,
            tgt_mask=causal,
            tgt_is_causal=True,
            src_key_padding_mask=source == 0,
            memory_key_padding_mask=source == 0,
            tgt_key_padding_mask=target_in == 0,
        )
        return self.W_o(out)


def training_pass(model, tensors, epsilon: float):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def one_pass():
        for x, y in tensors:
            logits = model(x, y[:, :-1])
            loss = nn.functional.cross_entropy(
                logits.flatten(0, 1), y[:, 1:].flatten(), ignore_index=0, label_smoothing=epsilon
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return one_pass


def attention_pass(batch: int, heads: int, length: int, d_k: int, fused: bool):
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(batch, heads, length, d_k, generator=generator, requires_grad=True) for _ in range(3))
    mask = torch.ones(length, length, dtype=torch.bool).tril()

    def one_pass():
        out, _ = scaled_dot_product_attention(q, k, v, mask, need_weights=not fused)
        out.sum().backward()

    return one_pass


def measure(argv=None) -> dict[str, pd.DataFrame]:
    parser = cli.parser(__doc__, profiles=trx.PROFILES, repeats=5)
    parser.add_argument("--batches", type=int, default=6, help="training batches timed per pass")
    args = cli.parse(parser, argv)
    scale = trx.PROFILES[args.profile]
    data = rnnsearch.prepare(bible.load(args.data_dir), rnnsearch.PROFILES[args.profile], "bpe", args.data_dir)
    tensors, tokens = cli.verse_batches(data, scale.max_tokens, args.batches)
    torch.manual_seed(0)
    models = {
        "ours": Transformer(
            *data.vocabularies(),
            layers=scale.layers,
            d_model=scale.d_model,
            d_ff=scale.d_ff,
            heads=scale.heads,
            dropout=scale.dropout,
        ),
        "torch.nn.Transformer": TorchTranslator(*data.vocabularies(), scale),
    }
    seconds = alternating_medians(
        {name: training_pass(m.train(), tensors, scale.label_smoothing) for name, m in models.items()}, args.repeats
    )
    table = pd.DataFrame(
        {
            name: {"parameters": sum(p.numel() for p in m.parameters()), "train tokens/s": tokens / seconds[name]}
            for name, m in models.items()
        }
    ).T
    attention = {}
    for batch, length in ((32, 40), (8, 256)):
        times = alternating_medians(
            {
                fused: attention_pass(batch, scale.heads, length, scale.d_model // scale.heads, fused)
                for fused in (True, False)
            },
            args.repeats,
        )
        attention[f"B={batch}, T={length}"] = {"fused (s)": times[True], "written out (s)": times[False]}
    attention = pd.DataFrame(attention).T
    return {
        f"{args.profile} sizes (d_model {scale.d_model}, {scale.layers}+{scale.layers} layers, {scale.heads} heads), "
        f"{args.threads} thread(s), median of {args.repeats} alternating passes of {args.batches} batches": table,
        "ratio: our training time / torch's": pd.DataFrame(
            {"ours / torch": [seconds["ours"] / seconds["torch.nn.Transformer"]]}, index=["time"]
        ),
        "attention, forward and backward": attention,
        "ratio: written out / fused time": (attention["written out (s)"] / attention["fused (s)"]).to_frame("speed-up"),
    }


def main(argv=None):
    cli.show(measure(argv))


if __name__ == "__main__":
    main()
