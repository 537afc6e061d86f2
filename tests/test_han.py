"""Tokenization, batching, and the HAN models: masking (padding changes nothing) and the pooling variants."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnmem_core import intervals, training
from attnmem_core.data import text
from attnmem_core.experiments import han as experiments
from attnmem_core.models import han
from attnmem_core.models.bigru import BiGRU
from attnmem_core.models.length_groups import length_buckets

REVIEWS = [
    "I love this tea. It is great with milk! My kids love it too.",
    "Dr. Brown sent it late. The box was damaged and the taste was bad.",
    "Great price.<br /><br />Would buy again &amp; again",
    "no punctuation at all just words going on and on",
]


@pytest.fixture(scope="module")
def tokenize():
    return text.Tokenizer(REVIEWS)


def test_html_breaks_end_paragraphs_tags_go_and_entities_are_decoded():
    assert text.paragraphs('Nice.<br /><br />Try <a href="http://x">this one</a> &amp; that<p>End') == [
        "Nice.",
        "Try this one & that",
        "End",
    ]


def test_reviews_become_sentences_of_lowercased_words_with_punctuation(tokenize):
    assert tokenize(REVIEWS[0]) == [
        ["i", "love", "this", "tea", "."],
        ["it", "is", "great", "with", "milk", "!"],
        ["my", "kids", "love", "it", "too", "."],
    ]
    assert tokenize(REVIEWS[2]) == [["great", "price", "."], ["would", "buy", "again", "&", "again"]]


def test_a_review_without_a_sentence_boundary_is_one_sentence(tokenize):
    assert tokenize(REVIEWS[3]) == [REVIEWS[3].split()]


@pytest.mark.parametrize("review", ["", "   ", "<br /><br />", '<a href="http://x"></a>'])
def test_a_review_with_no_words_is_an_error(tokenize, review):
    with pytest.raises(text.EmptyReviewError, match="has no words once its HTML is stripped"):
        tokenize(review)


def test_the_vocabulary_keeps_words_seen_min_count_times_and_maps_the_rest_to_unk():
    documents = [[["good", "tea"], ["good"]], [["bad", "tea", "good"]]]
    vocabulary = text.Vocabulary(documents, min_count=2)
    assert vocabulary.words == ["<pad>", "<unk>", "good", "tea"]
    assert vocabulary.encode([["tea", "bad"], ["good", "coffee"]]) == [[3, text.UNK], [2, text.UNK]]


def test_pad_puts_padding_after_the_words_and_after_the_sentences():
    x = text.pad([[[5, 6], [7]], [[8, 9, 4], [2], [3]]])
    assert x.tolist() == [[[5, 6, 0], [7, 0, 0], [0, 0, 0]], [[8, 9, 4], [2, 0, 0], [3, 0, 0]]]


def test_pad_places_every_word_of_random_documents_where_a_loop_would():
    rng = np.random.default_rng(0)
    documents = [
        [rng.integers(2, 50, int(rng.integers(1, 9))).tolist() for _ in range(int(rng.integers(1, 6)))]
        for _ in range(20)
    ]
    x = text.pad(documents)
    expected = torch.zeros(20, max(map(len, documents)), max(len(s) for d in documents for s in d), dtype=torch.long)
    for i, document in enumerate(documents):
        for j, sentence in enumerate(document):
            expected[i, j, : len(sentence)] = torch.tensor(sentence)
    assert torch.equal(x, expected)


def test_length_batches_cover_every_document_once_per_epoch_grouped_by_length():
    rng = np.random.default_rng(0)
    documents = [[[1] * int(rng.integers(1, 9))] * int(rng.integers(1, 6)) for _ in range(50)]
    batches = text.by_length(documents, 8, np.random.default_rng(1))
    assert sorted(np.concatenate(batches).tolist()) == list(range(50))
    spans = [np.ptp([len(documents[i]) for i in b]) for b in batches]
    assert max(spans) <= 1  # 50 documents of 1–5 sentences in batches of 8: at most two lengths a batch
    assert [b.tolist() for b in text.by_length(documents, 8)] == [b.tolist() for b in text.by_length(documents, 8)]


def test_bigru_equals_torchs_bidirectional_gru_on_packed_sequences():
    torch.manual_seed(0)
    ours, reference = BiGRU(5, 3), torch.nn.GRU(5, 3, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(reference, f"{name}_l0").copy_(getattr(ours.forward_gru, f"{name}_l0"))
            getattr(reference, f"{name}_l0_reverse").copy_(getattr(ours.backward_gru, f"{name}_l0"))
    x, lengths = torch.randn(4, 7, 5, requires_grad=True), torch.tensor([7, 3, 1, 5])
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    expected = pad_packed_sequence(reference(packed)[0], batch_first=True, total_length=7)[0]
    output = ours(x, lengths)
    torch.testing.assert_close(output, expected)
    weights = torch.randn_like(output)
    (grad_ours,) = torch.autograd.grad((output * weights).sum(), x)
    (grad_reference,) = torch.autograd.grad((expected * weights).sum(), x)
    torch.testing.assert_close(grad_ours, grad_reference)
    assert grad_ours[2, 1:].abs().max() == 0  # nothing flows into the padding of the one-word row


def test_length_buckets_find_the_cheapest_grouping_by_length():
    """Against every split of the sorted distinct lengths into consecutive groups."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 9, 40)
    distinct = np.unique(lengths)

    def cost(groups):
        return sum(lengths[g].max() * (len(g) + 10) for g in groups)

    def splits(values):
        if len(values) == 0:
            yield []
        for k in range(1, len(values) + 1):
            for rest in splits(values[k:]):
                yield [values[:k], *rest]

    cheapest = min(cost([np.flatnonzero(np.isin(lengths, part)) for part in split]) for split in splits(distinct))
    groups = length_buckets(lengths, step_cost_in_rows=10)
    assert sorted(np.concatenate(groups).tolist()) == list(range(40)) and cost(groups) == cheapest
    assert len(groups) > 1 and len(length_buckets(lengths, step_cost_in_rows=float("inf"))) == 1


