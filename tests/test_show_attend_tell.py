"""The Show-Attend-and-Tell captioner: shapes, the three variants' objectives, gradients, batching invariance,
and decoding through the shared step interface (step by step = teacher forcing, beam 1 = greedy)."""

import pytest
import torch

from attnmem_core import decoding
from attnmem_core.attention.visual import doubly_stochastic_penalty
from attnmem_core.models.show_attend_tell import VARIANTS, Captioner, CaptionLoss, Encoder

V, B, T, SIDE = 12, 4, 7, 32


def small(variant, **options):
    torch.manual_seed(0)
    return Captioner(
        V, variant=variant, annotation_size=8, widths=(4, 4, 4), embedding=6, hidden=10, attention=5, **options
    )


@pytest.fixture()
def batch():
    torch.manual_seed(1)
    images = torch.randint(0, 256, (B, 1, SIDE, SIDE), dtype=torch.uint8)
    captions = torch.randint(3, V, (B, T + 1))
    captions[:, 0] = 1
    captions[0, 5:] = 0  # a shorter caption, padded
    return images, captions


def test_the_encoder_gives_a_grid_of_annotations_and_classifies_single_items():
    encoder = Encoder(annotation_size=8, widths=(4, 4, 4))
    assert encoder(torch.zeros(2, 1, 64, 64, dtype=torch.uint8)).shape == (2, 64, 8)
    assert encoder(torch.zeros(2, 1, 112, 112)).shape == (2, 14 * 14, 8)  # the paper's 14×14 grid
    assert encoder.classify(torch.zeros(3, 28, 28, dtype=torch.uint8)).shape == (3, 10)


def test_a_bad_variant_names_the_allowed_ones():
    with pytest.raises(ValueError, match="'soft', 'hard', 'none'"):
        small("stochastic")
    with pytest.raises(ValueError, match="'soft', 'hard', 'none'"):
        CaptionLoss("deterministic")


def test_outputs_per_variant(batch):
    images, captions = batch
    for variant in VARIANTS:
        out = small(variant).eval()(images, captions[:, :-1])
        assert out.logits.shape == (B, T, V) and out.α.shape == (B, T, 16)
        assert torch.allclose(out.α.sum(-1), torch.ones(B, T))
        assert (out.β is not None) == (variant == "soft") and (out.entropy is not None) == (variant == "hard")
    soft = small("soft").eval()(images, captions[:, :-1])
    assert soft.β.shape == (B, T) and ((soft.β > 0) & (soft.β < 1)).all()
    assert torch.allclose(small("none")(images, captions[:, :-1]).α, torch.full((B, T, 16), 1 / 16))


def test_hard_attention_samples_on_a_minibatch_or_takes_the_expectation_never_at_evaluation(batch):
    images, captions = batch
    assert small("hard", expected_share=0.0).train()(images, captions[:, :-1]).log_p_samples.shape == (B, T)
    assert small("hard", expected_share=1.0).train()(images, captions[:, :-1]).log_p_samples is None
    assert small("hard", expected_share=0.0).eval()(images, captions[:, :-1]).log_p_samples is None


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradient_reaches_encoder_and_decoder(batch, variant):
    images, captions = batch
    model = small(variant, expected_share=0.0).train()
    CaptionLoss(variant)(model(images, captions[:, :-1]), captions[:, 1:]).backward()
    for name, p in model.named_parameters():
        if name.startswith("encoder.head"):
            assert p.grad is None  # the classifier head serves pre-training only
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_hard_attention_learns_only_through_reinforce_on_a_sampled_minibatch(batch):
    images, captions = batch
    model = small("hard", expected_share=0.0).train()
    loss = CaptionLoss("hard", entropy_bonus=0.0)
    out = model(images, captions[:, :-1])
    loss(out, captions[:, 1:])  # sets the baseline
    out = model(images, captions[:, :-1])
    nll_only = (
        (
            torch.nn.functional.cross_entropy(out.logits.transpose(1, 2), captions[:, 1:], reduction="none")
            * (captions[:, 1:] != 0)
        )
        .sum(1)
        .mean()
    )
    scores = model.decoder.attention.scores.v.weight
    assert torch.autograd.grad(nll_only, scores, retain_graph=True, allow_unused=True)[0] is None  # sampling cuts it
    assert torch.autograd.grad(loss(out, captions[:, 1:]), scores)[0].abs().sum() > 0


