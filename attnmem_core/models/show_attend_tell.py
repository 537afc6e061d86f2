"""The Show-Attend-and-Tell captioner: Xu et al. 2015, "Show, Attend and Tell" (ICML), Sec. 3.

Encoder (Sec. 3.1.1): a convolutional net whose last feature map is the annotation grid
a = {a_1..a_L}, a_i ∈ R^D (the paper: VGG's 14×14×512 conv5_4 map, pre-trained on
ImageNet and not fine-tuned). Here a small CNN of k convolution-pooling stages turns a
canvas of S×S pixels into an (S / 2^k)² grid; `Encoder.classify` pre-trains it on single
Fashion-MNIST items (the ImageNet analog) and the experiment freezes it, as the paper froze VGG.

Decoder (Sec. 3.1.2): an LSTM over the words, with

    h_0 = tanh(f_init,h(mean_i a_i)),  c_0 = tanh(f_init,c(mean_i a_i))
    ẑ_t = φ(a, h_{t−1})                                                (attention.visual, Eq. 4–6)
    h_t, c_t = LSTM([E y_{t−1}; ẑ_t], h_{t−1}, c_{t−1})                 (Eq. 1–3)
    p(y_t | a, y_<t) ∝ exp(L_o tanh(E y_{t−1} + L_h h_t + L_z ẑ_t))    (the deep output, Eq. 7; tanh as in
                                                                          the authors' code)

in three variants: "soft" (gated soft attention, Sec. 4.2), "hard" (sampled locations,
Sec. 4.1) and "none" (ẑ_t = mean_i a_i at every step: the same decoder without attention).

`CaptionLoss` is the training objective of each: the caption's −log p(y | a) summed over
its words, plus for soft λ Σ_i (1 − Σ_t α_ti)² (Eq. 14), and for hard the REINFORCE
estimator of Eq. 12 with a moving-average baseline and the entropy bonus 0.002 · H(α), in one
of two forms (`credit`):
  "word"     as the authors' released code trains it (arctic-captions, `capgen.py`, its default
             `RL_sumCost=False`): each sampled location s_t is credited with the cost of its own
             word, c_t = −log p(y_t), and the score-function term is scaled by 1/10; the baseline
             b ← 0.9 b + 0.1 · mean c_t moves only on sampled minibatches. (That code branch
             subtracts no baseline; a constant b changes the estimate's variance, not its mean.)
  "caption"  the whole caption's cost C credited to every location, unscaled, with b ← 0.9 b +
             0.1 · mean C moved on every minibatch (this replication's first version, kept as an
             ablation).
With probability 0.5 per minibatch (one draw per minibatch, as in the authors' code) the hard
model is trained on the expected context Σ_i α_ti a_i instead of a sample. At test time hard
attention reads `test_locations`: the expected context (the default, deterministic), a
sampled location, or the arg-max location.

`Captioner` offers teacher-forced `forward` and the step interface of
`attnmem_core.decoding` (`encode`, `initial_state`, `step`), whose "source" is a batch of images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from attnmem_core.attention.visual import (
    LOCATIONS,
    HardAttention,
    SoftAttention,
    doubly_stochastic_penalty,
    per_word_reinforce_surrogate,
    reinforce_surrogate,
)

VARIANTS = ("soft", "hard", "none")
CREDITS = ("word", "caption")
ITEM_SIDE = 28  # a Fashion-MNIST item, padded to...
PRETRAIN_SIDE = 32  # ...a side that every pooling level halves exactly


def check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"variant={variant!r} is not allowed; choose one of {', '.join(map(repr, VARIANTS))}")
    return variant


class Encoder(nn.Module):
    """Pixels (B, 1, S, S), integers 0-255 or floats in [0, 1], → annotations (B, L, D), L = (S / 2^len(widths))²."""

    def __init__(self, annotation_size: int = 64, widths: tuple[int, ...] = (16, 32, 64), classes: int = 10):
        super().__init__()
        layers, channels = [], 1
        for width in widths:
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = width
        layers += [nn.Conv2d(channels, annotation_size, 3, padding=1), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(annotation_size, classes)  # for pre-training only

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images if images.is_floating_point() else images.float() / 255.0
        return self.features(x).flatten(2).transpose(1, 2)

    def classify(self, items: torch.Tensor) -> torch.Tensor:
        """Class logits for single items (B, 28, 28): the pre-training task, from the mean annotation."""
        padding = (PRETRAIN_SIDE - ITEM_SIDE) // 2
        x = F.pad(items.unsqueeze(1).float() / 255.0, (padding,) * 4)
        return self.head(self(x).mean(1))


@dataclass
class Output:
    """What teacher forcing returns: logits (B, T, V), α (B, T, L); for soft β (B, T); for hard the entropy
    H(α_t) (B, T) and, on a sampled minibatch, log p(s_t) (B, T)."""

    logits: torch.Tensor
    α: torch.Tensor
    β: torch.Tensor | None = None
    log_p_samples: torch.Tensor | None = None
    entropy: torch.Tensor | None = None


class Decoder(nn.Module):
    """The LSTM decoder of Sec. 3.1.2 over annotations (B, L, D); `expected_share` is the probability per minibatch
    that hard attention trains on the expected context instead of a sample."""

    def __init__(
        self,
        vocab_size: int,
        annotation_size: int,
        *,
        variant: str,
        embedding: int = 64,
        hidden: int = 128,
        attention: int = 128,
        pad_id: int = 0,
        expected_share: float = 0.5,
    ):
        super().__init__()
        self.variant = check_variant(variant)
        self.expected_share = expected_share
        self.test_locations = "expected"  # what hard attention reads outside training: one of LOCATIONS
        self.E = nn.Embedding(vocab_size, embedding, padding_idx=pad_id)
        self.f_init_h = nn.Linear(annotation_size, hidden)
        self.f_init_c = nn.Linear(annotation_size, hidden)
        if variant == "soft":
            self.attention = SoftAttention(annotation_size, hidden, attention)
        elif variant == "hard":
            self.attention = HardAttention(annotation_size, hidden, attention)
        self.lstm = nn.LSTMCell(embedding + annotation_size, hidden)
        self.L_h = nn.Linear(hidden, embedding)
        self.L_z = nn.Linear(annotation_size, embedding, bias=False)
        self.L_o = nn.Linear(embedding, vocab_size)

    def memory(self, annotations: torch.Tensor) -> dict[str, torch.Tensor]:
        """What every step reads: the annotations, their mean, and W_a a_i for the attention variants."""
        memory = {"annotations": annotations, "mean": annotations.mean(1)}
        if self.variant != "none":
            memory["keys"] = self.attention.scores.keys(annotations)
        return memory

    def initial_state(self, memory: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tanh(self.f_init_h(memory["mean"])), torch.tanh(self.f_init_c(memory["mean"]))

    def recur(self, memory: dict, state, e: torch.Tensor, locations: str = "expected"):
        """The recurrence for one word embedding e = E y_{t−1}: (new state, ẑ_t, α_t, β_t or None, log p(s_t) or
        None, H(α_t) or None)."""
        h, c = state
        a = memory["annotations"]
        β = log_p = entropy = None
        if self.variant == "soft":
            z, α, β = self.attention(a, memory["keys"], h)
        elif self.variant == "hard":
            z, α, log_p, entropy = self.attention(a, memory["keys"], h, locations=locations)
        else:
            z, α = memory["mean"], a.new_full(a.shape[:2], 1.0 / a.shape[1])
        return self.lstm(torch.cat((e, z), -1), (h, c)), z, α, β, log_p, entropy

    def output(self, e: torch.Tensor, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The deep output's logits (Eq. 7), for one step or for all steps at once."""
        return self.L_o(torch.tanh(e + self.L_h(h) + self.L_z(z)))

    def step(self, memory: dict, state, y_prev: torch.Tensor):
        """The decoding interface: log p(y_t | y_<t, a) (B, V), the new state, α_t (B, L)."""
        e = self.E(y_prev)
        state, z, α, *_ = self.recur(memory, state, e, self._locations())
        return torch.log_softmax(self.output(e, state[0], z), -1), state, α

    def _locations(self) -> str:
        if self.test_locations not in LOCATIONS:
            raise ValueError(f"test_locations={self.test_locations!r}; choose one of {', '.join(LOCATIONS)}")
        return self.test_locations

    def forward(self, annotations: torch.Tensor, captions_in: torch.Tensor) -> Output:
        """Teacher forcing over captions_in (B, T) = <bos> y_1 … y_{T−1}."""
        memory = self.memory(annotations)
        state = self.initial_state(memory)
        # one draw per minibatch: a sampled location at every word, or the expected context throughout
        locations = self._locations()
        if self.variant == "hard" and self.training:
            locations = "sampled" if torch.rand(()).item() >= self.expected_share else "expected"
        embedded = self.E(captions_in)
        steps = []
        for t in range(captions_in.shape[1]):
            state, z, α, β, log_p, entropy = self.recur(memory, state, embedded[:, t], locations)
            steps.append((state[0], z, α, None if β is None else β.squeeze(-1), log_p, entropy))
        h, z, *rest = (None if parts[0] is None else torch.stack(parts, 1) for parts in zip(*steps))
        return Output(self.output(embedded, h, z), *rest)  # the output layer once over all steps: faster


