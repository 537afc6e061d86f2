"""`small_fine_foods`: 5,000 Amazon fine-food reviews labelled `great` / `other`.

The stand-in for the Amazon reviews of Yang et al. 2016 (Table 2), which are out of reach
offline. The R package modeldata ships them as two data frames, `training_data` (4,000
reviews) and `testing_data` (1,000); we take them from Debian's `r-cran-modeldata`
(pinned, with sha256, in data/sources.json) and read them without R.

R keeps a package's data in a lazy-load database (R's `makeLazyLoadDB`), two files:

    Rdata.rdx   gzip of an R serialization of
                list(variables = name → c(offset, length) in Rdata.rdb, references, compressed)
    Rdata.rdb   the objects, one entry each at those offsets:
                4 bytes: the serialization's length (big-endian), then
                  compressed = 1:     a zlib stream
                  compressed = 2, 3:  1 byte of type, then 'Z' raw LZMA2 | '2' bzip2 | '1' zlib | '0' as is

Each entry, once unframed, is an ordinary R serialization that `rdata` parses and converts.

The validation split is carved from the training frame once, by a fixed seed, so every
run on every machine tunes on the same 500 reviews. The R data has a few reviews posted for
several products (20 repeated rows in training; 7 test reviews also appear in training):
validation takes none of them, and the test set stays as published.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rdata

from attnmem_core.data import debian

SOURCES = Path(__file__).resolve().parents[2] / "data" / "sources.json"
NAME = "small_fine_foods"
CLASSES = ("great", "other")  # the R factor's levels, in order: label 0 is `great`
SIZES = {"train": 4_000, "test": 1_000}
VALID_SIZE = 500
SPLIT_SEED = 2016


# tidyverse data frames are tibbles, classes c("tbl_df", "tbl", "data.frame"): plain data frames to us
_CONSTRUCTORS = {
    **rdata.conversion.DEFAULT_CLASS_MAP,
    "tbl_df": rdata.conversion.dataframe_constructor,
    "tbl": rdata.conversion.dataframe_constructor,
}


class DataFormatError(ValueError):
    """The data read is not what the pinned source holds (a corrupt entry, an unexpected R object)."""


# ---- R's lazy-load database --------------------------------------------------------------


def read_index(rdx: Path) -> dict:
    """The .rdx index: {'variables': name → (offset, length), 'compressed': 1 | 2 | 3}."""
    try:
        index = rdata.conversion.convert(rdata.parser.parse_data(gzip.decompress(rdx.read_bytes()), extension=".rds"))
        variables = {str(k): (int(v[0]), int(v[1])) for k, v in index["variables"].items()}
        return {"variables": variables, "compressed": int(np.asarray(index["compressed"]).ravel()[0])}
    except (OSError, EOFError, ValueError, KeyError, TypeError, IndexError) as error:
        raise DataFormatError(f"{rdx} is not an R lazy-load index ({error})") from error


def unframe(entry: bytes, compressed: int) -> bytes:
    """Undo R's framing of one .rdb entry: the serialized object it holds."""
    if len(entry) < 5:
        raise DataFormatError(f"a lazy-load entry of {len(entry)} bytes is too short to hold an object")
    length, payload = int.from_bytes(entry[:4], "big"), entry[4:]
    if compressed != 1:
        kind, payload = payload[:1], payload[1:]
    else:
        kind = b"1"
    decoders = {
        b"Z": lambda p: lzma.decompress(
            p, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
        ),
        b"2": bz2.decompress,
        b"1": zlib.decompress,
        b"0": bytes,
    }
    if kind not in decoders:
        raise DataFormatError(f"a lazy-load entry has compression type {kind!r}; R writes Z, 2, 1 or 0")
    try:
        data = decoders[kind](payload)
    except (lzma.LZMAError, OSError, zlib.error, ValueError) as error:
        raise DataFormatError(
            f"a lazy-load entry (type {kind.decode(errors='replace')}) does not decompress: {error}"
        ) from error
    if len(data) != length:
        raise DataFormatError(f"a lazy-load entry holds {len(data)} bytes, but its header says {length}")
    return data


