"""RNNsearch and RNNencdec: the step interface equals training's teacher forcing; padding is inert."""

import pytest
import torch

from attnmem_core.models.rnnsearch import RNNencdec, RNNsearch

SIZES = dict(embedding=8, hidden=12, maxout=6)


def make(cls):
    torch.manual_seed(0)
    model = cls(30, 40, **SIZES, **({"alignment": 10} if cls is RNNsearch else {}))
    for p in model.parameters():  # the paper's tiny initial weights would make every test pass trivially
        torch.nn.init.normal_(p, std=0.3)
    return model.eval()


def batch():
    source = torch.randint(4, 30, (3, 7))
    source[1, 4:] = 0
    source[2, 1:] = 0
    target_in = torch.randint(4, 40, (3, 5))
    target_in[:, 0] = 1
    return source, target_in


@pytest.mark.parametrize("cls", [RNNsearch, RNNencdec])
def test_stepping_equals_teacher_forcing(cls):
    model, (source, target_in) = make(cls), batch()
    logits = model(source, target_in)
    memory = model.encode(source)
    s = model.initial_state(memory)
    for i in range(target_in.shape[1]):
        log_p, s, _ = model.step(memory, s, target_in[:, i])
        torch.testing.assert_close(log_p, torch.log_softmax(logits[:, i], -1))


@pytest.mark.parametrize("cls", [RNNsearch, RNNencdec])
def test_source_padding_changes_nothing(cls):
    model, (source, target_in) = make(cls), batch()
    wider = torch.cat((source, torch.zeros(3, 4, dtype=torch.long)), 1)
    torch.testing.assert_close(model(source, target_in), model(wider, target_in))
    alone = model(source[1:2, :4], target_in[1:2])
    torch.testing.assert_close(model(source, target_in)[1:2], alone)


def test_alignments_are_distributions_over_real_tokens():
    model, (source, target_in) = make(RNNsearch), batch()
    _, α = model.align(source, target_in)
    assert α.shape == (3, 5, 7)
    torch.testing.assert_close(α.sum(-1), torch.ones(3, 5))
    assert (α[1, :, 4:] == 0).all() and (α[2, :, 1:] == 0).all()


def test_rnnsearch_starts_from_the_first_backward_annotation():
    model, (source, _) = make(RNNsearch), batch()
    memory = model.encode(source)
    backward_first = memory["h"][:, 0, SIZES["hidden"] :]
    torch.testing.assert_close(model.initial_state(memory), torch.tanh(model.W_s(backward_first)))


@pytest.mark.parametrize("cls", [RNNsearch, RNNencdec])
def test_every_parameter_gets_a_gradient(cls):
    model, (source, target_in) = make(cls), batch()
    model(source, target_in).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_paper_initialisation():
    model = RNNsearch(30, 40, **SIZES, alignment=10)
    assert (model.attention.v_a.weight == 0).all()
    block = model.decoder.weight_hh.detach()[: SIZES["hidden"]]
    torch.testing.assert_close(block @ block.T, torch.eye(SIZES["hidden"]), atol=1e-5, rtol=0)
    assert (model.E_x.weight[0] == 0).all()


def test_a_source_that_starts_with_padding_is_refused():
    model, (source, target_in) = make(RNNsearch), batch()
    source[0, 0] = 0
    with pytest.raises(ValueError, match="at least one token"):
        model(source, target_in)
