"""Scenes of real Fashion-MNIST items: placement, sources, captions that agree with the boxes, the cache."""

import re

import numpy as np
import pytest
import torch

from attnmem_core.data import debian, fashion_mnist, scenes
from attnmem_core.data.scenes import SceneSettings
from attnmem_core.runner import REPO

CACHE = REPO / "data" / "cache"  # the notebooks' default data_dir: Fashion-MNIST is fetched once, reused
SPEC = fashion_mnist.source()
SETTINGS = SceneSettings()


@pytest.fixture(scope="module")
def data():
    return fashion_mnist.load(CACHE)


@pytest.fixture(scope="module")
def train_scenes(data):
    return scenes.compose(data.train_images, data.train_labels, 300, SETTINGS, seed=7)


def linked_data_dir(folder):
    """A data_dir whose unpacked package links to the shared cache's (the scenes cache is written under it)."""
    root = debian.package_root(folder, SPEC["debian"]["package"], SPEC["debian"]["version"])
    root.parent.mkdir(parents=True)
    root.symlink_to(debian.package_root(CACHE, SPEC["debian"]["package"], SPEC["debian"]["version"]))
    return folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return linked_data_dir(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def test_scenes(data_dir):
    return scenes.load_scenes(data_dir, "test", 200, SETTINGS, seed=3)


def crop(image: torch.Tensor, scale: int) -> np.ndarray:
    """The item as a scene draws it: cut to its non-zero pixels, enlarged `scale` times."""
    image = image.numpy()
    rows, cols = np.flatnonzero(image.any(1)), np.flatnonzero(image.any(0))
    cut = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return cut.repeat(scale, 0).repeat(scale, 1)


def check_scenes(found, images, labels, settings):
    """Every item is its source image at its box, inside the canvas, apart from the others; nothing else is drawn."""
    assert found.images.shape == (len(found), 1, settings.canvas, settings.canvas)
    assert found.images.dtype == torch.uint8
    for canvas, items in zip(found.images[:, 0].numpy(), found.items):
        assert settings.min_items <= len(items) <= settings.max_items
        assert len({item.source for item in items}) == len(items)
        drawn = np.zeros_like(canvas, dtype=bool)
        for item in items:
            x0, y0, x1, y1 = item.box
            assert 0 <= x0 < x1 <= settings.canvas and 0 <= y0 < y1 <= settings.canvas
            assert item.scale in settings.scale_choices and item.label == labels[item.source]
            assert np.array_equal(canvas[y0:y1, x0:x1], crop(images[item.source], item.scale))  # pixel identity
            drawn[y0:y1, x0:x1] = True
        assert not canvas[~drawn].any()
        for a in items:
            for b in items:
                if a is not b:  # separated by at least `gap` pixels along x or y
                    assert scenes._apart(a.box, b.box, settings.gap), (a, b)


def centre(box):
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


CENTRE_TRUTH = {
    "left": lambda a, b: a[0] < b[0],
    "right": lambda a, b: a[0] > b[0],
    "above": lambda a, b: a[1] < b[1],
    "below": lambda a, b: a[1] > b[1],
}


def check_captions(found):
    """Each reference names every item once, each item word's box is its item's, every relation and region is true."""
    side = found.settings.canvas
    for items, references, word_items, word_boxes in zip(
        found.items, found.references, found.word_items, found.word_boxes
    ):
        assert len(references) == found.settings.references
        assert len({tuple(words) for words in references}) == len(references)  # the references differ
        for words, tied, boxes in zip(references, word_items, word_boxes):
            assert len(words) == len(tied) == len(boxes) and set(words) <= set(scenes.VOCABULARY)
            parsed = scenes.parse(words)
            assert parsed["nouns"] == [t for t, k in enumerate(tied) if k >= 0]
            assert sorted(tied[t] for t in parsed["nouns"]) == list(range(len(items)))  # each item named once
            for t, (word, k, box) in enumerate(zip(words, tied, boxes)):
                if k >= 0:
                    assert word == items[k].noun and box == items[k].box
                else:
                    assert word not in fashion_mnist.CLASSES and box is None
            for s, relation, o in parsed["relations"]:
                assert scenes.holds(relation, boxes[s], boxes[o]), (words, relation)
                assert CENTRE_TRUTH[relation](centre(boxes[s]), centre(boxes[o])), (words, relation)
            assert len(parsed["relations"]) == len(items) - 1  # a tree over the items
            for t, region in parsed["regions"]:
                cx, cy = centre(boxes[t])
                assert {
                    "left": cx < side / 3,
                    "right": cx > 2 * side / 3,
                    "top": cy < side / 3,
                    "bottom": cy > 2 * side / 3,
                    "middle": side / 3 <= min(cx, cy) and max(cx, cy) <= 2 * side / 3,
                }[region], words


def test_train_scenes_are_train_items_in_place_and_captioned_truly(train_scenes, data):
    check_scenes(train_scenes, data.train_images, data.train_labels, SETTINGS)
    check_captions(train_scenes)
    assert {len(items) for items in train_scenes.items} == {1, 2, 3, 4}
    words = {w for refs in train_scenes.references for ref in refs for w in ref}
    assert {"which", "and", "left", "right", "above", "below", "over", "under", "beneath", "middle"} <= words


def test_test_scenes_are_test_items_only(test_scenes, data):
    assert test_scenes.split == "test" and len(test_scenes) == 200
    check_scenes(test_scenes, data.test_images, data.test_labels, SETTINGS)
    check_captions(test_scenes)
    assert max(item.source for items in test_scenes.items for item in items) < 10_000


def test_train_scenes_from_the_cache_are_train_items(data_dir, data):
    found = scenes.load_scenes(data_dir, "train", 60, SETTINGS, seed=3)
    assert found.split == "train"
    check_scenes(found, data.train_images, data.train_labels, SETTINGS)
    check_captions(found)


def test_a_seed_fixes_the_scenes_and_a_shorter_set_is_a_prefix(train_scenes, data):
    again = scenes.compose(data.train_images, data.train_labels, 40, SETTINGS, seed=7)
    assert torch.equal(again.images, train_scenes.images[:40])
    assert again.items == train_scenes.items[:40] and again.references == train_scenes.references[:40]
    assert again.word_items == train_scenes.word_items[:40]
    other = scenes.compose(data.train_images, data.train_labels, 40, SETTINGS, seed=8)
    assert not torch.equal(other.images, again.images) and other.references != again.references


def test_enlarged_items_on_a_larger_canvas(data):
    settings = SceneSettings(canvas=128, min_items=3, max_items=4, scale_choices=(1, 2), references=3, gap=3)
    found = scenes.compose(data.test_images, data.test_labels, 60, settings, seed=1)
    check_scenes(found, data.test_images, data.test_labels, settings)
    check_captions(found)
    assert {item.scale for items in found.items for item in items} == {1, 2}
    assert {len(items) for items in found.items} == {3, 4}


def test_single_items_get_five_different_references(data):
    settings = SceneSettings(min_items=1, max_items=1)
    found = scenes.compose(data.train_images, data.train_labels, 50, settings, seed=2)
    check_scenes(found, data.train_images, data.train_labels, settings)
    check_captions(found)
    assert any(parsed["regions"] for refs in found.references for parsed in map(scenes.parse, refs))


def test_the_grid_places_the_items_when_random_places_keep_failing(data, monkeypatch):
    monkeypatch.setattr(scenes, "PLACE_TRIES", 0)  # every random place fails: the fallback grid is used
    settings = SceneSettings(min_items=4, max_items=4)
    found = scenes.compose(data.train_images, data.train_labels, 30, settings, seed=5)
    check_scenes(found, data.train_images, data.train_labels, settings)
    check_captions(found)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"min_items": 0}, "item counts out of range: need 1 <= min_items <= max_items <= 4, got min_items=0"),
        ({"max_items": 5}, "item counts out of range.*max_items=5"),
        ({"min_items": 3, "max_items": 2}, "item counts out of range"),
        ({"canvas": 56}, "canvas 56 is too small: it holds 1 item.*max_items=4 needs a canvas of at least 58"),
        ({"canvas": 64, "scale_choices": (1, 2), "max_items": 2}, "canvas 64 is too small.*at least 114"),
        ({"canvas": 20, "max_items": 1}, "canvas 20 is too small: it holds 0 item"),
        ({"scale_choices": ()}, "scale_choices must be a non-empty tuple of integers >= 1"),
        ({"scale_choices": (0,)}, "scale_choices must be"),
        ({"references": 0}, "references must be 1-5"),
        ({"references": 6}, "references must be 1-5"),
        ({"gap": 0}, "gap must be at least 1"),
        ({"canvas": "64"}, "canvas must be an integer"),
        ({"canvs": 64}, r"unknown scene setting\(s\) \['canvs'\]; the settings are canvas, min_items"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_fetched_or_written(values, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        SceneSettings.from_dict(values)
    with pytest.raises(ValueError, match=message):
        scenes.load_scenes(tmp_path, "train", 10, values)
    assert list(tmp_path.iterdir()) == []


def test_bad_requests_are_refused(tmp_path, data):
    for args, message in [
        (("valid", 10), "unknown split 'valid'; scenes come in train, test"),
        (("train", 0), "count must be a positive integer, got 0"),
        (("test", 2.5), "count must be a positive integer"),
    ]:
        with pytest.raises(ValueError, match=message):
            scenes.load_scenes(tmp_path, *args)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        scenes.load_scenes(tmp_path, "train", 10, seed=-1)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"images must be \(M, 28, 28\) uint8"):
        scenes.compose(data.test_images.float(), data.test_labels, 5)
    with pytest.raises(ValueError, match="3 source images cannot fill a scene of 4 items"):
        scenes.compose(data.test_images[:3], data.test_labels[:3], 5)


def test_parse_refuses_what_the_grammar_does_not_make():
    parsed = scenes.parse("a bag on the left of a coat and a boot".split())
    assert parsed["relations"] == [(1, "left", 7), (1, "left", 10)]
    assert scenes.parse("one bag on the left".split())["regions"] == [(1, "left")]
    for caption in [
        "a bag left of",
        "a hat",
        "one bag left of a coat",
        "a bag a coat",
        "a bag left of a coat is above a boot",
        "a bag on the left and a coat",
    ]:
        with pytest.raises(ValueError):
            scenes.parse(caption.split())


def test_the_cache_is_written_once_and_reused(data_dir, test_scenes, monkeypatch):
    path = scenes.cache_path(data_dir, "test", 200, SETTINGS, 3)
    assert path.is_file() and path.name.startswith("test-200-seed3-c64-")
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith("test-200")) == [path.name]
    stamp = path.stat().st_mtime_ns, path.stat().st_ino

    def forbidden(*args, **kwargs):
        raise AssertionError("the cached scenes should have been read, not composed again")

    monkeypatch.setattr(scenes, "compose", forbidden)
    monkeypatch.setattr(fashion_mnist, "load", forbidden)
    again = scenes.load_scenes(data_dir, "test", 200, SETTINGS.as_dict(), seed=3)  # the same settings as a dict
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == stamp
    assert torch.equal(again.images, test_scenes.images) and again.items == test_scenes.items
    assert again.references == test_scenes.references and again.word_boxes == test_scenes.word_boxes
    for other in [
        scenes.cache_path(data_dir, "test", 200, SETTINGS, 4),
        scenes.cache_path(data_dir, "train", 200, SETTINGS, 3),
        scenes.cache_path(data_dir, "test", 200, SceneSettings(references=4), 3),
    ]:
        assert other != path


