"""Translation batches: every pair once per epoch, similar lengths together, within the token budget."""

import numpy as np
import pytest
import torch

from attnmem_core.data import pairs


def corpus(n=300, seed=0):
    rng = np.random.default_rng(seed)
    source = [list(rng.integers(4, 50, rng.integers(1, 30))) for _ in range(n)]
    target = [list(rng.integers(4, 50, rng.integers(1, 30))) for _ in range(n)]
    return pairs.with_markers(source, target, bos_id=1, eos_id=2)


def test_markers():
    source, target = pairs.with_markers([[5, 6]], [[7]], bos_id=1, eos_id=2)
    assert source == [[5, 6, 2]] and target == [[1, 7, 2]]


def test_an_epoch_holds_every_pair_once_within_the_budget():
    source, target = corpus()
    batches = pairs.length_batches(source, target, max_tokens=200, rng=np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(source)))
    for index in batches:
        longest = max(max(len(source[i]), len(target[i])) for i in index)
        assert longest * len(index) <= 200
    # cut from one sorted list: batches do not overlap in length
    ranges = sorted(
        (min(lengths), max(lengths))
        for lengths in ([max(len(source[i]), len(target[i])) for i in index] for index in batches)
    )
    assert all(high <= next_low for (_, high), (next_low, _) in zip(ranges, ranges[1:]))


def test_batches_shift_teacher_forcing_by_one():
    source, target = corpus(20)
    (x, y_in), y_out = next(pairs.training_batches(source, target, max_tokens=200, pad_id=0, seed=0))
    assert (y_in[:, 0] == 1).all()
    torch.testing.assert_close(y_in[:, 1:], y_out[:, :-1])
    assert ((y_out == 2).sum(-1) == 1).all()  # one <eos> per row, then padding only
    assert ((x == 2).sum(-1) == 1).all()


def test_epochs_differ_but_repeat_for_a_seed():
    source, target = corpus()
    first = [
        b[0][0] for b, _ in zip(pairs.training_batches(source, target, max_tokens=200, pad_id=0, seed=3), range(5))
    ]
    again = [
        b[0][0] for b, _ in zip(pairs.training_batches(source, target, max_tokens=200, pad_id=0, seed=3), range(5))
    ]
    assert all(torch.equal(a, b) for a, b in zip(first, again))


def test_a_pair_longer_than_the_budget_is_named():
    with pytest.raises(ValueError, match="max_tokens=5"):
        pairs.length_batches([[1] * 9], [[1] * 3], max_tokens=5, rng=np.random.default_rng(0))
