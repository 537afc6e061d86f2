import pytest
import torch

from attnmem_core.config import check_count, check_device, check_profile, check_seeds
from attnmem_core.runtime import resolve_device, seed_everything


def test_profiles_named_in_the_error():
    assert check_profile("cpu") == "cpu"
    with pytest.raises(ValueError, match="'smoke', 'cpu', 'gpu'"):
        check_profile("fast")


@pytest.mark.parametrize("seeds, expected", [(None, [0, 1]), (3, [3]), ([4, 5], [4, 5]), ("0, 1,2", [0, 1, 2])])
def test_seeds_accepted_forms(seeds, expected):
    assert check_seeds(seeds, default=[0, 1]) == expected


@pytest.mark.parametrize("seeds", [1.5, "a", [1, "2"], [], True, [-1], [1, 1], "1.5"])
def test_seeds_rejected(seeds):
    with pytest.raises(ValueError, match="seeds"):
        check_seeds(seeds, default=[0])


@pytest.mark.parametrize("steps", [-1, 2.5, "10", True])
def test_step_counts_rejected(steps):
    with pytest.raises(ValueError, match="whole number >= 1"):
        check_count("steps", steps, minimum=1)


def test_step_count_none_means_profile_default():
    assert check_count("steps", None) is None
    assert check_count("steps", 7) == 7


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "", None, "CPU"])
def test_devices_rejected_with_allowed_values(device):
    with pytest.raises(ValueError, match="'auto', 'cpu', 'cuda', 'cuda:N', 'mps'"):
        check_device(device)


def test_auto_device_is_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no CUDA device"):
        resolve_device("cuda")


def test_seeding_repeats_torch_and_numpy():
    import numpy as np

    seed_everything(11)
    a = torch.randn(3), np.random.rand(3)
    seed_everything(11)
    b = torch.randn(3), np.random.rand(3)
    assert torch.equal(a[0], b[0]) and (a[1] == b[1]).all()
