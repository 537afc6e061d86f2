"""The hierarchical-attention experiments (Yang et al. 2016, Sec. 3) on small_fine_foods.

`prepare` turns the reviews into documents of word ids once: a Punkt model and a vocabulary
(the paper's cut-off: words seen 5 times or fewer become UNK) from the training reviews,
and word2vec embeddings trained on them (the paper's initialisation of W_e). A `RunSpec`
trains one model from one seed until `EarlyStopping` ends it (validation accuracy, the
profile's stated patience), keeps the evaluation with the best validation accuracy, and returns its test
predictions and attention weights; `runs.run_all` runs many side by side (or reads them from
the trained-model cache). The learning rate is chosen on validation accuracy only
(`selection_plan`, `chosen_learning_rate`). `bag_of_words` fits the logistic-regression
baselines, which need no seed.

Two analyses go past the paper's figures. `sentence_hits`: does the sentence with the largest
α_i carry the review's label, by a bag-of-words model that scores each sentence alone? And
`transfer_plan`: the word context vector u_w of HN-ATT trained on the short reviews, frozen into
an HN-ATT trained on the long ones, against a u_w trained there and one frozen at random (the
essay's claim that a trained context vector is bound to its task). `quantities` and
`convergence_states` are what the chapter's claims are judged on.
"""

from __future__ import annotations

import copy
import html
import math
from dataclasses import asdict, dataclass, replace

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

# Yang et al. 2016, Table 2, accuracy (%): our model → (the paper's row, its numbers). The Amazon cells are not
# yet checked against the paper. The paper's flat baseline is an LSTM whose word states are averaged, so it stands
# beside our flat GRU without attention; the paper has no flat model with attention.
PAPER_TABLE2 = {
    "HN-ATT": ("HN-ATT", {"Yelp'15": 71.0, "Amazon (unconfirmed)": 63.6}),
    "HN-AVE": ("HN-AVE", {"Yelp'15": 69.9, "Amazon (unconfirmed)": 62.9}),
    "GRU-AVE (flat)": ("LSTM", {"Yelp'15": 58.2}),
}
NEURAL = tuple(han.MODELS)
EMBEDDINGS = ("word2vec", "random")
MIN_COUNT = 6  # "We only retain words appearing more than 5 times in building the vocabulary"
PARTS = ("all", "short", "long")  # every review; those with at most, or more than, the median number of sentences
CONTEXTS = ("trained", "transferred", "frozen")  # u_w learned, taken from another model and frozen, frozen at init


@dataclass(frozen=True)
class EarlyStopping:
    """Training stops once `patience` evaluations in a row bring no better validation accuracy; a run has converged
    when it stopped so, and not when it ran out of epochs with its best accuracy among its last evaluations."""

    metric: str = "valid_accuracy"
    patience: int = 3

    def text(self) -> str:
        return (
            f"training stops once {self.patience} evaluations in a row bring no better {self.metric}, and a run has "
            f"converged when it stopped so, not by running out of epochs"
        )

    def stop(self, history: list[dict]) -> bool:
        values = [row[self.metric] for row in history]
        return len(values) - 1 - int(np.argmax(values)) >= self.patience

    def judge(self, history: list[dict]) -> convergence.Convergence:
        if not history:
            raise ValueError(f"no validation history to judge {self.metric} on; evaluate during training")
        values = [row[self.metric] for row in history]
        best = int(np.argmax(values))  # the first of equal values: a tie is no improvement
        step = int(history[-1]["step"])
        if self.stop(history):
            reason = f"{self.metric} best at update {history[best]['step']:,}, no better in the {self.patience} after"
            return convergence.Convergence(True, reason, step, 0.0)
        if len(values) <= self.patience:
            reason = f"only {len(values)} evaluation(s) by update {step:,}, too few for a patience of {self.patience}"
            return convergence.Convergence(False, reason, step, math.nan)
        earlier = max(values[: len(values) - self.patience])
        gain = (max(values) - earlier) / earlier if earlier else math.inf
        reason = f"{self.metric} still rose {gain:.1%} within its last {self.patience} evaluations, to update {step:,}"
        return convergence.Convergence(False, reason, step, float(gain))


EARLY_STOPPING = EarlyStopping()