def test_soft_loss_is_the_caption_nll_plus_lambda_times_the_penalty(batch):
    images, captions = batch
    out = small("soft").eval()(images, captions[:, :-1])
    steps = captions[:, 1:] != 0
    nll = (
        torch.nn.functional.cross_entropy(out.logits.transpose(1, 2), captions[:, 1:], reduction="none") * steps
    ).sum(1)
    expected = (nll + 0.3 * doubly_stochastic_penalty(out.α, steps)).mean()
    assert torch.allclose(CaptionLoss("soft", regularizer=0.3)(out, captions[:, 1:]), expected)
    assert torch.allclose(CaptionLoss("soft", regularizer=0.0)(out, captions[:, 1:]), nll.mean())


def test_the_baseline_starts_at_the_first_mean_cost_then_moves_by_0_9_and_0_1(batch):
    images, captions = batch
    model, loss = small("hard", expected_share=0.0).train(), CaptionLoss("hard", credit="caption")
    costs = []
    for _ in range(3):
        out = model(images, captions[:, :-1])
        loss(out, captions[:, 1:])
        nll = torch.nn.functional.cross_entropy(out.logits.detach().transpose(1, 2), captions[:, 1:], reduction="none")
        costs.append(float((nll * (captions[:, 1:] != 0)).sum(1).mean()))
    b = costs[0]
    for c in costs[1:]:
        b = 0.9 * b + 0.1 * c
    assert loss.baseline == pytest.approx(b, rel=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_batch_is_scored_as_each_image_alone(batch, variant):
    images, captions = batch
    model = small(variant).eval()
    with torch.no_grad():
        together = model(images, captions[:, :-1]).logits
        alone = torch.cat([model(images[i : i + 1], captions[i : i + 1, :-1]).logits for i in range(B)])
    assert torch.allclose(together, alone, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_step_by_step_decoding_equals_teacher_forcing(batch, variant):
    images, captions = batch
    model = small(variant).eval()
    with torch.no_grad():
        forced = model(images, captions[:, :-1])
        memory = model.encode(images)
        state = model.initial_state(memory)
        for t in range(T):
            log_p, state, α = model.step(memory, state, captions[:, t])
            assert torch.allclose(log_p, forced.logits[:, t].log_softmax(-1), atol=1e-5)
            assert torch.allclose(α, forced.α[:, t], atol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS)
def test_beam_one_is_greedy_on_images(batch, variant):
    images, _ = batch
    model = small(variant).eval()
    search = dict(bos_id=1, eos_id=2, max_length=9)
    greedy = decoding.greedy(model, images, **search)
    assert decoding.beam_search(model, images, beam=1, **search) == greedy
    assert all(len(c) <= 8 for c in greedy)


def test_word_credit_scales_each_words_own_cost_and_moves_the_baseline_on_sampled_minibatches_only(batch):
    images, captions = batch
    steps = captions[:, 1:] != 0
    loss = CaptionLoss("hard", credit="word", entropy_bonus=0.0)
    expected_minibatch = small("hard", expected_share=1.0).train()(images, captions[:, :-1])
    loss(expected_minibatch, captions[:, 1:])
    assert loss.baseline is None  # an expected-context minibatch leaves the baseline alone
    out = small("hard", expected_share=0.0).train()(images, captions[:, :-1])
    word_costs = torch.nn.functional.cross_entropy(out.logits.transpose(1, 2), captions[:, 1:], reduction="none")
    word_costs = (word_costs * steps).detach()
    log_p = out.log_p_samples
    gradient = torch.autograd.grad(loss(out, captions[:, 1:]), log_p)[0]
    b = float(word_costs.sum() / steps.sum())  # the first sampled minibatch sets it
    torch.testing.assert_close(gradient, 0.1 * (word_costs - b) * steps / B)
    assert loss.baseline == pytest.approx(b)
    with pytest.raises(ValueError, match="credit='sentence'; choose one of 'word', 'caption'"):
        CaptionLoss("hard", credit="sentence")


def test_hard_attention_reads_the_expected_the_argmax_or_a_sampled_location_at_test_time(batch):
    images, captions = batch
    model = small("hard").eval()
    with torch.no_grad():
        outputs = {}
        for locations in ("expected", "argmax", "sampled"):
            model.decoder.test_locations = locations
            torch.manual_seed(0)
            outputs[locations] = model(images, captions[:, :-1]).logits
        torch.manual_seed(0)
        assert torch.equal(model(images, captions[:, :-1]).logits, outputs["sampled"])  # seeded, repeatable
    assert not torch.allclose(outputs["expected"], outputs["argmax"])
    model.decoder.test_locations = "mode"
    with pytest.raises(ValueError, match="test_locations='mode'; choose one of sampled, expected, argmax"):
        model(images, captions[:, :-1])
