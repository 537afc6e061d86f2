"""ConvS2S against the Transformer of the same parameter count: training tokens and beam-search sentences per second.

    python -m benchmarks.convs2s      (needs the Bible packages, fetched into data/cache if missing)

The Transformer has the profile's sizes (experiments.transformer); ConvS2S has its embedding
size d_model, `--layers` encoder and decoder blocks of kernel width 3 (4 and 3: the authors'
small-data model, fconv_iwslt_de_en) and the one channel width, found by bisection, that
brings its parameter count closest to the Transformer's. Training = forward + backward +
Adam update on length-sorted batches of real verses (the profile's token budget), the loss
label-smoothed as the Transformer's; decoding = beam search (the profile's beam) over test
verses in batches of 64 through attnmem_core.decoding, inside `parametrize.cached()` so that
ConvS2S computes its weight-normalised weights once per pass rather than once per step (a
third faster; nothing changes for the Transformer). The two models alternate pass by pass,
so the printed ratios compare like with like on a machine whose speed drifts.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn
from torch.nn.utils import parametrize

from attnmem_core import decoding
from attnmem_core.data import bible, subwords
from attnmem_core.experiments import rnnsearch
from attnmem_core.experiments import transformer as trx
from attnmem_core.models.convs2s import ConvS2S
from attnmem_core.models.transformer import Transformer, label_smoothed_nll
from benchmarks import cli
from benchmarks.timing import alternating_medians

MAX_LEN = 256  # learned positions: more than any verse of the data has subwords (at most 113)


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def convs2s(vocab: tuple[int, int], embedding: int, layers: tuple[int, int], width: int, dropout: float) -> ConvS2S:
    encoder, decoder = ((width, 3),) * layers[0], ((width, 3),) * layers[1]
    return ConvS2S(
        *vocab,
        embedding=embedding,
        encoder_layers=encoder,
        decoder_layers=decoder,
        out_embedding=embedding,
        dropout=dropout,
        max_len=MAX_LEN,
    )


def matched_width(vocab, embedding: int, layers: tuple[int, int], dropout: float, target: int) -> int:
    """The channel width whose ConvS2S has the parameter count closest to `target` (the count grows with width)."""

    def count(width: int) -> int:
        return parameters(convs2s(vocab, embedding, layers, width, dropout))

    low, high = 1, 1
    while count(high) < target:
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if count(middle) < target else (low, middle)
    return min((low, high), key=lambda width: abs(count(width) - target))


def training_pass(model, tensors, epsilon: float):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def one_pass():
        model.train()
        for x, y in tensors:
            loss = label_smoothed_nll(model(x, y[:, :-1]), y[:, 1:], epsilon)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return one_pass


def decoding_pass(model, source, beam: int, alpha: float):
    def one_pass():
        with parametrize.cached():  # weight norm's w = g·v/‖v‖ once per pass, not once per step (ConvS2S only)
            decoding.translate(
                model,
                source,
                batch_size=64,
                device="cpu",
                beam=beam,
                alpha=alpha,
                bos_id=subwords.BOS,
                eos_id=subwords.EOS,
            )

    return one_pass


def measure(argv=None) -> dict[str, pd.DataFrame]:
    parser = cli.parser(__doc__, profiles=trx.PROFILES)
    parser.add_argument(
        "--layers", type=int, nargs=2, default=(4, 3), metavar=("ENCODER", "DECODER"), help="ConvS2S blocks per stack"
    )
    parser.add_argument("--batches", type=int, default=6, help="training batches timed per pass")
    parser.add_argument("--sentences", type=int, default=128, help="test verses decoded per pass")
    args = cli.parse(parser, argv)
    scale = trx.PROFILES[args.profile]
    data = rnnsearch.prepare(bible.load(args.data_dir), rnnsearch.PROFILES[args.profile], "bpe", args.data_dir)
    tensors, tokens = cli.verse_batches(data, scale.max_tokens, args.batches)
    test = [x + [subwords.EOS] for x in data.ids["test"][0][: args.sentences]]

    torch.manual_seed(0)
    transformer = Transformer(
        *data.vocabularies(),
        layers=scale.layers,
        d_model=scale.d_model,
        d_ff=scale.d_ff,
        heads=scale.heads,
        dropout=scale.dropout,
    )
    layers = tuple(args.layers)
    width = matched_width(data.vocabularies(), scale.d_model, layers, scale.dropout, parameters(transformer))
    torch.manual_seed(0)
    models = {
        "ConvS2S": convs2s(data.vocabularies(), scale.d_model, layers, width, scale.dropout),
        "Transformer": transformer,
    }
    train = alternating_medians(
        {name: training_pass(m, tensors, scale.label_smoothing) for name, m in models.items()}, args.repeats
    )
    beam = alternating_medians(
        {name: decoding_pass(m, test, scale.beam, scale.alpha) for name, m in models.items()}, args.repeats
    )
    table = pd.DataFrame(
        {
            name: {
                "parameters": parameters(m),
                "train tokens/s": tokens / train[name],
                f"beam-{scale.beam} sentences/s": len(test) / beam[name],
            }
            for name, m in models.items()
        }
    ).T
    ratio = table.loc["ConvS2S"] / table.loc["Transformer"]
    title = (
        f"{args.profile} sizes: Transformer d_model {scale.d_model}, {scale.layers}+{scale.layers} layers, "
        f"d_ff {scale.d_ff}; ConvS2S embedding {scale.d_model}, {layers[0]}+{layers[1]} blocks of {width} "
        f"channels, kernel 3; {args.threads} thread(s), median of {args.repeats} alternating passes"
    )
    return {
        title: table,
        "ratio: ConvS2S / Transformer": ratio.to_frame("ConvS2S / Transformer").T,
    }


def main(argv=None):
    cli.show(measure(argv))


if __name__ == "__main__":
    main()
