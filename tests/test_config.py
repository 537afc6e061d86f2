import functools
import os

import nbformat
import papermill
import pytest
import torch

from attnmem_core.config import (
    check_count,
    check_device,
    check_folder,
    check_parameter_names,
    check_profile,
    check_seeds,
)
from attnmem_core.runner import REPO
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


PARAMETERS_CELL = 'profile = "cpu"        # smoke | cpu | gpu\nseeds = None\nsteps = None\ndata_dir = "data/cache"\n'


def test_a_misspelt_parameter_is_refused_naming_the_known_ones():
    # before: papermill only warned of `-p step 100` and the full default budget ran
    cells = ["", PARAMETERS_CELL, '# Parameters\nprofile = "smoke"\nstep = 100\n', "from attnmem_core import config"]
    with pytest.raises(
        ValueError,
        match="^'step' is not a parameter of this notebook \\(did you mean 'steps'\\?\\); "
        "it takes profile, seeds, steps, data_dir$",
    ):
        check_parameter_names(cells)
    with pytest.raises(ValueError, match="^'batch' is not a parameter of this notebook; it takes profile"):
        check_parameter_names(["", PARAMETERS_CELL, "# Parameters\nbatch = 8\n"])


def test_declared_parameters_and_a_run_without_injected_ones_pass():
    check_parameter_names(["", PARAMETERS_CELL, '# Parameters\nprofile = "smoke"\nsteps = 3\n', "x = 1"])
    check_parameter_names(["", PARAMETERS_CELL, "x = 1"])


def test_the_check_sees_what_papermill_injects(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(PARAMETERS_CELL)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("from attnmem_core import config\nconfig.check_parameter_names(In)")]
    nbformat.write(nb, tmp_path / "nb.ipynb")
    run = functools.partial(
        papermill.execute_notebook,
        tmp_path / "nb.ipynb",
        tmp_path / "out.ipynb",
        kernel_name="python3",
        progress_bar=False,
        cwd=str(REPO),
    )
    run(parameters={"profile": "smoke", "steps": 3})
    with pytest.raises(papermill.PapermillExecutionError, match="did you mean 'steps'"):
        run(parameters={"profile": "smoke", "step": 3})


def test_a_writable_folder_passes_and_nothing_is_left_behind(tmp_path):
    assert check_folder("results_dir", str(tmp_path / "a" / "b")) == str(tmp_path / "a" / "b")
    assert check_folder("results_dir", str(tmp_path)) == str(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_file_given_as_a_folder_is_refused():
    # before: NotADirectoryError: '/etc/passwd/debian', deep inside the data code
    with pytest.raises(
        ValueError,
        match="^data_dir='/etc/passwd' is not a folder \\(/etc/passwd is a file\\); pass a "
        "folder \\(it is made if missing\\)$",
    ):
        check_folder("data_dir", "/etc/passwd")
    with pytest.raises(ValueError, match="^data_dir='/etc/passwd/cache' is not a folder \\(/etc/passwd is a file\\)"):
        check_folder("data_dir", "/etc/passwd/cache")


@pytest.mark.parametrize("value", [None, "", 3])
def test_a_folder_must_be_a_path(value):
    with pytest.raises(ValueError, match="must be the path of a folder"):
        check_folder("results_dir", value)


def test_an_unwritable_folder_is_refused_before_any_work(tmp_path):
    # before: every model trained, then the first figure save failed
    with pytest.raises(
        ValueError,
        match="^results_dir='/proc/results' cannot be written \\(.*: /proc\\); pass a folder you can write to$",
    ):
        check_folder("results_dir", "/proc/results")  # /proc takes no file, even from root
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ValueError, match="cannot be written \\(Permission denied"):
            check_folder("results_dir", str(locked / "results"))
