"""Documents per second of the hierarchical network (HAN) and the flat GRU, training and inference.

    python -m benchmarks.han        (needs the small_fine_foods package, fetched into data/cache if missing)

All timings come from one run on one machine, interleaved, so the printed ratios compare
like with like. Training = forward + backward + Adam update on length-grouped batches of
64 real reviews, shortened and embedded as in the notebook's profile; inference = the
forward pass alone, batches of 128. HN-ATT is also timed with its encoders' rows in one
padded batch, as before they ran in groups of similar length (`length_groups`); as it computed
at 5967f37, each GRU grouping its own embedded rows (`han_reference`); and as at 12a214b (word
attention over the padding too, the backward GRU reversed with a gather).

Two costs around the models, each against what it replaced: padding the training batches
(`text.pad`, one numpy scatter, against a tensor per sentence), and saving and loading a
run's test attention weights (flat, as `predict` returns them, against a tensor per sentence),
which every run pays four times on its way through the trained-model cache.
"""

from __future__ import annotations

import io
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import torch

from attnmem_core.data import fine_foods, text
from attnmem_core.experiments import han as hx
from attnmem_core.models import han
from benchmarks import cli
from benchmarks.han_reference import as_at_5967f37, as_before
from benchmarks.timing import alternating_medians, median_rate

MODELS = ("HN-ATT", "GRU-ATT (flat)")
PADDED_SUFFIX = ", one padded batch"
PADDED = "HN-ATT" + PADDED_SUFFIX  # HN-ATT before its encoders ran rows in groups of similar length
GRU_GROUPS_SUFFIX = ", as at 5967f37"
GRU_GROUPS = "HN-ATT" + GRU_GROUPS_SUFFIX  # each GRU grouped its own embedded rows
BEFORE_SUFFIX = ", as at 12a214b"
BEFORE = "HN-ATT" + BEFORE_SUFFIX
VARIANTS = (PADDED, GRU_GROUPS, BEFORE)


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


def pad_per_sentence(documents) -> torch.Tensor:
    """The padding `text.pad` replaced: one tensor per sentence."""
    x = torch.full((len(documents), max(map(len, documents)), max(len(s) for d in documents for s in d)), text.PAD)
    for i, document in enumerate(documents):
        for j, sentence in enumerate(document):
            x[i, j, : len(sentence)] = torch.tensor(sentence, dtype=torch.long)
    return x


def around_the_models(model, documents, batch_size: int, repeats: int) -> pd.DataFrame:
    """Median seconds of padding one epoch's batches and of a save + load of the test weights, before and now."""
    groups = [[documents[i] for i in index] for index in text.by_length(documents, batch_size)]
    _, flat_words, flat_sentences = hx.predict(model, documents, torch.device("cpu"))
    outputs = {
        "word_weights": flat_words,
        "sentence_weights": flat_sentences,
        "words_per_sentence": torch.tensor([len(s) for d in documents for s in d]),
        "sentences_per_document": torch.tensor([len(d) for d in documents]),
    }
    by_document, by_sentence = hx.attention_weights(outputs)
    per_sentence = {
        "word_weights": [[torch.from_numpy(a) for a in d] for d in by_document],
        "sentence_weights": [torch.from_numpy(a) for a in by_sentence],
    }

    def save_and_load(payload):
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)

    seconds = alternating_medians(
        {
            ("pad an epoch", "before"): lambda: [pad_per_sentence(g) for g in groups],
            ("pad an epoch", "now"): lambda: [text.pad(g) for g in groups],
            ("save + load test weights", "before"): lambda: save_and_load(per_sentence),
            ("save + load test weights", "now"): lambda: save_and_load(outputs),
        },
        repeats,
    )
    return pd.Series(seconds).unstack()[["before", "now"]]


def measure(argv=None) -> dict[str, pd.DataFrame]:
    parser = cli.parser(__doc__, profiles=hx.PROFILES)
    parser.add_argument("--documents", type=int, default=640, help="training reviews timed per pass")
    args = cli.parse(parser, argv)
    scale = replace(hx.PROFILES[args.profile], limit=args.documents)
    corpus = hx.prepare(fine_foods.load(args.data_dir), scale)
    documents, labels = corpus.ids["train"], corpus.labels["train"]
    rate = {}
    for training, batch_size in (("training", scale.batch_size), ("inference", 128)):
        for name in (*MODELS, *VARIANTS):
            torch.manual_seed(0)
            model = han.build(
                "HN-ATT" if name in VARIANTS else name,
                len(corpus.vocabulary),
                len(fine_foods.CLASSES),
                embedding_dim=scale.embedding_dim,
                hidden_size=scale.hidden_size,
            )
            if name == PADDED:
                model.step_cost_in_rows = math.inf  # one group: every row padded to the batch's longest
            if name == GRU_GROUPS:
                as_at_5967f37(model)
            if name == BEFORE:
                as_before(model)
            rate[training, name] = docs_per_second(
                model, documents, labels, batch_size, training == "training", args.repeats
            )
    table = pd.Series(rate).unstack()[[*MODELS, *VARIANTS]]
    torch.manual_seed(0)
    model = han.build("HN-ATT", len(corpus.vocabulary), len(fine_foods.CLASSES), embedding_dim=scale.embedding_dim)
    around = around_the_models(model, documents, scale.batch_size, args.repeats)
    return {
        f"documents/s, {len(documents)} reviews, {scale.embedding_dim}-d embeddings, GRU {scale.hidden_size} per "
        f"direction, {args.threads} thread(s), median of {args.repeats} passes": table,
        "ratio": pd.concat(
            {
                f"{MODELS[0]} / {MODELS[1]}": table[MODELS[0]] / table[MODELS[1]],
                f"length groups / {PADDED_SUFFIX.strip(', ')}": table[MODELS[0]] / table[PADDED],
                f"now / {GRU_GROUPS_SUFFIX.strip(', ')}": table[MODELS[0]] / table[GRU_GROUPS],
                f"now / {BEFORE_SUFFIX.strip(', ')}": table[MODELS[0]] / table[BEFORE],
            },
            axis=1,
        ),
        f"seconds, {len(documents)} reviews, median of {args.repeats}": around,
        "speed-up ratio, before / now": (around["before"] / around["now"]).to_frame("before / now"),
    }


def main(argv=None):
    cli.show(measure(argv))


if __name__ == "__main__":
    main()
