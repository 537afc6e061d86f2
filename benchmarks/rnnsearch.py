"""Speed of the translators on CPU: training tokens per second, decoding sentences per second, and
what precomputing the attention keys U_a h_j saves.

    python -m benchmarks.rnnsearch      (needs the Bible packages, fetched into data/cache if missing)

All timings come from one run on one machine, one model after another, so the printed ratios compare
like with like. Training = forward + backward + Adam update on length-sorted batches of real
verses (the profile's token budget); decoding = greedy and beam-5 search over test verses in
batches of 64. "Recomputed keys" is RNNsearch with U_a h_j computed again at every decoder
step, the naive reading of e_ij = v_aᵀ tanh(W_a s_{i−1} + U_a h_j).
"""

from __future__ import annotations

import pandas as pd
import torch

from attnmem_core import decoding, translation
from attnmem_core.data import bible, subwords
from attnmem_core.experiments import rnnsearch as tx
from attnmem_core.models.rnnsearch import RNNsearch
from benchmarks import cli
from benchmarks.timing import median_rate


class RecomputedKeys(RNNsearch):
    def context(self, memory, s):
        return self.attention(s, self.attention.keys(memory["h"]), memory["h"], memory["mask"])


def build(name, scale, data):
    torch.manual_seed(0)
    if name == "RNNsearch (recomputed keys)":
        return RecomputedKeys(
            len(data.source_tokenizer),
            len(data.target_tokenizer),
            embedding=scale.embedding,
            hidden=scale.hidden,
            alignment=scale.alignment,
            maxout=scale.maxout,
        )
    return tx.RunSpec(name, scale.long, 0, scale).build(data)


def training_rate(model, data, scale, batches: int, repeats: int) -> float:
    tensors, tokens = cli.verse_batches(data, scale.max_tokens, batches)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def one_pass():
        for x, y in tensors:
            loss = translation.sequence_loss(model(x, y[:, :-1]), y[:, 1:])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    model.train()
    return median_rate(one_pass, tokens, repeats)


def decoding_rate(model, data, sentences: int, beam: int, repeats: int) -> float:
    source = [x + [subwords.EOS] for x in data.ids["test"][0][:sentences]]
    model.eval()
    return median_rate(
        lambda: decoding.translate(
            model, source, batch_size=64, device="cpu", beam=beam, bos_id=subwords.BOS, eos_id=subwords.EOS
        ),
        len(source),
        repeats,
    )


def measure(argv=None) -> dict[str, pd.DataFrame]:
    parser = cli.parser(__doc__, profiles=tx.PROFILES)
    parser.add_argument("--batches", type=int, default=6, help="training batches timed per pass")
    parser.add_argument("--sentences", type=int, default=128, help="test verses decoded per pass")
    args = cli.parse(parser, argv)
    scale = tx.PROFILES[args.profile]
    data = tx.prepare(bible.load(args.data_dir), scale, "bpe", args.data_dir)
    names = ("RNNencdec", "RNNsearch", "RNNsearch (recomputed keys)")
    models = {name: build(name, scale, data) for name in names}
    table = pd.DataFrame(
        {
            name: {
                "train tokens/s": training_rate(m, data, scale, args.batches, args.repeats),
                "greedy sentences/s": decoding_rate(m, data, args.sentences, 1, args.repeats),
                "beam-5 sentences/s": decoding_rate(m, data, args.sentences, 5, args.repeats),
            }
            for name, m in models.items()
        }
    ).T
    ratios = pd.DataFrame(
        {
            "precomputed / recomputed keys": table.loc[names[1]] / table.loc[names[2]],
            "RNNencdec / RNNsearch": table.loc[names[0]] / table.loc[names[1]],
        }
    ).T
    return {
        f"{args.profile} sizes (embedding {scale.embedding}, hidden {scale.hidden}), {args.threads} thread(s), "
        f"median of {args.repeats} passes": table,
        "ratios": ratios,
    }


def main(argv=None):
    cli.show(measure(argv))


if __name__ == "__main__":
    main()