@pytest.mark.parametrize("name", list(han.MODELS))
def test_reading_rows_in_length_groups_changes_no_output_or_gradient(name):
    """Many small groups against one padded batch, in float64: the same logits, weights and gradients."""
    rng = np.random.default_rng(0)
    documents = [
        [rng.integers(1, 40, rng.integers(1, 12)).tolist() for _ in range(rng.integers(1, 7))] for _ in range(24)
    ]
    x, y = text.pad(documents), torch.from_numpy(rng.integers(0, 3, 24))
    torch.manual_seed(0)
    model = han.build(name, 40, 3, embedding_dim=6, hidden_size=4).double()
    results = []
    for step_cost in (float("inf"), 1.0):
        model.step_cost_in_rows = step_cost
        outputs = model.attend(x)
        loss = torch.nn.functional.cross_entropy(outputs[0], y)
        results.append((outputs, torch.autograd.grad(loss, list(model.parameters()))))
    lengths = (x != text.PAD).sum(-1)
    assert len(length_buckets(lengths[lengths > 0].numpy(), 1.0)) > 3  # the words of the sentences: many groups
    (one_batch, one_batch_gradients), (grouped, grouped_gradients) = results
    for ours, reference in zip(grouped, one_batch):
        if reference is not None:
            torch.testing.assert_close(ours, reference)
    for ours, reference in zip(grouped_gradients, one_batch_gradients):
        torch.testing.assert_close(ours, reference)


DOCUMENTS = [[[5, 6, 7], [8, 9]], [[3, 4, 5, 6, 7, 8], [9], [2, 3]], [[4]]]


def crop(t: torch.Tensor, shape) -> torch.Tensor:
    return t[tuple(slice(0, n) for n in shape)]


