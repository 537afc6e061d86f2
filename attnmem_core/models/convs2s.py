"""ConvS2S: Gehring, Auli, Grangier, Yarats, Dauphin 2017, "Convolutional Sequence to Sequence Learning" (ICML).

Input (Sec. 3.1): word embeddings plus learned absolute position embeddings, e_j = w_j + p_j
on the source and g_i likewise on the target, either position table optional (the paper's
Table 4 removes them). A linear layer maps the embedding to the first block's channels.

Blocks (Sec. 3.2): a 1-D convolution of odd width k maps C_in channels to 2C channels
[A B], and the gated linear unit (Dauphin et al. 2017) halves them again,

    v([A B]) = A ⊗ σ(B),

then a residual connection adds the block's input (through a linear projection where
C ≠ C_in, as the authors' code does) and multiplies the sum by √0.5 (Sec. 3.4). Encoder
convolutions are centred, with zero padding at both ends (and padded source tokens zeroed
before each convolution, so padding changes nothing). Decoder convolutions are causal: a
position sees itself and the k−1 positions before it, zeros before the first.

After the encoder blocks a linear layer maps back to the embedding size: z_j. Every chosen
decoder layer attends to the encoder (attention.multi_step). After the decoder blocks,
linear → dropout → linear gives the logits.

Normalisation and initialisation (Sec. 3.4–3.5, checked against the authors' code,
fairseq/models/fconv.py): embeddings N(0, 0.1²); weights N(0, (1−p)/n_in) for a layer whose
input is dropped out with probability p, and N(0, 4(1−p)/n_in) for a convolution feeding a
GLU (n_in = k·C_in; the gate roughly quarters the variance); biases 0. Every linear and
convolutional layer is weight-normalised (Salimans & Kingma 2016, w = g·v/‖v‖ per output
unit, g starting at ‖v‖). The gradient reaching the encoder through z is scaled by
1/(2·number of attending layers), since every one of them reads z; the source embeddings'
direct path into the values is not scaled. Dropout: on the embeddings, before every
convolution, and before the last linear layer.

The model offers the translators' interface: teacher-forced `forward`, `align` (attention
averaged over the attending layers, as the authors' code reports it) and
`encode`/`initial_state`/`step` for attnmem_core.decoding. The decoding state holds each
decoder layer's last k−1 inputs and the position reached, so a step costs O(1) in the
target length; teacher forcing is the same code run on all positions from the empty state.
Decoding inside `torch.nn.utils.parametrize.cached()` computes the weight-normalised weights
once instead of at every step (a third faster beam search at the cpu sizes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm

from attnmem_core.attention.multi_step import HALF, MultiStepAttention, encoder_memory


def _check_layers(name: str, layers: Sequence) -> list[tuple[int, int]]:
    if not layers:
        raise ValueError(f"{name} is empty; give at least one (channels, kernel width) pair")
    checked = []
    for i, spec in enumerate(layers):
        if len(spec) != 2:
            raise ValueError(f"{name}[{i}]={spec!r} is not a (channels, kernel width) pair")
        channels, kernel = spec
        if channels < 1:
            raise ValueError(f"{name}[{i}] has {channels} channels; it needs at least 1")
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(
                f"{name}[{i}] has kernel width {kernel}; it must be odd and at least 1 (3 in the paper), "
                "so that a window is centred on its token"
            )
        checked.append((int(channels), int(kernel)))
    return checked


def _linear(n_in: int, n_out: int, dropout: float = 0.0) -> nn.Linear:
    layer = nn.Linear(n_in, n_out)
    nn.init.normal_(layer.weight, std=math.sqrt((1 - dropout) / n_in))
    nn.init.zeros_(layer.bias)
    return layer


def _embedding(rows: int, size: int, pad_id: int | None) -> nn.Embedding:
    table = nn.Embedding(rows, size, padding_idx=pad_id)
    nn.init.normal_(table.weight, std=0.1)
    if pad_id is not None:
        table.weight.data[pad_id] = 0
    return table


def _scale_gradient(x: torch.Tensor, factor: float) -> torch.Tensor:
    """x in the forward pass (exactly); its gradient times `factor` in the backward pass."""
    return x.detach() + (x - x.detach()) * factor


class _Block(nn.Module):
    """Convolution C_in → 2C, GLU, residual: the part encoder and decoder blocks share."""

    def __init__(self, in_channels: int, channels: int, kernel: int, dropout: float):
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv1d(in_channels, 2 * channels, kernel)
        nn.init.normal_(self.conv.weight, std=math.sqrt(4 * (1 - dropout) / (kernel * in_channels)))
        nn.init.zeros_(self.conv.bias)
        self.project = _linear(in_channels, channels) if in_channels != channels else nn.Identity()
        self.dropout = nn.Dropout(dropout)

    def gated(self, window: torch.Tensor) -> torch.Tensor:
        """(B, T + k − 1, C_in) → GLU of the convolution without padding, (B, T, C)."""
        return F.glu(self.conv(window.transpose(1, 2)), dim=1).transpose(1, 2)


class EncoderBlock(_Block):
    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, Tx, C_in), mask (B, Tx) True on real tokens → (B, Tx, C)."""
        x_in = self.dropout(x.masked_fill(~mask.unsqueeze(-1), 0))
        side = self.kernel // 2
        return (self.gated(F.pad(x_in, (0, 0, side, side))) + self.project(x)) * HALF


