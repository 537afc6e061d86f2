"""The hierarchical-attention experiments (Yang et al. 2016, Sec. 3) on small_fine_foods.

`prepare` turns the reviews into documents of word ids once: a Punkt model and a vocabulary
(the paper's cut-off: words seen 5 times or fewer become UNK) from the training reviews,
and word2vec embeddings trained on them (the paper's initialisation of W_e). A `RunSpec`
trains one model from one seed, keeps the epoch with the best validation accuracy, and
returns its test predictions and attention weights; `runs.run_all` runs many side by side
(or reads them from the trained-model cache). `bag_of_words` fits the logistic-regression baselines, which
need no seed. `quantities` and `convergence_states` are what the chapter's claims are judged on.
"""

from __future__ import annotations

import copy
import html
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from gensim.models import Word2Vec
from scipy import stats
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from torch import nn

from attnmem_core import claims, convergence, intervals, runs
from attnmem_core.data import text
from attnmem_core.data.fine_foods import CLASSES, FineFoods
from attnmem_core.models import han
from attnmem_core.runtime import seed_everything
from attnmem_core.tables import mean_spread
from attnmem_core.training import train

# Yang et al. 2016, Table 2, accuracy (%). The Amazon cells are not yet checked against the paper; the
# paper's flat baseline here is its LSTM, and it has no bag-of-words logistic regression row.
PAPER_TABLE2 = {
    "HN-ATT": {"Yelp'15": 71.0, "Amazon (unconfirmed)": 63.6},
    "HN-AVE": {"Yelp'15": 69.9, "Amazon (unconfirmed)": 62.9},
    "GRU-ATT (flat)": {"Yelp'15": 58.2},
}
NEURAL = tuple(han.MODELS)
EMBEDDINGS = ("word2vec", "random")
MIN_COUNT = 6  # "We only retain words appearing more than 5 times in building the vocabulary"
# A run has converged when its validation accuracy stopped rising over the last half of its updates
# (convergence.Rule); with one evaluation per epoch that takes at least three epochs to tell.
CONVERGENCE = convergence.Rule("valid_accuracy", "max")


@dataclass(frozen=True)
class Scale:
    """What a profile runs. The paper: 200-d word2vec, GRUs of 50 per direction, batch 64, SGD with momentum."""

    epochs: int
    seeds: tuple[int, ...]
    workers: int
    embedding_dim: int = 200
    hidden_size: int = 50
    batch_size: int = 64
    learning_rate: float = 2e-3  # Adam: converges in the few epochs a laptop allows
    max_sentences: int | None = None  # keep the first sentences of a long review...
    max_words: int | None = None  # ...and the first words of a long sentence
    limit: int | None = None  # smoke: the first reviews of each split only
    word2vec_epochs: int = 5  # gensim's default
    random_init_models: tuple[str, ...] = NEURAL  # the models also trained from random embeddings


PROFILES = {
    "smoke": Scale(
        epochs=1,
        seeds=(0,),
        workers=1,
        embedding_dim=16,
        hidden_size=8,
        max_sentences=8,
        max_words=20,
        limit=200,
        word2vec_epochs=1,
        random_init_models=("HN-ATT",),
    ),
    "cpu": Scale(
        epochs=2,
        seeds=(0, 1, 2, 3, 4),
        workers=2,
        embedding_dim=100,
        max_sentences=12,
        max_words=30,
        random_init_models=("HN-ATT",),
    ),
    "gpu": Scale(epochs=10, seeds=tuple(range(10)), workers=1, learning_rate=1e-3),
}


@dataclass
class Corpus:
    """Documents as words and as ids per split (shortened to the profile's limits), labels, the vocabulary,
    and the word2vec matrix (rows in vocabulary order)."""

    words: dict[str, list[text.Document]]
    ids: dict[str, list[list[list[int]]]]
    labels: dict[str, torch.Tensor]
    vocabulary: text.Vocabulary
    word2vec: torch.Tensor
    kept: float  # the share of the training reviews' words that the shortening keeps
    identity: dict  # what decides all of the above: part of every trained model's cache key