@dataclass(frozen=True)
class Scale:
    """What a profile runs. The paper: 200-d word2vec, GRUs of 50 per direction, batch 64, SGD with momentum and
    its learning rate picked on validation; here Adam, its learning rate picked on validation from
    `learning_rates` (HN-ATT, first seed), every run early-stopped (`EarlyStopping` with `patience`) within `epochs`.
    The cpu profile's sizes were chosen on validation (`han_scale`, han_calibration.json)."""

    epochs: int  # the most a run may take; early stopping usually ends it sooner
    seeds: tuple[int, ...]
    workers: int
    embedding_dim: int = 200
    hidden_size: int = 50
    batch_size: int = 64
    learning_rates: tuple[float, ...] = (1e-3, 2e-3, 4e-3)
    evaluations_per_epoch: int = 2
    patience: int = EARLY_STOPPING.patience  # evaluations without a better validation accuracy before a run stops
    max_sentences: int | None = None  # keep the first sentences of a long review...
    max_words: int | None = None  # ...and the first words of a long sentence
    limit: int | None = None  # smoke: the first reviews of each split only
    word2vec_epochs: int = 5  # gensim's default
    random_init_models: tuple[str, ...] = NEURAL  # the models also trained from random embeddings
    transfer_seeds: int = 5  # the first seeds, for the context-vector transfer runs


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
        learning_rates=(2e-3, 4e-3),
        evaluations_per_epoch=1,
        random_init_models=("HN-ATT",),
        transfer_seeds=1,
    ),
    "cpu": Scale(
        epochs=8,
        seeds=(0, 1, 2, 3, 4),
        workers=2,
        embedding_dim=100,  # these three chosen on validation: han_scale, han_calibration.json
        max_sentences=12,
        max_words=30,
        learning_rates=(2e-3, 4e-3),
        random_init_models=(),
        # one epoch without a better validation accuracy: 22% less training than 3, for 0.55 points of validation
        # accuracy on average (han_calibration.json, "patience")
        patience=2,
    ),
    "gpu": Scale(epochs=20, seeds=tuple(range(10)), workers=1, learning_rates=(5e-4, 1e-3, 2e-3, 4e-3)),
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
    short_at_most: int = 0  # the training reviews' median number of sentences: the short ones have no more

    def part(self, name: str, split: str) -> np.ndarray:
        """The indices of the `split` reviews in part `name` of PARTS."""
        sentences = np.array([len(d) for d in self.ids[split]])
        if name not in PARTS:
            raise ValueError(f"part={name!r}; choose one of {', '.join(PARTS)}")
        keep = {"all": sentences > 0, "short": sentences <= self.short_at_most, "long": sentences > self.short_at_most}
        return np.flatnonzero(keep[name])


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
    vectors = word2vec(words["train"], vocabulary, scale, seed)
    short_at_most = int(np.median([len(d) for d in words["train"]]))
    return Corpus(words, ids, labels, vocabulary, vectors, kept, identity, short_at_most)


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
    """One model from one seed, trained on the `part` of the reviews until early stopping (within `epochs`) and
    tested, on the same part, at its best validation evaluation. For HN-ATT, `context` says whether u_w is learned,
    frozen at `u_w` (taken from another model), or frozen at its random initialisation."""

    model: str
    embedding: str
    seed: int
    epochs: int
    batch_size: int
    learning_rate: float
    embedding_dim: int
    hidden_size: int
    evaluations_per_epoch: int = 1
    patience: int = EARLY_STOPPING.patience
    part: str = "all"
    context: str = "trained"
    u_w: tuple[float, ...] | None = None

    def __post_init__(self):
        if self.context not in CONTEXTS:
            raise ValueError(f"context={self.context!r}; choose one of {', '.join(CONTEXTS)}")
        if (self.context == "transferred") != (self.u_w is not None):
            raise ValueError("a transferred context needs its u_w, and only a transferred one takes one")
        if self.context != "trained" and self.model != "HN-ATT":
            raise ValueError(f"only HN-ATT has a word context vector to freeze, not {self.model}")

    @property
    def label(self) -> str:
        where = "" if self.part == "all" else f" {self.part} reviews, {self.context} u_w"
        return f"{self.model} {self.embedding}{where} lr {self.learning_rate:g} seed {self.seed}"

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
        # the short reviews took a third of the others' time in the last cpu build (10 s against 20–40 s a run)
        return 0.4 if self.part == "short" else 1.0

    def train(self, corpus: Corpus, device: torch.device) -> dict:
        seed_everything(self.seed)
        model = self.build(corpus).to(device)
        if self.embedding == "word2vec":
            with torch.no_grad():
                model.embed.weight.copy_(corpus.word2vec)
        if self.context != "trained":
            u_w = model.word_pool.attention.u_ctx
            if self.u_w is not None:
                with torch.no_grad():
                    u_w.copy_(torch.tensor(self.u_w))
            u_w.requires_grad_(False)
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=self.learning_rate)
        split = {name: corpus.part(self.part, name) for name in ("train", "valid", "test")}
        ids = {name: [corpus.ids[name][i] for i in index] for name, index in split.items()}
        labels = {name: corpus.labels[name][torch.from_numpy(index)] for name, index in split.items()}
        steps_per_evaluation = max(1, -(-len(ids["train"]) // self.batch_size) // self.evaluations_per_epoch)
        best = {"valid_accuracy": -1.0}

        def evaluate():
            accuracy = scores(labels["valid"], predict(model, ids["valid"], device, weights=False)[0])["accuracy"]
            if accuracy > best["valid_accuracy"]:
                best.update(valid_accuracy=accuracy, state=copy.deepcopy(model.state_dict()))
            return {"valid_accuracy": accuracy}

        history = train(
            model,
            text.length_batches(ids["train"], labels["train"], self.batch_size, self.seed),
            steps=self.epochs * self.evaluations_per_epoch * steps_per_evaluation,
            optimizer=optimizer,
            loss_fn=nn.functional.cross_entropy,
            device=device,
            evaluate=evaluate,
            eval_every=steps_per_evaluation,
            clip_norm=5.0,
            desc=self.label,
            progress=False,
            stop=EarlyStopping(patience=self.patience).stop,
        )
        model.load_state_dict(best["state"])
        predictions, word_weights, sentence_weights = predict(model, ids["test"], device)
        return runs.payload(
            model,
            history,
            {
                "best_valid_accuracy": best["valid_accuracy"],
                "predictions": torch.from_numpy(predictions),
                # flat, one tensor each: thousands of small ones cost seconds to save and load per run
                "word_weights": word_weights,
                "sentence_weights": sentence_weights,
                "words_per_sentence": torch.tensor([len(s) for d in ids["test"] for s in d]),
                "sentences_per_document": torch.tensor([len(d) for d in ids["test"]]),
                "test_index": torch.from_numpy(split["test"]),
                **scores(labels["test"], predictions),
            },
        )


def _spec(scale: Scale, model: str, embedding: str, seed: int, epochs: int, learning_rate: float, **part) -> RunSpec:
    return RunSpec(
        model,
        embedding,
        seed,
        epochs,
        scale.batch_size,
        learning_rate,
        scale.embedding_dim,
        scale.hidden_size,
        scale.evaluations_per_epoch,
        scale.patience,
        **part,
    )


def selection_plan(scale: Scale, seeds: list[int], epochs: int) -> list[RunSpec]:
    """HN-ATT from the first seed at each of the profile's learning rates: the choice is made on validation."""
    return [_spec(scale, "HN-ATT", "word2vec", seeds[0], epochs, rate) for rate in scale.learning_rates]


def chosen_learning_rate(selection: list[runs.TrainedRun]) -> float:
    """The learning rate whose run reached the best validation accuracy (the smaller one on a tie)."""
    best = max(selection, key=lambda r: (r.outputs["best_valid_accuracy"], -r.spec.learning_rate))
    return best.spec.learning_rate


def plan(scale: Scale, seeds: list[int], epochs: int, learning_rate: float) -> list[RunSpec]:
    """Every neural model from word2vec (the paper's setting), and `random_init_models` from random embeddings."""
    return [
        _spec(scale, m, e, s, epochs, learning_rate)
        for s in seeds
        for e in EMBEDDINGS
        for m in (NEURAL if e == "word2vec" else scale.random_init_models)
    ]


def transfer_sources(scale: Scale, seeds: list[int], epochs: int, learning_rate: float) -> list[RunSpec]:
    """HN-ATT on the short reviews, from the first `transfer_seeds` seeds: where each transferred u_w comes from."""
    return [
        _spec(scale, "HN-ATT", "word2vec", s, epochs, learning_rate, part="short")
        for s in seeds[: scale.transfer_seeds]
    ]


def transfer_plan(sources: list[runs.TrainedRun]) -> list[RunSpec]:
    """For each source run, HN-ATT on the long reviews from the same seed three times: u_w trained there, u_w frozen
    at the source's, u_w frozen at its own random initialisation. All else is trained from scratch."""
    plans = []
    for source in sources:
        u_w = tuple(source.state_dict["word_pool.attention.u_ctx"].tolist())
        target = replace(source.spec, part="long")
        plans += [target, replace(target, context="transferred", u_w=u_w), replace(target, context="frozen")]
    return plans


def scores(y_true, y_pred) -> dict[str, float]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {
        "accuracy": float((y_true == y_pred).mean()),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", labels=range(len(CLASSES)))),
    }


@torch.no_grad()
def predict(model: nn.Module, documents, device, batch_size: int = 128, weights: bool = True):
    """Predicted labels and, with `weights`, the attention weights flat in document order: α_it of every real word
    (by document, sentence, word) and α_i of every real sentence, each None where the model has none
    (`attention_weights` splits them by document)."""
    model.eval()
    labels = np.empty(len(documents), dtype=np.int64)
    word_weights, sentence_weights = [None] * len(documents), [None] * len(documents)
    for index in text.by_length(documents, batch_size):
        x = text.pad([documents[i] for i in index]).to(device)
        if not weights:
            labels[index] = model(x).argmax(-1).cpu().numpy()
            continue
        logits, α_it, α_i = model.attend(x)
        labels[index] = logits.argmax(-1).cpu().numpy()
        real_words = x != text.PAD
        real_sentences = real_words.any(-1)
        if α_it is not None:
            for i, α in zip(index, α_it[real_words].cpu().split(real_words.flatten(1).sum(-1).tolist())):
                word_weights[i] = α
        if α_i is not None:
            for i, α in zip(index, α_i[real_sentences].cpu().split(real_sentences.sum(-1).tolist())):
                sentence_weights[i] = α
    flat = [None if w[0] is None else torch.cat(w) for w in (word_weights, sentence_weights)]
    return labels, *flat


def attention_weights(outputs: dict) -> tuple[list | None, list | None]:
    """A run's flat test weights (`predict`) split by document: per document a list of per-sentence arrays of
    α_it, and an array of α_i; None where the model has no such weights."""
    sentences = outputs["sentences_per_document"].tolist()
    words, by_document = None, None
    if outputs["word_weights"] is not None:
        per_sentence = outputs["word_weights"].split(outputs["words_per_sentence"].tolist())
        starts = np.cumsum([0, *sentences])
        words = [[a.numpy() for a in per_sentence[i:j]] for i, j in zip(starts[:-1], starts[1:])]
    if outputs["sentence_weights"] is not None:
        by_document = [a.numpy() for a in outputs["sentence_weights"].split(sentences)]
    return words, by_document


def _joined(documents: list[text.Document]) -> list[str]:
    return [" ".join(w for s in d for w in s) for d in documents]


def fit_bag_of_words(corpus: Corpus, *, tfidf: bool, ngrams: tuple[int, int]):
    """(vectorizer, logistic regression) on word counts (or TF-IDF), its inverse regularisation C picked on
    validation accuracy."""
    options = dict(tokenizer=str.split, token_pattern=None, lowercase=False, ngram_range=ngrams, min_df=2)
    vectorizer = TfidfVectorizer(sublinear_tf=True, **options) if tfidf else CountVectorizer(binary=True, **options)
    x_train = vectorizer.fit_transform(_joined(corpus.words["train"]))
    x_valid = vectorizer.transform(_joined(corpus.words["valid"]))
    y_train, y_valid = corpus.labels["train"].numpy(), corpus.labels["valid"].numpy()
    fits = [LogisticRegression(C=C, solver="liblinear").fit(x_train, y_train) for C in (0.1, 0.3, 1.0, 3.0, 10.0)]
    return vectorizer, max(fits, key=lambda f: (f.predict(x_valid) == y_valid).mean())


def bag_of_words(corpus: Corpus, *, tfidf: bool, ngrams: tuple[int, int]) -> dict:
    """`fit_bag_of_words`'s test predictions and scores."""
    vectorizer, model = fit_bag_of_words(corpus, tfidf=tfidf, ngrams=ngrams)
    predictions = model.predict(vectorizer.transform(_joined(corpus.words["test"])))
    return {"C": model.C, "predictions": predictions, **scores(corpus.labels["test"].numpy(), predictions)}


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


def table2(frame: pd.DataFrame, baselines: dict[str, dict], items: int) -> pd.DataFrame:
    """Accuracy and macro-F1 (%) per model, HN-ATT's difference to each with its interval (`gap`, on `items` test
    reviews), and the paper's row that answers ours with its numbers."""
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
    return pd.DataFrame(rows).set_index("model").fillna("")


def _row(name: str, accuracy: list[float], f1: list[float], difference: intervals.Interval | None) -> dict:
    paper_row, paper = PAPER_TABLE2.get(name, ("—", {}))
    return {
        "model": name,
        "accuracy (%)": mean_spread(accuracy, scale=100, digits=1),
        "macro-F1 (%)": mean_spread(f1, scale=100, digits=1),
        "HN-ATT − this (pp, 95 % interval)": "" if difference is None else difference.scaled(100).text(digits=1),
        "the paper's row": paper_row,
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
        for doc, (document, weights) in enumerate(zip(corpus.words["test"], attention_weights(r.outputs)[0])):
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
    """'HN-ATT', 'HN-ATT (random embeddings)' or 'HN-ATT long, transferred u_w': a model over its seeds, as the
    claims and tables name it."""
    spec = run.spec
    name = spec.model if spec.embedding == "word2vec" else f"{spec.model} ({spec.embedding} embeddings)"
    return name if spec.part == "all" else f"{name} {spec.part}, {spec.context} u_w"


def convergence_states(results: list[runs.TrainedRun]) -> dict[str, list[convergence.Convergence]]:
    """Model name → its EarlyStopping's answer for each of its runs (one per seed)."""
    judged: dict[str, list[convergence.Convergence]] = {}
    for r in results:
        judged.setdefault(run_name(r), []).append(EarlyStopping(patience=r.spec.patience).judge(r.history))
    return judged


def quantities(
    results: list[runs.TrainedRun],
    weights: pd.DataFrame,
    items: int,
    hits: pd.DataFrame,
    transfer: list[runs.TrainedRun],
) -> list[claims.Quantity]:
    """HN-ATT's test accuracy minus every other word2vec model's (points, `gap`); the context shifts of ln α and
    ln α·T on HN-ATT (`shift_interval`; more training is taken to sharpen them, as it sharpens the attention); its
    label-sentence hits over chance (`sentence_hits`); and on the long reviews, the accuracy of a u_w trained there
    minus a transferred one, and a transferred one minus one frozen at random (`transfer_plan`)."""
    accuracy: dict[str, list[float]] = {}
    for r in sorted([*results, *transfer], key=lambda r: r.spec.seed):
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
    measured.append(
        claims.of_model("label-sentence hits ÷ chance", intervals.mean(list(hits["ratio"])), "×", "HN-ATT", "higher")
    )
    long_items = len(transfer[0].outputs["predictions"]) if transfer else 0
    for a, b in (("trained", "transferred"), ("transferred", "frozen")):
        names = [f"HN-ATT long, {context} u_w" for context in (a, b)]
        if names[0] in accuracy and names[1] in accuracy:
            difference = gap(accuracy[names[0]], accuracy[names[1]], long_items).scaled(100)
            measured.append(claims.between(f"{a} − {b} u_w accuracy", difference, "pp", *names, "higher"))
    return measured


# ---- Sentence attention: does the heaviest sentence carry the label? ----------------------------


def sentence_log_odds(corpus: Corpus, vectorizer, model) -> list[np.ndarray]:
    """For each test review, each sentence's log-odds for the review's own label by a bag-of-words model
    (`fit_bag_of_words`, trained on whole training reviews) that reads that sentence alone."""
    documents = corpus.words["test"]
    towards_other = model.decision_function(vectorizer.transform([" ".join(s) for d in documents for s in d]))
    starts = np.cumsum([0] + [len(d) for d in documents])
    sign = np.where(corpus.labels["test"].numpy() == list(model.classes_).index(1), 1.0, -1.0)
    return [sign[i] * towards_other[starts[i] : starts[i + 1]] for i in range(len(documents))]


def sentence_hits(results: list[runs.TrainedRun], log_odds: list[np.ndarray]) -> pd.DataFrame:
    """Per HN-ATT run, over the test reviews of two or more sentences: how often the sentence with the largest α_i is
    the one that speaks most for the review's label (`log_odds`), against chance (the mean of 1/L over those
    reviews), their ratio, and the mean weight of the first and the last sentence relative to a uniform 1/L."""
    rows = []
    for r in results:
        chosen = [(α, odds) for α, odds in zip(attention_weights(r.outputs)[1], log_odds) if len(odds) > 1]
        hits = np.mean([np.argmax(α) == np.argmax(odds) for α, odds in chosen])
        chance = np.mean([1 / len(odds) for _, odds in chosen])
        rows.append(
            {
                "seed": r.spec.seed,
                "reviews": len(chosen),
                "hits": float(hits),
                "chance": float(chance),
                "ratio": float(hits / chance),
                "first sentence α·L": float(np.mean([α[0] * len(α) for α, _ in chosen])),
                "last sentence α·L": float(np.mean([α[-1] * len(α) for α, _ in chosen])),
            }
        )
    return pd.DataFrame(rows).set_index("seed")


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
