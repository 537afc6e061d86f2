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


def reference_pair(kind: str, hidden: int = 20, dtype=torch.float32):
    """The library's model and the frozen implementation before the speed-up, built from the same seed.

    Fast weights get the chapter's λ = 0.9, η = 0.5: at the default λ = 0.95 a float32 run is chaotic
    at the 1e-5 level (nudging one bias by 1e-7 moves the 30th loss by 3e-4), so no two implementations,
    however exact, could be compared there.
    """
    from benchmarks.fast_weights_reference import build_reference_model

    options = {"lam": 0.9, "eta": 0.5} if kind == "fw" else {}
    torch.manual_seed(0)
    now = build_retrieval_model(kind, hidden, len(VOCAB), len(VALUES), **options).to(dtype)
    torch.manual_seed(0)
    before = build_reference_model(kind, hidden, len(VOCAB), len(VALUES), **options).to(dtype)
    return now, before


@pytest.mark.parametrize("kind", MODELS)
def test_same_parameters_logits_and_gradients_as_before_the_speed_up(kind):
    now, before = reference_pair(kind, dtype=torch.float64)
    assert list(now.state_dict()) == list(before.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(now.state_dict().values(), before.state_dict().values()))
    x, y = make_splits()["train"].x[:32], make_splits()["train"].y[:32]
    logits, gradients = [], []
    for model in (now, before):
        out = model(x)
        logits.append(out)
        gradients.append(torch.autograd.grad(torch.nn.functional.cross_entropy(out, y), list(model.parameters())))
    torch.testing.assert_close(logits[0], logits[1], rtol=1e-10, atol=1e-12)
    for a, b in zip(*gradients):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind", MODELS)
def test_a_short_training_run_has_the_losses_of_before_the_speed_up(kind):
    """20 updates as the chapter trains (Adam 1e-3, clipping at 5), batches of 32, in float32."""
    losses = []
    train = make_splits()["train"]
    for model in reference_pair(kind):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        run = []
        for step in range(20):
            x, y = train.x[32 * step : 32 * (step + 1)], train.y[32 * step : 32 * (step + 1)]
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            run.append(loss.item())
        losses.append(run)
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)


@pytest.mark.parametrize("kind", ["fw", "lstm"])
@pytest.mark.parametrize("clip_norm", [5.0, 0.05])
def test_the_chapters_adam_takes_the_steps_of_plain_adam_with_clipping(kind, clip_norm):
    """20 updates as the chapter trains, with experiments.fast_weights.adam (fused, clipping itself) and with torch's
    default Adam after clip_grad_norm_; at 0.05 every update is clipped, at 5 (the chapter's) few are."""
    from attnmem_core.experiments.fast_weights import adam

    train, losses, parameters, norms = make_splits()["train"], [], [], []
    for lean in (True, False):
        model = reference_pair(kind)[0]
        optimizer = adam(model, 1e-3, clip_norm) if lean else torch.optim.Adam(model.parameters(), lr=1e-3)
        run = []
        for step in range(20):
            x, y = train.x[32 * step : 32 * (step + 1)], train.y[32 * step : 32 * (step + 1)]
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            if not lean:
                norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm).item())
            optimizer.step()
            run.append(loss.item())
        losses.append(run)
        parameters.append([p.detach().clone() for p in model.parameters()])
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)
    # Adam moves a parameter by at most about lr per update, 2e-2 in 20; where a gradient is near zero, m / √v turns
    # the two kernels' different roundings into differences of a few 1e-6 (6e-6 measured on an AVX-512 CPU), so the
    # bound is 1e-3 of that movement
    for a, b in zip(*parameters):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-3 * 20 * 1e-3)
    assert losses[0][-1] != losses[0][0]  # the parameters moved
    if clip_norm < 1:
        assert min(norms) > clip_norm  # every update was clipped


def test_the_chapters_adam_keeps_torchs_state():
    """A state dict of the chapter's Adam loads into torch's Adam: the same keys and shapes."""
    from attnmem_core.experiments.fast_weights import adam

    model = reference_pair("irnn")[0]
    optimizer = adam(model, 1e-3, 5.0)
    x, y = make_splits()["train"].x[:8], make_splits()["train"].y[:8]
    torch.nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    plain = torch.optim.Adam(model.parameters(), lr=1e-3)
    plain.load_state_dict(optimizer.state_dict())
    state = plain.state_dict()["state"]
    assert len(state) == len(list(model.parameters()))
    assert all(s["step"].item() == 1 and s["exp_avg"].abs().sum() > 0 for s in state.values())


def test_lstm_forget_bias_sets_the_forget_gate_and_leaves_the_rest_as_torch_draws_it():
    torch.manual_seed(0)
    plain = build_retrieval_model("lstm", 6, len(VOCAB), len(VALUES))
    torch.manual_seed(0)
    plus_one = build_retrieval_model("lstm", 6, len(VOCAB), len(VALUES), forget_bias=1.0)
    b_ih, b_hh = plus_one.core.rnn.bias_ih_l0, plus_one.core.rnn.bias_hh_l0
    assert torch.equal(b_ih[6:12], torch.ones(6)) and torch.equal(b_hh[6:12], torch.zeros(6))
    keep = torch.cat([torch.arange(0, 6), torch.arange(12, 24)])
    assert torch.equal(b_ih[keep], plain.core.rnn.bias_ih_l0[keep]) and torch.equal(
        b_hh[keep], plain.core.rnn.bias_hh_l0[keep]
    )
    with pytest.raises(ValueError, match=r"options \['forget_bias'\] only apply to the fast-weights model, not 'irnn'"):
        build_retrieval_model("irnn", 6, len(VOCAB), len(VALUES), forget_bias=1.0)