def read_object(rdx: Path, rdb: Path, name: str):
    """One R object of a lazy-load database, converted by rdata (a data frame becomes a pandas DataFrame)."""
    index = read_index(rdx)
    if name not in index["variables"]:
        raise DataFormatError(f"{rdx} has no object {name!r}; it has {', '.join(sorted(index['variables']))}")
    offset, length = index["variables"][name]
    with open(rdb, "rb") as f:
        f.seek(offset)
        entry = f.read(length)
    if len(entry) != length:
        raise DataFormatError(f"{rdb} ends before object {name!r} (needs bytes {offset}..{offset + length})")
    serialized = unframe(entry, index["compressed"])
    try:
        return rdata.conversion.convert(rdata.parser.parse_data(serialized, extension=".rds"), _CONSTRUCTORS)
    except Exception as error:  # rdata raises many kinds on a bad stream; all mean the same here
        raise DataFormatError(f"object {name!r} in {rdb} is not a readable R serialization ({error})") from error


# ---- the data set ------------------------------------------------------------------------


@dataclass(frozen=True)
class FineFoods:
    """The three splits (columns: review, label, product; label indexes CLASSES) and the sha256 of the files read."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    sha256: dict[str, str]


def source(name: str = NAME) -> dict:
    return json.loads(SOURCES.read_text())[name]


def as_reviews(frame, name: str, rows: int) -> pd.DataFrame:
    """Check that `frame` is the expected R data frame; return its reviews with integer labels."""
    if not isinstance(frame, pd.DataFrame):
        raise DataFormatError(f"R object {name!r} is a {type(frame).__name__}, not the expected data frame")
    missing = {"review", "score", "product"} - set(frame.columns)
    if missing:
        raise DataFormatError(f"R object {name!r} lacks columns {sorted(missing)}; it has {list(frame.columns)}")
    levels = tuple(getattr(frame["score"].dtype, "categories", ()))
    if levels != CLASSES:
        raise DataFormatError(f"R object {name!r}: score has levels {levels}, expected {CLASSES}")
    if len(frame) != rows or frame["review"].isna().any() or frame["score"].isna().any():
        raise DataFormatError(
            f"R object {name!r}: expected {rows} reviews, each with a score; found {len(frame)} "
            f"rows, {int(frame['review'].isna().sum())} without a review"
        )
    return pd.DataFrame(
        {
            "review": frame["review"].astype(str).to_numpy(),
            "label": frame["score"].cat.codes.to_numpy().astype(np.int64),
            "product": frame["product"].astype(str).to_numpy(),
        }
    )


def load(data_dir: str | Path) -> FineFoods:
    """The train (3,500) / valid (500) / test (1,000) splits, fetching the Debian package into data_dir if needed."""
    spec = source()
    package = spec["debian"]
    root = debian.fetch(package["package"], package["version"], data_dir, package["deb_sha256"])
    files = {Path(path).suffix: debian.verified(root / path, digest, root) for path, digest in spec["files"].items()}
    rdx, rdb = files[".rdx"], files[".rdb"]
    objects = spec["objects"]
    train = as_reviews(read_object(rdx, rdb, objects["train"]), objects["train"], SIZES["train"])
    test = as_reviews(read_object(rdx, rdb, objects["test"]), objects["test"], SIZES["test"])
    # a few reviews were posted for several products and appear more than once; validation takes
    # only reviews that appear once, so no text is on both sides
    once = np.flatnonzero(~train.review.duplicated(keep=False).to_numpy())
    chosen = np.zeros(len(train), dtype=bool)
    chosen[np.random.default_rng(SPLIT_SEED).permutation(once)[:VALID_SIZE]] = True
    valid, train = train[chosen], train[~chosen]
    return FineFoods(
        train.reset_index(drop=True), valid.reset_index(drop=True), test.reset_index(drop=True), dict(spec["files"])
    )