def prepare(data: FineFoods, scale: Scale, seed: int = 0) -> Corpus:
    """Tokenize every split with a Punkt model trained on the training reviews; vocabulary and word2vec from
    training."""
    splits = {name: getattr(data, name).iloc[: scale.limit] for name in ("train", "valid", "test")}
    tokenize = text.Tokenizer(splits["train"].review)
    whole = {name: [tokenize(r) for r in frame.review] for name, frame in splits.items()}
    # every model, the bag-of-words ones included, sees the same (possibly shortened) reviews
    words = {
        name: [[s[: scale.max_words] for s in d[: scale.max_sentences]] for d in documents]
        for name, documents in whole.items()
    }
    kept = _count(words["train"]) / _count(whole["train"])
    vocabulary = text.Vocabulary(words["train"], MIN_COUNT)
    ids = {name: [vocabulary.encode(d) for d in documents] for name, documents in words.items()}
    labels = {name: torch.tensor(frame.label.to_numpy()) for name, frame in splits.items()}
    identity = {
        "reviews": data.sha256,
        "seed": seed,
        **{k: getattr(scale, k) for k in ("embedding_dim", "max_sentences", "max_words", "limit", "word2vec_epochs")},
    }
    return Corpus(words, ids, labels, vocabulary, word2vec(words["train"], vocabulary, scale, seed), kept, identity)


def _count(documents: list[text.Document]) -> int:
    return sum(len(s) for d in documents for s in d)


def word2vec(documents: list[text.Document], vocabulary: text.Vocabulary, scale: Scale, seed: int) -> torch.Tensor:
    """Skip-gram word2vec (Mikolov et al. 2013) on the training sentences, one row per vocabulary word.

    Trained once per corpus, not per model seed; one worker thread and a fixed seed make it
    repeat exactly. PAD's row is zero; UNK, which word2vec never sees, keeps a small random row.
    """
    sentences = [s for d in documents for s in d]
    model = Word2Vec(
        sentences,
        vector_size=scale.embedding_dim,
        min_count=MIN_COUNT,
        sg=1,
        window=5,
        workers=1,
        seed=seed,
        epochs=scale.word2vec_epochs,
    )
    rows = torch.empty(len(vocabulary), scale.embedding_dim).uniform_(
        -0.1, 0.1, generator=torch.Generator().manual_seed(seed)
    )
    for i, w in enumerate(vocabulary.words):
        if w in model.wv.key_to_index:
            rows[i] = torch.tensor(model.wv[w])
    rows[text.PAD] = 0
    return rows


