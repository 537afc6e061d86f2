"""Every notebook checks its parameters before it fetches, trains or writes anything."""

import pytest

from attnmem_core.runner import NOTEBOOKS, NotebookFailed, run_notebook

# each notebook's own count parameter, besides the ones they all take
COUNTS = {
    "01_show_attend_tell.ipynb": "steps",
    "02_rnnsearch.ipynb": "steps",
    "03_han.ipynb": "epochs",
    "04_transformer.ipynb": "steps",
    "05_convs2s.ipynb": "steps",
    "06_fast_weights.ipynb": "steps",
}


def test_every_notebook_is_covered():
    assert sorted(nb.name for nb in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) == sorted(COUNTS)


@pytest.mark.parametrize("notebook", sorted(COUNTS))
@pytest.mark.parametrize(
    "bad, allowed",
    [
        ({"profile": "fast"}, "'smoke', 'cpu', 'gpu'"),
        ({"profile": "smoke", "COUNT": -5}, "whole number >= 1"),
        ({"profile": "smoke", "COUNT": 2.5}, "whole number >= 1"),
        ({"profile": "smoke", "seeds": "a,b"}, "give whole numbers"),
        ({"profile": "smoke", "device": "tpu"}, "'auto', 'cpu', 'cuda', 'cuda:N', 'mps'"),
        ({"profile": "smoke", "scheduler": "http://127.0.0.1:8787"}, "looks like the Dask dashboard's web address"),
        # before: papermill only warned, and the profile's whole budget ran
        ({"profile": "smoke", "MISSPELT": 100}, "is not a parameter of this notebook (did you mean 'COUNT'?)"),
        # before: NotADirectoryError deep in the data code; every model trained before the first figure save failed
        ({"profile": "smoke", "data_dir": "/etc/passwd"}, "data_dir='/etc/passwd' is not a folder"),
        ({"profile": "smoke", "results_dir": "/proc/results"}, "results_dir='/proc/results' cannot be written"),
    ],
)
def test_bad_parameters_fail_at_once_and_write_nothing(tmp_path, notebook, bad, allowed):
    count = COUNTS[notebook]
    bad = {count if k == "COUNT" else count[:-1] if k == "MISSPELT" else k: v for k, v in bad.items()}
    allowed = allowed.replace("COUNT", count)
    params = {"data_dir": str(tmp_path / "data"), "results_dir": str(tmp_path / "results"), **bad}
    with pytest.raises(NotebookFailed) as failure:
        run_notebook(NOTEBOOKS / notebook, tmp_path / "out", params)
    assert allowed in str(failure.value)
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()
    assert list((tmp_path / "out").iterdir()) == []
