"""The cost of attention: memory saved for the backward pass, counted from autograd's own saved tensors."""

import torch

from attnmem_core.attention import cost


def test_saved_bytes_counts_each_saved_tensor_once():
    x = torch.randn(10, 20, requires_grad=True)  # 800 bytes
    assert cost.saved_bytes(lambda: (x * x).sum()) == 800  # x saved twice, one storage
    assert cost.saved_bytes(lambda: torch.tanh(x).sum()) == 800  # tanh keeps its output
    assert cost.saved_bytes(lambda: (x + 1).sum()) == 0


def test_additive_memory_grows_with_d_k_and_the_dot_products_does_not():
    small, large = (cost.measure(2, 2, 8, d_k, repeats=1).set_index("way")["saved MB"] for d_k in (4, 16))
    # the tanh of additive scores holds (B, h, T, T, d_k) numbers; the dot product's scores (B, h, T, T)
    assert large["additive"] / small["additive"] > 3
    assert large["dot, written out"] / small["dot, written out"] < 3