@dataclass(frozen=True)
class RunSpec:
    """One model from one seed, trained for `epochs` and tested at its best validation epoch."""

    model: str
    embedding: str
    seed: int
    epochs: int
    batch_size: int
    learning_rate: float
    embedding_dim: int
    hidden_size: int

    @property
    def label(self) -> str:
        return f"{self.model} {self.embedding} seed {self.seed}"

    def cache_key(self, corpus: Corpus, device: torch.device) -> dict:
        return {**asdict(self), "corpus": corpus.identity, "device": device.type}

    def build(self, corpus: Corpus) -> nn.Module:
        return han.build(
            self.model,
            len(corpus.vocabulary),
            len(CLASSES),
            embedding_dim=self.embedding_dim,
            hidden_size=self.hidden_size,
        )

    def cost(self) -> float:
        return 1.0

    def train(self, corpus: Corpus, device: torch.device) -> dict:
        seed_everything(self.seed)
        model = self.build(corpus).to(device)
        if self.embedding == "word2vec":
            with torch.no_grad():
                model.embed.weight.copy_(corpus.word2vec)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.learning_rate)
        train_ids, valid_ids = corpus.ids["train"], corpus.ids["valid"]
        steps_per_epoch = -(-len(train_ids) // self.batch_size)
        best = {"valid_accuracy": -1.0}

        def evaluate():
            accuracy = scores(corpus.labels["valid"], predict(model, valid_ids, device)[0])["accuracy"]
            if accuracy > best["valid_accuracy"]:
                best.update(valid_accuracy=accuracy, state=copy.deepcopy(model.state_dict()))
            return {"valid_accuracy": accuracy}

        history = train(
            model,
            text.length_batches(train_ids, corpus.labels["train"], self.batch_size, self.seed),
            steps=self.epochs * steps_per_epoch,
            optimizer=optimizer,
            loss_fn=nn.functional.cross_entropy,
            device=device,
            evaluate=evaluate,
            eval_every=steps_per_epoch,
            clip_norm=5.0,
            desc=self.label,
            progress=False,
        )
        model.load_state_dict(best["state"])
        predictions, word_weights, sentence_weights = predict(model, corpus.ids["test"], device)
        return runs.payload(
            model,
            history,
            {
                "best_valid_accuracy": best["valid_accuracy"],
                "predictions": torch.from_numpy(predictions),
                "word_weights": [None if w is None else [torch.from_numpy(a) for a in w] for w in word_weights],
                "sentence_weights": [None if w is None else torch.from_numpy(w) for w in sentence_weights],
                **scores(corpus.labels["test"], predictions),
            },
        )


def plan(scale: Scale, seeds: list[int], epochs: int) -> list[RunSpec]:
    """Every neural model from word2vec (the paper's setting), and `random_init_models` from random embeddings."""

    def spec(model, embedding, seed):
        return RunSpec(
            model,
            embedding,
            seed,
            epochs,
            scale.batch_size,
            scale.learning_rate,
            scale.embedding_dim,
            scale.hidden_size,
        )

    return [
        spec(m, e, s)
        for s in seeds
        for e in EMBEDDINGS
        for m in (NEURAL if e == "word2vec" else scale.random_init_models)
    ]


def scores(y_true, y_pred) -> dict[str, float]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {
        "accuracy": float((y_true == y_pred).mean()),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", labels=range(len(CLASSES)))),
    }


@torch.no_grad()
def predict(model: nn.Module, documents, device, batch_size: int = 128):
    """Predicted labels, and per document its word weights α_it (list of arrays) and sentence weights α_i (or None)."""
    model.eval()
    labels = np.empty(len(documents), dtype=np.int64)
    word_weights, sentence_weights = [None] * len(documents), [None] * len(documents)
    for index in text.by_length(documents, batch_size):
        logits, α_it, α_i = model.attend(text.pad([documents[i] for i in index]).to(device))
        labels[index] = logits.argmax(-1).cpu().numpy()
        for row, i in enumerate(index):
            lengths = [len(s) for s in documents[i]]
            if α_it is not None:
                word_weights[i] = [α_it[row, j, :n].cpu().numpy() for j, n in enumerate(lengths)]
            if α_i is not None:
                sentence_weights[i] = α_i[row, : len(lengths)].cpu().numpy()
    return labels, word_weights, sentence_weights


def bag_of_words(corpus: Corpus, *, tfidf: bool, ngrams: tuple[int, int]) -> dict:
    """Logistic regression on word counts (or TF-IDF), its inverse regularisation C picked on validation."""

    def joined(split):
        return [" ".join(w for s in d for w in s) for d in corpus.words[split]]

    options = dict(tokenizer=str.split, token_pattern=None, lowercase=False, ngram_range=ngrams, min_df=2)
    vectorizer = TfidfVectorizer(sublinear_tf=True, **options) if tfidf else CountVectorizer(binary=True, **options)
    x = {
        split: (vectorizer.fit_transform if split == "train" else vectorizer.transform)(joined(split))
        for split in ("train", "valid", "test")
    }
    y = {split: corpus.labels[split].numpy() for split in x}
    fits = [LogisticRegression(C=C, solver="liblinear").fit(x["train"], y["train"]) for C in (0.1, 0.3, 1.0, 3.0, 10.0)]
    best = max(fits, key=lambda f: (f.predict(x["valid"]) == y["valid"]).mean())
    predictions = best.predict(x["test"])
    return {"C": best.C, "predictions": predictions, **scores(y["test"], predictions)}


def majority_class(corpus: Corpus) -> dict:
    """Always the training set's most frequent label."""
    predictions = np.full(len(corpus.labels["test"]), int(corpus.labels["train"].mode().values))
    return {"predictions": predictions, **scores(corpus.labels["test"], predictions)}


# ---- Table 2: accuracy and macro-F1 over seeds, paired against HN-ATT ----------------------


def results_frame(results: list[runs.TrainedRun]) -> pd.DataFrame:
    """One row per neural run: model, embedding, seed, test accuracy and macro-F1, training seconds."""
    return pd.DataFrame(
        [
            {
                "model": r.spec.model,
                "embedding": r.spec.embedding,
                "seed": r.spec.seed,
                **{k: r.outputs[k] for k in ("accuracy", "macro_f1", "best_valid_accuracy")},
                "seconds": r.train_seconds,
            }
            for r in results
        ]
    )


def per_seed(frame: pd.DataFrame, model: str, embedding: str = "word2vec", metric: str = "accuracy") -> list[float]:
    rows = frame[(frame.model == model) & (frame.embedding == embedding)].sort_values("seed")
    return list(rows[metric])


def gap(ours: list[float], other: list[float], items: int, deterministic: bool = False) -> intervals.Interval:
    """mean(ours) − mean(other), accuracies as fractions: Welch's t over seeds (seed i of one model is no pair for
    seed i of another), Newcombe's interval over the `items` test reviews for one seed each, or, against a
    `deterministic` baseline's single number, Student's t over our seeds."""
    if deterministic:
        return intervals.mean([a - other[0] for a in ours])
    return intervals.rate_difference(ours, other, items)


PEER_COLUMN = "reported earlier on this test set"


def table2(frame: pd.DataFrame, baselines: dict[str, dict], peers: dict[str, str], items: int) -> pd.DataFrame:
    """Accuracy and macro-F1 (%) per model, HN-ATT's difference to each with its interval (`gap`, on `items` test
    reviews), the paper's numbers beside, and `peers`, accuracies reported earlier for peer systems on this test
    set (a row of its own if not measured)."""
    reference = per_seed(frame, "HN-ATT")
    rows = []
    entries = [(m, "word2vec") for m in NEURAL] + [
        (m, "random") for m in frame[frame.embedding == "random"].model.unique()
    ]
    for model, embedding in entries:
        accuracy, f1 = per_seed(frame, model, embedding), per_seed(frame, model, embedding, "macro_f1")
        name = model if embedding == "word2vec" else f"{model} (random embeddings)"  # the paper used word2vec
        difference = None if name == "HN-ATT" else gap(reference, accuracy, items)
        rows.append(_row(name, accuracy, f1, difference))
    for name, result in baselines.items():
        difference = gap(reference, [result["accuracy"]], items, deterministic=True)
        rows.append(_row(name, [result["accuracy"]], [result["macro_f1"]], difference))
    rows += [{"model": f"{name} (not measured here)"} for name in peers if name not in baselines]
    table = pd.DataFrame(rows).set_index("model").fillna("")
    table[PEER_COLUMN] = [peers.get(name.removesuffix(" (not measured here)"), "") for name in table.index]
    return table


def _row(name: str, accuracy: list[float], f1: list[float], difference: intervals.Interval | None) -> dict:
    paper = PAPER_TABLE2.get(name, {})
    return {
        "model": name,
        "accuracy (%)": mean_spread(accuracy, scale=100, digits=1),
        "macro-F1 (%)": mean_spread(f1, scale=100, digits=1),
        "HN-ATT − this (pp, 95 % interval)": "" if difference is None else difference.scaled(100).text(digits=1),
        **{f"paper {k}": f"{v:.1f}" for k, v in paper.items()},
    }


# ---- Figures 3/4: the attention weight of sentiment words, by label ---------------------------

# Fixed before any run: +1 for words that praise, −1 for words that complain.
SENTIMENT_WORDS = {
    "great": +1,
    "love": +1,
    "good": +1,
    "best": +1,
    "bad": -1,
    "disappointed": -1,
    "worst": -1,
    "terrible": -1,
}


def word_weights_frame(
    results: list[runs.TrainedRun], corpus: Corpus, words: dict[str, int] = SENTIMENT_WORDS
) -> pd.DataFrame:
    """One row per occurrence of a listed word in a test review, per run: its weight α_it as the paper
    plots it, and α_it·T_i, its weight relative to a uniform 1/T_i, which sentence length cannot move."""
    rows = []
    for r in results:
        for doc, (document, weights) in enumerate(zip(corpus.words["test"], r.outputs["word_weights"])):
            label = CLASSES[int(corpus.labels["test"][doc])]
            for sentence, α in zip(document, weights):
                for w, a in zip(sentence, α):
                    if w in words:
                        rows.append(
                            {
                                "seed": r.spec.seed,
                                "word": w,
                                "polarity": words[w],
                                "label": label,
                                "document": doc,
                                "α": float(a),
                                "α·T": float(a) * len(sentence),
                            }
                        )
    return pd.DataFrame(rows)


def context_shift(weights: pd.DataFrame, measure: str = "α") -> pd.DataFrame:
    """Per seed: does a sentiment word get more weight (`measure`: α or α·T) where the review's label agrees?

    Each occurrence's log weight is centred on its word's mean (so words compare with
    themselves, not with each other); `shift` is the mean of that where the label agrees (a
    praising word in a `great` review, a complaining one in an `other` review) minus where it
    disagrees, and `p` a one-sided Mann–Whitney U test of agree > disagree.
    """
    rows = []
    for seed, group in weights.groupby("seed"):
        x, agrees = _centred(group, measure)
        test = stats.mannwhitneyu(x[agrees], x[~agrees], alternative="greater")
        rows.append(
            {
                "seed": seed,
                "shift": float(x[agrees].mean() - x[~agrees].mean()),
                "p": float(test.pvalue),
                "agree": int(agrees.sum()),
                "disagree": int((~agrees).sum()),
            }
        )
    return pd.DataFrame(rows).set_index("seed")


def _centred(group: pd.DataFrame, measure: str) -> tuple[pd.Series, pd.Series]:
    """Each occurrence's log weight centred on its word's mean, and whether the review's label agrees with the word."""
    log_weight = np.log(group[measure])
    agrees = (group.polarity > 0) == (group.label == CLASSES[0])
    return log_weight - log_weight.groupby(group.word).transform("mean"), agrees


def shift_interval(weights: pd.DataFrame, measure: str) -> intervals.Interval:
    """The context shift with its interval: Student's t over the seeds' shifts with several seeds; with one,
    Welch's t over its occurrences, agreeing against disagreeing."""
    shifts = context_shift(weights, measure)["shift"]
    if len(shifts) > 1:
        return intervals.mean(list(shifts))
    x, agrees = _centred(weights, measure)
    return intervals.difference(x[agrees], x[~agrees], over="occurrences")


# ---- The claims' quantities and the runs' convergence -----------------------------------------


def run_name(run: runs.TrainedRun) -> str:
    """'HN-ATT', or 'HN-ATT (random embeddings)': a model over its seeds, as the claims and tables name it."""
    return run.spec.model if run.spec.embedding == "word2vec" else f"{run.spec.model} ({run.spec.embedding} embeddings)"


def convergence_states(results: list[runs.TrainedRun]) -> dict[str, list[convergence.Convergence]]:
    """Model name → CONVERGENCE's answer for each of its runs (one per seed)."""
    return convergence.by_run(CONVERGENCE, ((run_name(r), r.history) for r in results))


def quantities(results: list[runs.TrainedRun], weights: pd.DataFrame, items: int) -> list[claims.Quantity]:
    """HN-ATT's test accuracy minus every other word2vec model's (points, `gap`), and the context shifts of ln α and
    ln α·T on HN-ATT (`shift_interval`; more training is taken to sharpen them, as it sharpens the attention)."""
    accuracy: dict[str, list[float]] = {}
    for r in sorted(results, key=lambda r: r.spec.seed):
        accuracy.setdefault(run_name(r), []).append(r.outputs["accuracy"])
    measured = [
        claims.between(
            f"HN-ATT − {m} accuracy",
            gap(accuracy["HN-ATT"], accuracy[m], items).scaled(100),
            "pp",
            "HN-ATT",
            m,
            "higher",
        )
        for m in NEURAL
        if m != "HN-ATT"
    ]
    measured += [
        claims.of_model(f"shift of ln {measure}", shift_interval(weights, measure), "ln", "HN-ATT", "higher")
        for measure in ("α", "α·T")
    ]
    return measured


# ---- Figures 5/6: reviews shaded by their weights ------------------------------------------


def render(document: text.Document, word_weights, sentence_weights, caption: str) -> str:
    """HTML: each sentence on a line behind a red bar ∝ α_i; each word shaded blue ∝ √α_i · α_it,
    the paper's normalisation, so that only the important words of important sentences stand out."""
    word_weights, sentence_weights = [np.asarray(a) for a in word_weights], np.asarray(sentence_weights)
    shade = [np.sqrt(a_i) * np.asarray(a_it) for a_i, a_it in zip(sentence_weights, word_weights)]
    top = max(float(s.max()) for s in shade)
    lines = []
    for sentence, a_i, s in zip(document, sentence_weights, shade):
        words = " ".join(
            f'<span style="background: rgba(31, 119, 180, {v / top:.2f})">{html.escape(w)}</span>'
            for w, v in zip(sentence, s)
        )
        lines.append(
            f'<div><span style="display: inline-block; width: 2.5em; background: '
            f'rgba(214, 39, 40, {float(a_i) / float(max(sentence_weights)):.2f})">&nbsp;</span> {words}</div>'
        )
    return (
        f'<figure style="margin: 1em 0"><figcaption><b>{html.escape(caption)}</b></figcaption>{"".join(lines)}</figure>'
    )


def pick_examples(
    result: runs.TrainedRun, corpus: Corpus, max_sentences: int = 6, max_words: int = 70
) -> list[tuple[int, str]]:
    """The first short test review of each kind — right and wrong, per true label — as (index, caption)."""
    picked = []
    truth, predicted = corpus.labels["test"].tolist(), result.outputs["predictions"].tolist()
    for right in (True, False):
        for label in range(len(CLASSES)):
            for i, document in enumerate(corpus.words["test"]):
                if (
                    (predicted[i] == label) == right
                    and truth[i] == label
                    and 2 <= len(document) <= max_sentences
                    and sum(map(len, document)) <= max_words
                ):
                    picked.append(
                        (
                            i,
                            f"test review {i}: label {CLASSES[label]}, predicted "
                            f"{CLASSES[predicted[i]]} ({'right' if right else 'wrong'})",
                        )
                    )
                    break
    return picked
