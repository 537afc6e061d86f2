"""Documents per second of the hierarchical network (HAN) and the flat GRU, training and inference.

    python -m benchmarks.han        (needs the small_fine_foods package, fetched into data/cache if missing)

All timings come from one run on one machine, interleaved, so the printed ratios compare
like with like. Training = forward + backward + Adam update on length-grouped batches of
64 real reviews, shortened and embedded as in the notebook's profile; inference = the
forward pass alone, batches of 128.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import torch

from attnmem_core.data import fine_foods, text
from attnmem_core.experiments import han as hx
from attnmem_core.models import han
from benchmarks import cli
from benchmarks.timing import median_rate

MODELS = ("HN-ATT", "GRU-ATT (flat)")


def docs_per_second(model, documents, labels, batch_size: int, training: bool, repeats: int) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = [
        (text.pad([documents[i] for i in index]), labels[index])
        for index in text.by_length(documents, batch_size, np.random.default_rng(0))
    ]

    def one_pass():
        for x, y in batches:
            if training:
                loss = torch.nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            else:
                with torch.no_grad():
                    model(x)

    model.train(training)
    return median_rate(one_pass, len(documents), repeats)


def measure(argv=None) -> dict[str, pd.DataFrame]:
    parser = cli.parser(__doc__, profiles=hx.PROFILES)
    parser.add_argument("--documents", type=int, default=640, help="training reviews timed per pass")
    args = cli.parse(parser, argv)
    scale = replace(hx.PROFILES[args.profile], limit=args.documents)
    corpus = hx.prepare(fine_foods.load(args.data_dir), scale)
    documents, labels = corpus.ids["train"], corpus.labels["train"]
    rate = {}
    for training, batch_size in (("training", scale.batch_size), ("inference", 128)):
        for name in MODELS:
            torch.manual_seed(0)
            model = han.build(
                name,
                len(corpus.vocabulary),
                len(fine_foods.CLASSES),
                embedding_dim=scale.embedding_dim,
                hidden_size=scale.hidden_size,
            )
            rate[training, name] = docs_per_second(
                model, documents, labels, batch_size, training == "training", args.repeats
            )
    table = pd.Series(rate).unstack()[list(MODELS)]
    return {
        f"documents/s, {len(documents)} reviews, {scale.embedding_dim}-d embeddings, GRU {scale.hidden_size} per "
        f"direction, {args.threads} thread(s), median of {args.repeats} passes": table,
        "ratio": (table[MODELS[0]] / table[MODELS[1]]).to_frame(f"{MODELS[0]} / {MODELS[1]}"),
    }


def main(argv=None):
    cli.show(measure(argv))


if __name__ == "__main__":
    main()