class DecoderBlock(_Block):
    def __init__(self, in_channels: int, channels: int, kernel: int, dropout: float, embedding: int, attends: bool):
        super().__init__(in_channels, channels, kernel, dropout)
        self.attention = MultiStepAttention(channels, embedding) if attends else None

    def forward(self, x: torch.Tensor, past: torch.Tensor, g: torch.Tensor, memory: dict):
        """The next T positions x (B, T, C_in) after `past`, this block's last k−1 inputs (B, k−1, C_in).

        Returns (output (B, T, C), the last k−1 inputs now, attention (B, T, Tx) or None).
        """
        window = torch.cat((past, self.dropout(x)), 1)
        h = self.gated(window)
        a = None
        if self.attention is not None:
            h, a = self.attention(h, g, memory)
        return (h + self.project(x)) * HALF, window[:, window.shape[1] - past.shape[1] :], a


class ConvS2S(nn.Module):
    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        *,
        embedding: int = 512,
        encoder_layers: Sequence[tuple[int, int]] = ((512, 3),) * 20,
        decoder_layers: Sequence[tuple[int, int]] = ((512, 3),) * 20,
        out_embedding: int = 256,
        attention_layers: Sequence[int] | None = None,
        source_positions: bool = True,
        target_positions: bool = True,
        dropout: float = 0.1,
        max_len: int = 1024,
        pad_id: int = 0,
    ):
        """Layers are (channels, kernel width) pairs, bottom first; `attention_layers` are the indices of the decoder
        layers that attend (None: every layer, the paper's model). The defaults are the paper's WMT'16 En-Ro model."""
        super().__init__()
        encoder_layers = _check_layers("encoder_layers", encoder_layers)
        decoder_layers = _check_layers("decoder_layers", decoder_layers)
        attending = set(range(len(decoder_layers)) if attention_layers is None else attention_layers)
        if not attending or not attending <= set(range(len(decoder_layers))):
            raise ValueError(
                f"attention_layers={attention_layers!r}: give indices of decoder layers that exist, "
                f"0…{len(decoder_layers) - 1}, at least one"
            )
        self.pad_id, self.max_len = pad_id, max_len
        self.attention_layers = sorted(attending)
        self.encoder_gradient_scale = 1 / (2 * len(attending))

        self.E_x = _embedding(source_vocab, embedding, pad_id)
        self.E_y = _embedding(target_vocab, embedding, pad_id)
        self.P_x = _embedding(max_len, embedding, None) if source_positions else None
        self.P_y = _embedding(max_len, embedding, None) if target_positions else None
        self.dropout = nn.Dropout(dropout)

        self.encoder_in = _linear(embedding, encoder_layers[0][0], dropout)
        channels = [encoder_layers[0][0]] + [c for c, _ in encoder_layers]
        self.encoder = nn.ModuleList(
            EncoderBlock(c_in, c, k, dropout) for c_in, (c, k) in zip(channels, encoder_layers)
        )
        self.encoder_out = _linear(channels[-1], embedding)

        self.decoder_in = _linear(embedding, decoder_layers[0][0], dropout)
        channels = [decoder_layers[0][0]] + [c for c, _ in decoder_layers]
        self.decoder = nn.ModuleList(
            DecoderBlock(c_in, c, k, dropout, embedding, i in attending)
            for i, (c_in, (c, k)) in enumerate(zip(channels, decoder_layers))
        )
        self.decoder_out = _linear(channels[-1], out_embedding)
        self.W_o = _linear(out_embedding, target_vocab, dropout)

        for module in list(self.modules()):
            if isinstance(module, (nn.Linear, nn.Conv1d)):
                weight_norm(module)  # per output unit (dim 0), g = ‖v‖: the initial weights are unchanged

    def source_mask(self, source: torch.Tensor) -> torch.Tensor:
        mask = source != self.pad_id
        if not mask[:, 0].all():
            raise ValueError("every source sentence needs at least one token, padded at the end only")
        return mask

    def _embed(self, E: nn.Embedding, P: nn.Embedding | None, tokens: torch.Tensor, start: torch.Tensor):
        """Word plus position embeddings of tokens (B, T) at positions start (B,) onwards, then dropout."""
        x = E(tokens)
        if P is not None:
            end = int(start.max()) + tokens.shape[1]
            if end > self.max_len:
                raise ValueError(
                    f"learned position embeddings cover positions 0…{self.max_len - 1} "
                    f"(max_len={self.max_len}); got position {end - 1}"
                )
            x = x + P(start.unsqueeze(1) + torch.arange(tokens.shape[1], device=tokens.device))
        return self.dropout(x)

    def _decode(self, memory: dict, state: dict, target: torch.Tensor):
        """Logits for the target positions after those in `state`: (logits, new state, attention per attending
        layer, each (B, T, Tx))."""
        g = self._embed(self.E_y, self.P_y, target, state["position"])
        x = self.decoder_in(g)
        windows, maps = [], []
        for block, past in zip(self.decoder, state["windows"]):
            x, past, a = block(x, past, g, memory)
            windows.append(past)
            if a is not None:
                maps.append(a)
        logits = self.W_o(self.dropout(self.decoder_out(x)))
        return logits, {"windows": tuple(windows), "position": state["position"] + target.shape[1]}, maps

    # ---- the translator interface --------------------------------------------------------------

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, Ty, V): target_in is <bos> y_1 … y_{Ty−1}."""
        memory = self.encode(source)
        return self._decode(memory, self.initial_state(memory), target_in)[0]

    def attention_maps(self, source: torch.Tensor, target_in: torch.Tensor) -> dict[str, torch.Tensor]:
        """The attention of every attending layer, in the order of `attention_layers`, as "cross" (A, B, Ty, Tx), and
        the teacher-forced "logits" (B, Ty, V)."""
        memory = self.encode(source)
        logits, _, maps = self._decode(memory, self.initial_state(memory), target_in)
        return {"cross": torch.stack(maps), "logits": logits}

    def align(self, source: torch.Tensor, target_in: torch.Tensor):
        """(logits, attention averaged over the attending layers (B, Ty, Tx))."""
        maps = self.attention_maps(source, target_in)
        return maps["logits"], maps["cross"].mean(0)

    def encode(self, source: torch.Tensor) -> dict:
        """{"h": encoder outputs z (B, Tx, embedding), "values": (z + e)·√0.5, "mask" (B, Tx), "scale": √m (B, 1, 1)}.

        Padded positions of z are 0."""
        mask = self.source_mask(source)
        e = self._embed(self.E_x, self.P_x, source, source.new_zeros(len(source)))
        x = self.encoder_in(e)
        for block in self.encoder:
            x = block(x, mask)
        z = self.encoder_out(x).masked_fill(~mask.unsqueeze(-1), 0)
        return encoder_memory(_scale_gradient(z, self.encoder_gradient_scale), e, mask)

    def initial_state(self, memory: dict) -> dict:
        """Zeros for every decoder layer's k−1 earlier inputs (B, k−1, C_in), and position 0 (B,)."""
        h = memory["h"]
        windows = tuple(h.new_zeros(len(h), block.kernel - 1, block.conv.in_channels) for block in self.decoder)
        return {"windows": windows, "position": torch.zeros(len(h), dtype=torch.long, device=h.device)}

    def step(self, memory: dict, state: dict, y_prev: torch.Tensor):
        """One decoding step: (log p(y_i | ·) (B, V), the state one position on, mean attention (B, Tx))."""
        logits, state, maps = self._decode(memory, state, y_prev.unsqueeze(1))
        return torch.log_softmax(logits[:, 0].float(), -1), state, torch.stack(maps).mean(0)[:, 0]
