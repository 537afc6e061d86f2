"""small_fine_foods: R's lazy-load database read without R, on the real Debian package, and its failure modes."""

import bz2
import lzma
import shutil
import zlib

import pytest

from attnmem_core.data import debian, fine_foods
from attnmem_core.runner import REPO

CACHE = REPO / "data" / "cache"  # the notebooks' default data_dir: fetched once, reused by later runs
SPEC = fine_foods.source()


@pytest.fixture(scope="module")
def data():
    return fine_foods.load(CACHE)


PACKAGE = debian.package_root(CACHE, SPEC["debian"]["package"], SPEC["debian"]["version"])
RDX, RDB = sorted(SPEC["files"], reverse=True)


@pytest.fixture(scope="module")
def database(data):
    return PACKAGE / RDX, PACKAGE / RDB


def test_the_splits_have_the_sizes_labels_and_balance_of_the_r_data(data):
    assert (len(data.train), len(data.valid), len(data.test)) == (3_500, 500, 1_000)
    assert data.test.label.isin([0, 1]).all()
    assert round(100 * (data.test.label == 0).mean(), 1) == 65.8  # `great`, the majority class
    assert data.test.review[0].startswith("These are the best tasting gummy fruits")
    assert not set(data.valid.review) & set(data.train.review)
    assert data.sha256 == SPEC["files"]


def test_the_validation_split_is_the_same_on_every_load(data):
    again = fine_foods.load(CACHE)
    assert list(again.valid.review) == list(data.valid.review)


def test_the_index_names_the_objects_and_their_xz_compression(database):
    index = fine_foods.read_index(database[0])
    assert index["compressed"] == 3
    assert {"training_data", "testing_data", "ames"} <= set(index["variables"])


def test_an_r_object_that_is_not_the_expected_data_frame_is_refused(database):
    stations = fine_foods.read_object(*database, "stations")  # a character vector in modeldata
    with pytest.raises(fine_foods.DataFormatError, match="'stations' is a .*, not the expected data frame"):
        fine_foods.as_reviews(stations, "stations", 4_000)
    ames = fine_foods.read_object(*database, "ames")  # a data frame, but of houses
    with pytest.raises(fine_foods.DataFormatError, match=r"'ames' lacks columns \['product', 'review', 'score'\]"):
        fine_foods.as_reviews(ames, "ames", 4_000)
    with pytest.raises(fine_foods.DataFormatError, match="has no object 'reviews'; it has .*training_data"):
        fine_foods.read_object(*database, "reviews")


def test_an_unexpected_label_set_or_size_is_refused(database):
    frame = fine_foods.read_object(*database, "testing_data")
    with pytest.raises(fine_foods.DataFormatError, match="expected 4000 reviews"):
        fine_foods.as_reviews(frame, "testing_data", 4_000)
    frame["score"] = frame["score"].cat.rename_categories(["good", "bad"])
    with pytest.raises(fine_foods.DataFormatError, match=r"levels \('good', 'bad'\), expected \('great', 'other'\)"):
        fine_foods.as_reviews(frame, "testing_data", 1_000)


@pytest.mark.parametrize(
    "compressed, kind, compress",
    [
        (3, b"Z", lambda b: lzma.compress(b, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2}])),
        (3, b"2", bz2.compress),
        (3, b"1", zlib.compress),
        (3, b"0", bytes),
        (2, b"2", bz2.compress),
        (1, b"", zlib.compress),
    ],
)
def test_unframe_undoes_each_of_rs_framings(compressed, kind, compress):
    serialized = b"X\n" + bytes(range(256)) * 40
    entry = len(serialized).to_bytes(4, "big") + kind + compress(serialized)
    assert fine_foods.unframe(entry, compressed) == serialized


def test_a_damaged_entry_is_an_error_not_garbage():
    serialized = b"X\n" + bytes(range(256)) * 40
    body = lzma.compress(serialized, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2}])
    with pytest.raises(fine_foods.DataFormatError, match="header says 9"):
        fine_foods.unframe((9).to_bytes(4, "big") + b"Z" + body, 3)
    with pytest.raises(fine_foods.DataFormatError, match="does not decompress"):
        fine_foods.unframe(len(serialized).to_bytes(4, "big") + b"Z" + body[:40] + b"\xff" * 40, 3)
    with pytest.raises(fine_foods.DataFormatError, match="compression type b'Q'"):
        fine_foods.unframe(len(serialized).to_bytes(4, "big") + b"Q" + body, 3)


def test_a_corrupt_database_in_the_cache_stops_the_load_naming_the_fix(database, tmp_path):
    root = debian.package_root(tmp_path, SPEC["debian"]["package"], SPEC["debian"]["version"])
    shutil.copytree(PACKAGE, root)  # the unpacked package, as a user could have placed it
    rdb = root / RDB
    damaged = bytearray(rdb.read_bytes())
    damaged[1000] ^= 0xFF
    rdb.write_bytes(bytes(damaged))
    with pytest.raises(debian.DataSourceError, match=f"Rdata.rdb has sha256 .*delete {root} to fetch it again"):
        fine_foods.load(tmp_path)