@pytest.mark.parametrize("name", list(han.MODELS))
def test_padding_and_batch_companions_change_nothing(name):
    """Logits and weights of a document are the same alone, beside other documents, and under extra padding."""
    torch.manual_seed(0)
    model = han.build(name, 12, 2, embedding_dim=8, hidden_size=4).eval()
    x = text.pad(DOCUMENTS)
    with torch.no_grad():
        together = model.attend(x)
        padded = model.attend(torch.nn.functional.pad(x, (0, 4, 0, 3)))  # 4 more words, 3 more sentences
        alone = [model.attend(text.pad([d])) for d in DOCUMENTS]
    for k, reference in enumerate(together):
        if reference is None:  # HN-MAX has no weights, the flat model no sentence weights
            continue
        torch.testing.assert_close(crop(padded[k], reference.shape), reference)
        for i, outputs in enumerate(alone):
            torch.testing.assert_close(outputs[k][0], crop(reference[i], outputs[k].shape[1:]))


@pytest.mark.parametrize("name", ["HN-ATT", "GRU-ATT (flat)"])
def test_attention_weights_sum_to_one_over_real_words_and_are_zero_on_padding(name):
    torch.manual_seed(0)
    x = text.pad(DOCUMENTS)
    _, α_words, α_sentences = han.build(name, 12, 2, embedding_dim=8, hidden_size=4).attend(x)
    assert (α_words[x == text.PAD] == 0).all()
    per_unit = α_words.sum(-1) if α_sentences is not None else α_words.sum((-1, -2))
    real = (x != text.PAD).any(-1) if α_sentences is not None else torch.ones(len(x), dtype=torch.bool)
    torch.testing.assert_close(per_unit[real], torch.ones(int(real.sum())))
    if α_sentences is not None:
        torch.testing.assert_close(α_sentences.sum(-1), torch.ones(len(x)))


@pytest.mark.parametrize("name", ["HN-ATT", "GRU-ATT (flat)", "HN-MAX"])
def test_predicted_weights_split_by_document_are_each_documents_own_weights(name):
    """predict's flat weights, batched and reordered by length, split back by attention_weights, equal the weights
    of each document scored alone; labels likewise, with and without the weights."""
    torch.manual_seed(0)
    model = han.build(name, 12, 2, embedding_dim=8, hidden_size=4).eval()
    labels, words, sentences = experiments.predict(model, DOCUMENTS, torch.device("cpu"), batch_size=2)
    outputs = {
        "word_weights": words,
        "sentence_weights": sentences,
        "words_per_sentence": torch.tensor([len(s) for d in DOCUMENTS for s in d]),
        "sentences_per_document": torch.tensor([len(d) for d in DOCUMENTS]),
    }
    by_document, by_sentence = experiments.attention_weights(outputs)
    assert experiments.predict(model, DOCUMENTS, torch.device("cpu"), weights=False)[0].tolist() == labels.tolist()
    for i, document in enumerate(DOCUMENTS):
        with torch.no_grad():
            logits, α_it, α_i = model.attend(text.pad([document]))
        assert labels[i] == int(logits.argmax())
        assert (α_it is None) == (by_document is None) and (α_i is None) == (by_sentence is None)
        if α_it is not None:
            for j, sentence in enumerate(document):
                np.testing.assert_allclose(by_document[i][j], α_it[0, j, : len(sentence)].numpy(), rtol=1e-5)
        if α_i is not None:
            np.testing.assert_allclose(by_sentence[i], α_i[0].numpy(), rtol=1e-5)


def test_average_pooling_is_the_masked_mean_and_max_pooling_the_masked_max():
    h = torch.tensor([[[1.0, -2.0], [3.0, 5.0], [100.0, 100.0]]])
    mask = torch.tensor([[True, True, False]])
    assert han.Pool("average", 2)(h, mask)[0].tolist() == [[2.0, 1.5]]
    assert han.Pool("max", 2)(h, mask)[0].tolist() == [[3.0, 5.0]]