def test_a_failure_while_composing_or_writing_leaves_no_file(tmp_path, data, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "load", lambda data_dir: data)
    calls = []

    def fail_on_the_third_scene(*args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("interrupted")
        return real_references(*args)

    real_references = scenes._references
    monkeypatch.setattr(scenes, "_references", fail_on_the_third_scene)
    with pytest.raises(RuntimeError, match="interrupted"):
        scenes.load_scenes(tmp_path, "train", 10)
    assert not (tmp_path / "scenes").exists() or list((tmp_path / "scenes").iterdir()) == []
    monkeypatch.setattr(scenes, "_references", real_references)

    def half_written(file, **arrays):
        file.write(b"PK\x03\x04 half a zip file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", half_written)
    with pytest.raises(OSError, match="disk full"):
        scenes.load_scenes(tmp_path, "train", 10)
    assert list((tmp_path / "scenes").iterdir()) == []  # no temporary file left either


def test_a_damaged_or_foreign_cache_file_is_refused_naming_it(data_dir, test_scenes, tmp_path):
    path = scenes.cache_path(tmp_path, "test", 200, SETTINGS, 3)
    path.parent.mkdir(parents=True)
    path.write_bytes(scenes.cache_path(data_dir, "test", 200, SETTINGS, 3).read_bytes()[:5000])
    with pytest.raises(debian.DataSourceError, match=f"{re.escape(str(path))} is damaged .*delete"):
        scenes.load_scenes(tmp_path, "test", 200, SETTINGS, seed=3)
    foreign = scenes.cache_path(tmp_path, "test", 200, SETTINGS, 9)
    foreign.write_bytes(scenes.cache_path(data_dir, "test", 200, SETTINGS, 3).read_bytes())
    with pytest.raises(debian.DataSourceError, match=f"{re.escape(str(foreign))} was built with other settings"):
        scenes.load_scenes(tmp_path, "test", 200, SETTINGS, seed=9)


def test_an_image_edited_in_the_cache_is_refused(data_dir, test_scenes, tmp_path):
    # a valid .npz with one pixel changed: the zip checksums hold, only the stored sha256 can tell
    path = scenes.cache_path(tmp_path, "test", 200, SETTINGS, 3)
    path.parent.mkdir(parents=True)
    with np.load(scenes.cache_path(data_dir, "test", 200, SETTINGS, 3)) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["images"][0, 0, 0, 0] ^= 0xFF
    np.savez_compressed(path, **arrays)
    with pytest.raises(
        debian.DataSourceError,
        match=f"{re.escape(str(path))} is damaged \\(ValueError: its arrays "
        "have sha256 [0-9a-f]{64}, the file says [0-9a-f]{64}\\); delete",
    ):
        scenes.load_scenes(tmp_path, "test", 200, SETTINGS, seed=3)
