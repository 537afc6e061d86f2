"""Documents per second of the hierarchical network (HAN) and the flat GRU, training and inference.

    python -m benchmarks.han        (needs the small_fine_foods package, fetched into data/cache if missing)

All timings come from one run on one machine, interleaved, so the printed ratios compare
like with like. Training = forward + backward + Adam update on length-grouped batches of
64 real reviews, shortened and embedded as in the notebook's profile; inference = the
forward pass alone, batches of 128.
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch

from attnmem_core.data import fine_foods, text
from attnmem_core.experiments import han as hx
from attnmem_core.models import han
from attnmem_core.runner import REPO
from benchmarks.timing import median_rate

MODELS = ("HN-ATT", "GRU-ATT (flat)")


def docs_per_second(model, documents, labels, batch_size: int, training: bool, repeats: int) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = [(text.pad([documents[i] for i in index]), labels[index])
               for index in text.by_length(documents, batch_size, np.random.default_rng(0))]

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=sorted(hx.PROFILES), help="sizes and shortening")
    parser.add_argument("--documents", type=int, default=640, help="training reviews timed per pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the notebook's workers use 1)")
    parser.add_argument("--data-dir", default=str(REPO / "data" / "cache"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    scale = replace(hx.PROFILES[args.profile], limit=args.documents)
    corpus = hx.prepare(fine_foods.load(args.data_dir), scale)
    documents, labels = corpus.ids["train"], corpus.labels["train"]
    print(f"documents/s, {len(documents)} reviews, {scale.embedding_dim}-d embeddings, GRU {scale.hidden_size} "
          f"per direction, {args.threads} thread(s), median of {args.repeats} passes")
    rate = {}
    for training, batch_size in ((True, scale.batch_size), (False, 128)):
        for name in MODELS:
            torch.manual_seed(0)
            model = han.build(name, len(corpus.vocabulary), len(fine_foods.CLASSES),
                              embedding_dim=scale.embedding_dim, hidden_size=scale.hidden_size)
            rate[name, training] = docs_per_second(model, documents, labels, batch_size, training, args.repeats)
    print(f"{'':>10} {'HAN':>8} {'flat GRU':>9}   {'HAN / flat':>10}")
    for training, label in ((True, "training"), (False, "inference")):
        han_rate, flat_rate = rate[MODELS[0], training], rate[MODELS[1], training]
        print(f"{label:>10} {han_rate:>8.0f} {flat_rate:>9.0f}   {han_rate / flat_rate:>9.2f}×")


if __name__ == "__main__":
    main()
