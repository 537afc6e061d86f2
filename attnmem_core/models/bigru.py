"""A bidirectional GRU over padded batches, shared by the HAN encoders and the RNNsearch encoder.

h_t = [→h_t; ←h_t] (Bahdanau et al. 2015, Sec. 3.2; Yang et al. 2016, Eq. 1–4).
"""

from __future__ import annotations

import torch
from torch import nn


class BiGRU(nn.Module):
    """(n, T, d) with lengths (n,) ≥ 1 → (n, T, 2·hidden) = [→h_t; ←h_t], zeros past each length.

    Both directions run on the padded batch, which torch's fused CPU kernels handle several
    times faster than packed sequences. The backward GRU reads each sequence's real steps in
    reverse, with the padding left at the end, so in both directions padding only ever comes
    after the real steps and never changes their outputs.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.forward_gru = nn.GRU(input_size, hidden_size, batch_first=True)
        self.backward_gru = nn.GRU(input_size, hidden_size, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        n, T = x.shape[:2]
        t = torch.arange(T, device=x.device)
        real = t < lengths.unsqueeze(-1)  # (n, T)
        # t ↦ length−1−t on the real steps, t ↦ t on the padding; its own inverse
        flip = torch.where(real, lengths.unsqueeze(-1) - 1 - t, t)  # (n, T)
        # as rows of the flattened batch: index_select copies whole rows, several times faster than a gather
        rows = (flip + T * torch.arange(n, device=x.device).unsqueeze(-1)).flatten()

        def reverse(y):
            return y.reshape(n * T, -1).index_select(0, rows).view(n, T, -1)

        h_forward = self.forward_gru(x)[0]
        h_backward = reverse(self.backward_gru(reverse(x))[0])
        return torch.cat((h_forward, h_backward), -1) * real.unsqueeze(-1)
