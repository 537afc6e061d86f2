import pytest
import torch

from attnmem_core.data.associative_retrieval import VALUES, VOCAB, make_splits
from attnmem_core.models.fast_weights import MODELS, build_retrieval_model


@pytest.mark.parametrize("kind", MODELS)
def test_every_model_maps_tokens_to_digit_logits_and_learns(kind):
    torch.manual_seed(0)
    model = build_retrieval_model(kind, 20, len(VOCAB), len(VALUES))
    x, y = make_splits()["train"].x[:64], make_splits()["train"].y[:64]
    assert model(x).shape == (64, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):  # memorising 64 sequences: the loss must fall
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_irnn_recurrent_weights_start_at_half_identity():
    model = build_retrieval_model("irnn", 7, len(VOCAB), len(VALUES))
    assert torch.equal(model.core.rnn.weight_hh_l0, 0.5 * torch.eye(7))


def test_options_only_for_fast_weights_and_unknown_models_named():
    assert build_retrieval_model("fw", 8, len(VOCAB), len(VALUES), lam=0.9).core.lam == 0.9
    with pytest.raises(ValueError, match="only apply to the fast-weights model"):
        build_retrieval_model("lstm", 8, len(VOCAB), len(VALUES), lam=0.9)
    with pytest.raises(ValueError, match="'irnn', 'lstm', 'alstm', 'fw'|irnn, lstm, alstm, fw"):
        build_retrieval_model("gru", 8, len(VOCAB), len(VALUES))