def test_attention_with_a_zero_context_vector_is_hn_ave():
    """u_w = u_s = 0 scores every word and sentence alike, so the softmax is the uniform average."""
    torch.manual_seed(0)
    attend = han.build("HN-ATT", 12, 2, embedding_dim=8, hidden_size=4)
    average = han.build("HN-AVE", 12, 2, embedding_dim=8, hidden_size=4)
    average.load_state_dict(attend.state_dict(), strict=False)
    with torch.no_grad():
        attend.word_pool.attention.u_ctx.zero_()
        attend.sentence_pool.attention.u_ctx.zero_()
    x = text.pad(DOCUMENTS)
    torch.testing.assert_close(attend(x), average(x))


def test_an_unknown_model_or_pooling_names_the_choices():
    with pytest.raises(ValueError, match="choose one of HN-ATT, HN-AVE, HN-MAX, GRU-ATT"):
        han.build("HAN", 12, 2)
    with pytest.raises(ValueError, match="choose one of attention, average, max"):
        han.Pool("sum", 4)


def test_the_gap_is_welch_over_seeds_newcombe_for_one_seed_or_t_against_a_fixed_number():
    ours, other = [0.80, 0.82, 0.81], [0.78, 0.79, 0.80]
    assert experiments.gap(ours, other, 1000) == intervals.difference(ours, other)
    assert experiments.gap([0.8], [0.7], 1000) == intervals.rate_difference([0.8], [0.7], 1000)
    fixed = experiments.gap([0.80, 0.82], [0.80], 1000, deterministic=True)
    assert fixed == intervals.mean([0.80 - 0.80, 0.82 - 0.80]) and fixed.value == pytest.approx(0.01)


def test_context_shift_compares_each_word_with_itself_where_the_label_agrees_and_where_not():
    """'great' is always weighed more than 'bad'; only the agreeing context adds e^0.5 on top of each."""
    rng = np.random.default_rng(0)
    rows = [
        {
            "seed": 0,
            "word": w,
            "polarity": pol,
            "label": label,
            "α": float(np.exp(rng.normal() + base + (0.5 if (pol > 0) == (label == "great") else 0.0))),
        }
        for w, pol, base in [("great", 1, 1.0), ("bad", -1, -1.0)]
        for label in ("great", "other")
        for _ in range(300)
    ]
    shift = experiments.context_shift(pd.DataFrame(rows), "α").loc[0]
    assert shift["shift"] == pytest.approx(0.5, abs=0.15) and shift["p"] < 1e-6
    assert shift["agree"] == shift["disagree"] == 600
    no_context = pd.DataFrame(rows).assign(label=lambda f: f.label.sample(frac=1, random_state=0).to_numpy())
    assert experiments.context_shift(no_context, "α").loc[0, "p"] > 0.01


def test_the_shift_interval_is_t_over_seeds_or_welch_over_one_seeds_occurrences():
    rng = np.random.default_rng(0)
    rows = [
        {
            "seed": seed,
            "word": w,
            "polarity": pol,
            "label": label,
            "α": float(np.exp(rng.normal() + (0.5 if (pol > 0) == (label == "great") else 0.0))),
        }
        for seed in (0, 1, 2)
        for w, pol in [("great", 1), ("bad", -1)]
        for label in ("great", "other")
        for _ in range(50)
    ]
    weights = pd.DataFrame(rows)
    shifts = experiments.context_shift(weights, "α")["shift"]
    assert experiments.shift_interval(weights, "α") == intervals.mean(list(shifts))
    one = experiments.shift_interval(weights[weights.seed == 0], "α")
    assert one.value == pytest.approx(shifts[0]) and one.method == "Welch t, 100 + 100 occurrences"


def test_early_stopping_stops_after_patience_evaluations_without_a_better_accuracy_and_judges_so():
    rule = experiments.EarlyStopping(patience=2)
    history = [{"step": 10 * (k + 1), "valid_accuracy": a} for k, a in enumerate([0.6, 0.7, 0.7, 0.69])]
    assert [rule.stop(history[:n]) for n in range(1, 5)] == [False, False, False, True]  # a tie is no improvement
    assert rule.judge(history).converged and "best at update 20" in rule.judge(history).reason
    rising = rule.judge(history[:3])
    assert not rising.converged and rising.improvement == pytest.approx(0.7 / 0.6 - 1)
    assert rule.judge(history[:2]).reason == "only 2 evaluation(s) by update 20, too few for a patience of 2"


