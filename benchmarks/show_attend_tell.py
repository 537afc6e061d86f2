"""Speed of the Show-Attend-and-Tell captioners on CPU: training images per second for soft, hard and no
attention, and beam-5 captions per second.

    python -m benchmarks.show_attend_tell      (needs dataset-fashion-mnist, fetched into data/cache if missing)

All timings come from one run on one machine, interleaved, so the printed ratios compare
like with like. Training = the decoder's forward + backward + Adam update on minibatches of
(annotation grid, reference) pairs, as the notebook trains it with the encoder frozen; the
annotations come from an untrained encoder, which costs the same. Captioning = beam search
(beam 5) over test scenes in batches of 100, the encoder included; the untrained models'
<eos> is pinned improbable, so that every caption runs to the longest reference's length and
each variant decodes the same number of steps.
"""

from __future__ import annotations

from itertools import islice

import pandas as pd
import torch

from attnmem_core.experiments import show_attend_tell as cx
from attnmem_core.models.show_attend_tell import CaptionLoss
from benchmarks import cli
from benchmarks.timing import median_rate

VARIANTS = ("soft", "hard", "none")


def training_rate(model, batches, repeats: int) -> float:
    loss_fn = CaptionLoss(model.decoder.variant, pad_id=cx.PAD)
    optimizer = torch.optim.Adam(model.decoder.parameters(), lr=1e-3)

    def one_pass():
        for (grids, captions_in), captions_out in batches:
            loss = loss_fn(model.decoder(grids, captions_in), captions_out)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    model.train()
    return median_rate(one_pass, sum(len(y) for _, y in batches), repeats)


def captioning_rate(model, images, max_words: int, repeats: int) -> float:
    with torch.no_grad():
        model.decoder.L_o.bias[cx.EOS] = -1e4  # untrained models would stop at random lengths
    return median_rate(
        lambda: cx.caption(model, images, beam=5, max_words=max_words, device=torch.device("cpu")), len(images), repeats
    )


def measure(argv=None) -> dict[str, pd.DataFrame]:
    parser = cli.parser(__doc__, profiles=cx.PROFILES)
    parser.add_argument("--batches", type=int, default=10, help="training minibatches timed per pass")
    parser.add_argument("--images", type=int, default=100, help="test scenes captioned per pass")
    args = cli.parse(parser, argv)
    scale = cx.PROFILES[args.profile]
    data = cx.prepare(args.data_dir, scale)
    models = {}
    for variant in VARIANTS:
        torch.manual_seed(0)
        models[variant] = cx.build(variant, scale)
    with torch.no_grad():
        features = models["soft"].encoder(data.train.images)
    batches = list(islice(cx.caption_batches(features, data, scale.batch_size, seed=0), args.batches))
    images = data.test.images[: args.images]
    table = pd.DataFrame(
        {
            v: {
                "train images/s": training_rate(m, batches, args.repeats),
                "beam-5 captions/s": captioning_rate(m, images, data.max_words, args.repeats),
            }
            for v, m in models.items()
        }
    ).T
    ratios = pd.DataFrame({f"none / {slower}": table.loc["none"] / table.loc[slower] for slower in ("soft", "hard")}).T
    return {
        f"{args.profile} sizes (LSTM {scale.hidden}, attention {scale.attention}, {features.shape[1]} locations), "
        f"{args.threads} thread(s), median of {args.repeats} passes": table,
        "ratios": ratios,
    }


def main(argv=None):
    cli.show(measure(argv))


if __name__ == "__main__":
    main()