class Captioner(nn.Module):
    """Encoder + decoder; the encoder can be frozen (the paper's setting) and the decoder trained alone."""

    def __init__(
        self,
        vocab_size: int,
        *,
        variant: str,
        annotation_size: int = 64,
        widths: tuple[int, ...] = (16, 32, 64),
        **decoder,
    ):
        super().__init__()
        self.encoder = Encoder(annotation_size, widths)
        self.decoder = Decoder(vocab_size, annotation_size, variant=variant, **decoder)

    def forward(self, images: torch.Tensor, captions_in: torch.Tensor) -> Output:
        return self.decoder(self.encoder(images), captions_in)

    def encode(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The decoder's memory for images (B, 1, S, S)."""
        return self.decoder.memory(self.encoder(images))

    def initial_state(self, memory: dict):
        return self.decoder.initial_state(memory)

    def step(self, memory: dict, state, y_prev: torch.Tensor):
        return self.decoder.step(memory, state, y_prev)


class CaptionLoss:
    """The training objective of each variant, averaged over the minibatch's captions.

    cost = −Σ_t log p(y_t | a, y_<t) over the caption's words (padding excluded), then
      soft: cost + λ Σ_i (1 − Σ_t α_ti)²                                        (Eq. 14)
      hard: on a sampled minibatch the REINFORCE surrogate of `credit` (module docstring), on
            an expected-context one only cost; minus 0.002 · Σ_t H(α_t)          (Eq. 12)
      none: cost
    The baseline b starts at the first mean cost it sees (not 0, which would make the first
    updates' advantage the whole cost) and moves as b ← 0.9 b + 0.1 · mean cost.
    """

    def __init__(
        self,
        variant: str,
        *,
        pad_id: int = 0,
        regularizer: float = 1.0,
        entropy_bonus: float = 0.002,
        baseline_decay: float = 0.9,
        credit: str = "word",
        reinforce_scale: float | None = None,  # None: 1/10 for word credit (the authors' code), 1 for caption
    ):
        self.variant = check_variant(variant)
        if credit not in CREDITS:
            raise ValueError(f"credit={credit!r}; choose one of {', '.join(map(repr, CREDITS))}")
        self.pad_id, self.regularizer, self.entropy_bonus = pad_id, regularizer, entropy_bonus
        self.baseline_decay, self.credit = baseline_decay, credit
        self.reinforce_scale = reinforce_scale if reinforce_scale is not None else {"word": 0.1, "caption": 1.0}[credit]
        self.baseline: float | None = None

    def __call__(self, output: Output, targets: torch.Tensor) -> torch.Tensor:
        steps = targets != self.pad_id
        word_costs = F.cross_entropy(output.logits.transpose(1, 2).float(), targets, reduction="none") * steps
        cost = word_costs.sum(1)
        loss = cost
        if self.variant == "soft" and self.regularizer:
            loss = loss + self.regularizer * doubly_stochastic_penalty(output.α, steps)
        if self.variant == "hard":
            sampled = output.log_p_samples is not None
            if self.credit == "word":
                mean_cost = (word_costs.sum() / steps.sum()).item()
                baseline = mean_cost if self.baseline is None else self.baseline
                if sampled:
                    log_p = output.log_p_samples * steps
                    loss = per_word_reinforce_surrogate(word_costs, log_p, baseline, self.reinforce_scale)
                    self._move_baseline(baseline, mean_cost)
            else:
                mean_cost = cost.mean().item()
                baseline = mean_cost if self.baseline is None else self.baseline
                if sampled:
                    log_p = (output.log_p_samples * steps).sum(1)
                    loss = reinforce_surrogate(cost, log_p, baseline, self.reinforce_scale)
                self._move_baseline(baseline, mean_cost)
            loss = loss - self.entropy_bonus * (output.entropy * steps).sum(1)
        return loss.mean()

    def _move_baseline(self, baseline: float, mean_cost: float) -> None:
        self.baseline = self.baseline_decay * baseline + (1 - self.baseline_decay) * mean_cost