def test_training_ends_when_stop_says_so_after_an_evaluation():
    model = torch.nn.Linear(2, 2)
    batches = iter(lambda: (torch.randn(4, 2), torch.randint(0, 2, (4,))), None)
    history = training.train(
        model,
        batches,
        steps=100,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        loss_fn=torch.nn.functional.cross_entropy,
        device=torch.device("cpu"),
        evaluate=lambda: {"valid_accuracy": 0.5},
        eval_every=5,
        progress=False,
        stop=experiments.EarlyStopping(patience=3).stop,
    )
    assert [row["step"] for row in history] == [5, 10, 15, 20]


def test_the_flat_average_model_pools_its_states_uniformly():
    torch.manual_seed(0)
    model = han.build("GRU-AVE (flat)", 12, 2, embedding_dim=8, hidden_size=4)
    x = text.pad(DOCUMENTS)
    _, α, _ = model.attend(x)
    real = (x != text.PAD).flatten(1)
    uniform = (1 / real.sum(-1, keepdim=True)).expand_as(real)
    torch.testing.assert_close(α.flatten(1)[real], uniform[real])
    assert (α.flatten(1)[~real] == 0).all()


def _corpus(documents, labels):
    ids = {split: documents for split in ("train", "valid", "test")}
    return experiments.Corpus(
        words={split: [[[str(w) for w in s] for s in d] for d in documents] for split in ids},
        ids=ids,
        labels={split: torch.tensor(labels) for split in ids},
        vocabulary=text.Vocabulary([[["5", "6", "7", "8", "9"]]], 1),
        word2vec=torch.zeros(7, 8),
        kept=1.0,
        identity={},
        short_at_most=1,
    )


def test_a_transferred_context_vector_stays_frozen_and_the_parts_split_by_sentences():
    corpus = _corpus([[[2, 3]], [[4, 5], [6]], [[2], [3], [4]], [[5, 6]]], [0, 1, 0, 1])
    assert corpus.part("short", "train").tolist() == [0, 3] and corpus.part("long", "test").tolist() == [1, 2]
    u_w = tuple(float(v) for v in torch.linspace(-1, 1, 8))
    spec = experiments.RunSpec("HN-ATT", "random", 0, 2, 2, 1e-2, 8, 4, part="long", context="transferred", u_w=u_w)
    trained = spec.train(corpus, torch.device("cpu"))
    assert trained["state_dict"]["word_pool.attention.u_ctx"].tolist() == pytest.approx(list(u_w))
    assert len(trained["outputs"]["predictions"]) == 2 and trained["outputs"]["test_index"].tolist() == [1, 2]
    with pytest.raises(ValueError, match="only HN-ATT has a word context vector to freeze, not HN-AVE"):
        experiments.RunSpec("HN-AVE", "random", 0, 1, 2, 1e-2, 8, 4, context="frozen")
    with pytest.raises(ValueError, match="a transferred context needs its u_w"):
        experiments.RunSpec("HN-ATT", "random", 0, 1, 2, 1e-2, 8, 4, context="transferred")


def test_a_sentence_hits_when_the_heaviest_sentence_speaks_most_for_the_label():
    class Run:
        spec = experiments.RunSpec("HN-ATT", "word2vec", 3, 1, 2, 1e-3, 8, 4)
        outputs = {
            "word_weights": None,
            "sentence_weights": torch.tensor([0.7, 0.3, 0.2, 0.5, 0.3, 1.0]),
            "sentences_per_document": torch.tensor([2, 3, 1]),
        }

    log_odds = [
        np.array([2.0, -1.0]),
        np.array([0.5, 0.1, 3.0]),
        np.array([9.0]),
    ]  # the one-sentence review is left out
    row = experiments.sentence_hits([Run()], log_odds).loc[3]
    assert row["reviews"] == 2 and row["hits"] == 0.5 and row["chance"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert row["first sentence α·L"] == pytest.approx((0.7 * 2 + 0.2 * 3) / 2)
