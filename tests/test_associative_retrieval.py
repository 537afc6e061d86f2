import re

import pytest
import torch

from attnmem_core.data.associative_retrieval import PAIRS, SPLIT_SIZES, answer, decode, encode, make_splits

FORMAT = re.compile(r"^([a-z][0-9]){4}\?\?[a-z]$")


@pytest.fixture(scope="module")
def splits():
    return make_splits()


def test_paper_sizes(splits):
    assert {k: len(v) for k, v in splits.items()} == {"train": 100_000, "valid": 10_000, "test": 20_000} == SPLIT_SIZES


def test_every_sequence_has_the_papers_format_and_a_determined_answer(splits):
    for split in splits.values():
        for i in range(0, len(split), 97):
            text = split.text(i)
            assert FORMAT.match(text), text
            keys = text[0 : 2 * PAIRS : 2]
            assert len(set(keys)) == PAIRS  # keys drawn without replacement
            assert keys.count(text[-1]) == 1  # the query names exactly one stored key
            assert answer(text) == int(split.y[i])  # the target is the query's value


def test_the_papers_example():
    assert answer("c9k8j3f1??c") == 9
    assert decode(encode("c9k8j3f1??c")) == "c9k8j3f1??c"
    with pytest.raises(ValueError, match="not among the stored keys"):
        answer("c9k8j3f1??z")
    with pytest.raises(ValueError, match="outside the task's vocabulary"):
        encode("C9")


def test_splits_repeat_from_the_seed_and_differ_between_seeds(splits):
    again = make_splits(sizes={"train": 100_000, "valid": 10, "test": 10})
    assert torch.equal(again["train"].x, splits["train"].x)
    other = make_splits(seed=1, sizes={"train": 100, "valid": 10, "test": 10})
    assert not torch.equal(other["train"].x, splits["train"].x[:100])


def test_values_and_queries_are_balanced(splits):
    y = splits["train"].y
    shares = torch.bincount(y, minlength=10).float() / len(y)
    assert shares.min() > 0.09 and shares.max() < 0.11
    x = splits["train"].x
    position = (x[:, 0 : 2 * PAIRS : 2] == x[:, -1:]).float().argmax(1)
    assert (torch.bincount(position).float() / len(y)).min() > 0.24


def test_test_set_barely_overlaps_training_set(splits):
    train = {splits["train"].text(i) for i in range(len(splits["train"]))}
    test = [splits["test"].text(i) for i in range(len(splits["test"]))]
    assert sum(t in train for t in test) < 5  # ~10^10 possible sequences


def test_hash_is_of_the_split_as_text(splits):
    import hashlib

    valid = splits["valid"]
    text = "".join(f"{valid.text(i)}\t{int(valid.y[i])}\n" for i in range(len(valid)))
    assert valid.sha256() == hashlib.sha256(text.encode()).hexdigest()
