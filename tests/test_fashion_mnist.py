"""Fashion-MNIST from Debian's dataset-fashion-mnist: the IDX reader on the real package, and its failure modes."""

import gzip
import re

import numpy as np
import pytest
import torch
from torchvision.datasets.mnist import read_image_file, read_label_file

from attnmem_core.data import debian, fashion_mnist
from attnmem_core.runner import REPO

CACHE = REPO / "data" / "cache"  # the notebooks' default data_dir: fetched once, reused by later runs
SPEC = fashion_mnist.source()
PACKAGE = debian.package_root(CACHE, SPEC["debian"]["package"], SPEC["debian"]["version"])
TEST = SPEC["splits"]["test"]


@pytest.fixture(scope="module")
def data():
    return fashion_mnist.load(CACHE)


def idx(tmp_path, name, content: bytes, zipped=False):
    path = tmp_path / name
    path.write_bytes(gzip.compress(content, mtime=0) if zipped else content)
    return path


@pytest.fixture(scope="module")
def raw_labels():
    return gzip.decompress((PACKAGE / TEST["labels"]).read_bytes())


@pytest.fixture(scope="module")
def raw_images():
    return gzip.decompress((PACKAGE / TEST["images"]).read_bytes())


def test_the_splits_have_fashion_mnists_sizes_labels_and_balance(data):
    assert data.train_images.shape == (60_000, 28, 28) and data.test_images.shape == (10_000, 28, 28)
    assert data.train_images.dtype == data.test_images.dtype == torch.uint8
    assert data.train_labels.shape == (60_000,) and data.test_labels.shape == (10_000,)
    assert data.train_labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]  # first train item: an ankle boot
    assert data.test_labels[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert torch.bincount(data.train_labels).tolist() == [6_000] * 10
    assert torch.bincount(data.test_labels).tolist() == [1_000] * 10
    assert round(data.train_images.double().mean().item() / 255, 4) == 0.2860  # the published mean
    assert data.train_images.max() == 255 and (data.train_images.flatten(1).amax(1) > 0).all()
    assert data.sha256 == SPEC["files"] and len(SPEC["files"]) == 4
    assert fashion_mnist.CLASSES[9] == "boot" and all(c.isalpha() and c.islower() for c in fashion_mnist.CLASSES)
    assert data.split("test")[0] is data.test_images
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        data.split("valid")


def test_the_reader_agrees_with_torchvisions_on_the_uncompressed_files(data, tmp_path, raw_images, raw_labels):
    images, labels = idx(tmp_path, "images", raw_images), idx(tmp_path, "labels", raw_labels)
    assert torch.equal(read_image_file(str(images)), data.test_images)
    assert torch.equal(read_label_file(str(labels)), data.test_labels)
    assert torch.equal(fashion_mnist.read_images(images, 10_000), data.test_images)  # plain files read too


def test_a_wrong_magic_number_names_the_file(tmp_path, raw_labels):
    swapped = idx(tmp_path, "swapped.idx", b"\x00\x00\x08\x03" + raw_labels[4:])  # claims 3 dimensions
    with pytest.raises(
        fashion_mnist.IdxFormatError,
        match=f"{re.escape(str(swapped))} has magic number 0x00000803, expected 0x00000801",
    ):
        fashion_mnist.read_labels(swapped, 10_000)
    signed = idx(tmp_path, "signed.idx.gz", b"\x00\x00\x09\x01" + raw_labels[4:], zipped=True)
    with pytest.raises(fashion_mnist.IdxFormatError, match="signed.idx.gz has magic number 0x00000901"):
        fashion_mnist.read_labels(signed, 10_000)
    text = idx(tmp_path, "notes.txt", b"hello, world: not an IDX file")
    with pytest.raises(fashion_mnist.IdxFormatError, match="notes.txt has magic number"):
        fashion_mnist.read_images(text, 10_000)


def test_a_wrong_count_or_item_shape_names_the_file(tmp_path, raw_labels, raw_images):
    labels = idx(tmp_path, "labels.gz", raw_labels, zipped=True)
    with pytest.raises(
        fashion_mnist.IdxFormatError,
        match=r"labels.gz has a wrong count: its header says \(10000,\), expected \(60000,\)",
    ):
        fashion_mnist.read_labels(labels, 60_000)
    shrunk = idx(
        tmp_path,
        "images",
        raw_images[:8] + (27).to_bytes(4, "big") + (28).to_bytes(4, "big") + raw_images[16 : 16 + 10_000 * 27 * 28],
    )
    with pytest.raises(fashion_mnist.IdxFormatError, match=r"images has a wrong item shape: .*\(10000, 27, 28\)"):
        fashion_mnist.read_images(shrunk, 10_000)


def test_a_truncated_or_padded_file_names_the_file(tmp_path, raw_labels):
    cut = idx(tmp_path, "cut", raw_labels[:-1])
    with pytest.raises(fashion_mnist.IdxFormatError, match="cut is truncated: 9999 bytes of data, .* announces 10000"):
        fashion_mnist.read_labels(cut, 10_000)
    stub = idx(tmp_path, "stub", raw_labels[:6])
    with pytest.raises(fashion_mnist.IdxFormatError, match="stub is truncated: 6 bytes, too short"):
        fashion_mnist.read_labels(stub, 10_000)
    cut_gzip = tmp_path / "cut.gz"
    cut_gzip.write_bytes(gzip.compress(raw_labels)[:-100])
    with pytest.raises(fashion_mnist.IdxFormatError, match="cut.gz is a damaged or truncated gzip file"):
        fashion_mnist.read_labels(cut_gzip, 10_000)
    padded = idx(tmp_path, "padded", raw_labels + b"\x00\x00")
    with pytest.raises(fashion_mnist.IdxFormatError, match="padded has 2 bytes after the 10000"):
        fashion_mnist.read_labels(padded, 10_000)


def test_a_label_outside_the_ten_classes_names_the_file(tmp_path, raw_labels):
    bad = idx(tmp_path, "bad-labels", raw_labels[: 8 + 5] + b"\x0a" + raw_labels[8 + 6 :])
    with pytest.raises(fashion_mnist.IdxFormatError, match="bad-labels has label 10 at index 5"):
        fashion_mnist.read_labels(bad, 10_000)


def test_a_missing_file_names_itself(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.gz"):
        fashion_mnist.read_images(tmp_path / "absent.gz", 10)


def package_copy(cache):
    """The unpacked package as a user could have placed it in `cache`: links to the real files."""
    root = debian.package_root(cache, SPEC["debian"]["package"], SPEC["debian"]["version"])
    for path in SPEC["files"]:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).symlink_to(PACKAGE / path)
    return root


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_missing_or_corrupt_file_in_the_cache_stops_the_load_naming_it(data, tmp_path):
    root = package_copy(tmp_path)
    labels = root / SPEC["splits"]["train"]["labels"]
    labels.unlink()
    before = listing(tmp_path)
    name, folder = re.escape(str(labels)), re.escape(str(root))
    with pytest.raises(debian.DataSourceError, match=f"{name} is missing; delete {folder}"):
        fashion_mnist.load(tmp_path)
    damaged = bytearray((PACKAGE / SPEC["splits"]["train"]["labels"]).read_bytes())
    damaged[100] ^= 0xFF
    labels.write_bytes(bytes(damaged))
    with pytest.raises(debian.DataSourceError, match=f"{name} has sha256 .*delete {folder} to fetch it again"):
        fashion_mnist.load(tmp_path)
    assert listing(tmp_path) == sorted(before + [str(labels.relative_to(tmp_path))])  # nothing else written


def test_the_unpacked_package_is_read_from_any_data_dir(data, tmp_path):
    again = fashion_mnist.load(package_copy(tmp_path).parents[1])
    assert torch.equal(again.test_images, data.test_images) and torch.equal(again.train_labels, data.train_labels)
    assert np.array_equal(again.train_images[123].numpy(), data.train_images[123].numpy())
