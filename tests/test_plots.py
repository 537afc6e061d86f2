"""Saved figures: one file per name and profile, each appearing whole or not at all."""

import matplotlib.pyplot as plt
import pytest

from attnmem_core import plots


@pytest.fixture
def fig():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    yield fig
    plt.close(fig)


def test_figures_are_named_per_profile(tmp_path, fig):
    # before: smoke and cpu runs wrote the same figure files
    assert plots.save(fig, tmp_path, "06_curve", "smoke") == tmp_path / "figures" / "06_curve-smoke.png"
    plots.save(fig, tmp_path, "06_curve", "cpu")
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [
        "06_curve-cpu.png",
        "06_curve-cpu.svg",
        "06_curve-smoke.png",
        "06_curve-smoke.svg",
    ]
    assert (tmp_path / "figures" / "06_curve-cpu.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "figures" / "06_curve-cpu.svg").read_bytes()[:1000]


def test_a_failed_save_leaves_the_previous_figure_whole(tmp_path, fig, monkeypatch):
    path = plots.save(fig, tmp_path, "06_curve", "cpu")
    before = path.read_bytes()

    def fail_half_way(f, **kwargs):
        f.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", fail_half_way)
    with pytest.raises(OSError, match="disk full"):
        plots.save(fig, tmp_path, "06_curve", "cpu")
    assert path.read_bytes() == before
    assert [p.name for p in (tmp_path / "figures").iterdir() if p.name.startswith(".")] == []
