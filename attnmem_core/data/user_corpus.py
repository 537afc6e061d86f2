"""Sentence pairs of the user's own: `ParallelCorpus`, and readers for the two common file layouts.

The translation chapters train on `ParallelCorpus`, whatever its origin: the Bible verses of
`attnmem_core.data.bible` by default, or files the user brings, in either layout:

- one TSV file per split, Tatoeba / Anki style: `source<TAB>target[<TAB>anything more]` on
  each line (the Anki export's third column, attribution, is ignored);
- two line-aligned files per split, Multi30k / WMT style: line i of the source file
  translates line i of the target file.

Files are read as UTF-8 (a byte-order mark is dropped) and split at "\n" only (a "\r" before
it is dropped): `str.splitlines` also breaks at U+0085, U+2028, form feeds and the like, and
one such character in each of two aligned files would shift every pair between them by one
line while the line counts still match. Those characters, and every other control
character but the tab, are refused instead. A line without a tab, an empty side, a side
longer than MAX_CHARACTERS, two files of different lengths or an empty file stop the read
with a `CorpusError` that names the file, the line and what to change; nothing is skipped
silently, except a line that is empty on both sides of an aligned pair (a blank separator
line). Each pair keeps where it came from as `ref`: "<file name>:<line number>".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

COLUMNS = ["source", "target", "ref"]
SPLITS = ("train", "valid", "test")
# a side longer than this is not one sentence (a paragraph, a file that lost its line breaks): it would take
# minutes and gigabytes to pad and decode; the longest verse of the Bible corpus has about 550 characters
MAX_CHARACTERS = 3000
# control characters but the tab (C0, DEL, C1 with U+0085) and the Unicode line and paragraph separators
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


class CorpusError(ValueError):
    """A user corpus file cannot be used as given; the message names the file and the fix."""


@dataclass(frozen=True)
class ParallelCorpus:
    """Sentence pairs per split; each split a DataFrame with columns `source`, `target`, `ref` (str, e.g. 'Gen 1:1')."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    provenance: dict  # JSON-serialisable: where the data came from, versions, sha256s, split rule and sizes


def _lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file, without their line ends; an error naming the fix if it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path} does not exist or is not a file; pass the path of an existing UTF-8 text file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CorpusError(
            f"{path} is not UTF-8 text (byte {error.start}); convert it, e.g. `iconv -f latin1 -t utf-8 {path.name}`"
        ) from error
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the line end of the last line
    lines = [line.removesuffix("\r") for line in lines]
    for number, line in enumerate(lines, 1):
        if control := _CONTROL.search(line):
            raise CorpusError(
                f"{path}, line {number}, column {control.start() + 1}, holds the control character "
                f"U+{ord(control.group()):04X}, which some tools read as a line break, shifting the "
                "pairs after it; replace it with a space or remove it"
            )
    if not any(line.strip() for line in lines):
        raise CorpusError(f"{path} is empty; it must hold one sentence pair per line")
    return lines


def _checked_length(path: str | Path, number: int, side: str) -> str:
    if len(side) > MAX_CHARACTERS:
        raise CorpusError(
            f"{path}, line {number}, has a side of {len(side):,} characters, more than the "
            f"{MAX_CHARACTERS:,} a sentence may have; split it into sentences on both sides, or "
            "remove the pair"
        )
    return side


def read_tsv(path: str | Path) -> pd.DataFrame:
    """The pairs of a Tatoeba/Anki TSV file: `source<TAB>target[<TAB>anything more]` per line."""
    rows = []
    for number, line in enumerate(_lines(path), 1):
        fields = line.split("\t")
        if len(fields) < 2:
            raise CorpusError(
                f"{path}, line {number}, has no tab: each line must be source<TAB>target (found {line[:60]!r})"
            )
        source, target = fields[0].strip(), fields[1].strip()
        if not source or not target:
            side = "source" if not source else "target"
            raise CorpusError(f"{path}, line {number}, has an empty {side}; remove the line or fill it in")
        rows.append(
            (
                _checked_length(path, number, source),
                _checked_length(path, number, target),
                f"{Path(path).name}:{number}",
            )
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def read_aligned(source_path: str | Path, target_path: str | Path) -> pd.DataFrame:
    """The pairs of two line-aligned files (line i of one translates line i of the other)."""
    sources, targets = _lines(source_path), _lines(target_path)
    if len(sources) != len(targets):
        raise CorpusError(
            f"{source_path} has {len(sources)} lines but {target_path} has {len(targets)}: "
            "line-aligned files must have one line per sentence on both sides"
        )
    rows = []
    for number, (source, target) in enumerate(zip(sources, targets), 1):
        source, target = source.strip(), target.strip()
        if not source and not target:
            continue  # a blank separator line on both sides
        if not source or not target:
            empty = source_path if not source else target_path
            raise CorpusError(
                f"{empty}, line {number}, is empty but the other file's line {number} is not: "
                "the files are out of step; remove or fill in the line in both files"
            )
        rows.append(
            (
                _checked_length(source_path, number, source),
                _checked_length(target_path, number, target),
                f"{Path(source_path).name}:{number}",
            )
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_split(spec: str | Path | Sequence[str | Path]) -> tuple[pd.DataFrame, dict]:
    """One split from a .tsv path or a (source_path, target_path) pair, and its provenance."""
    if isinstance(spec, (str, Path)):
        frame = read_tsv(spec)
        return frame, {"format": "tsv", "files": {str(spec): _sha256(spec)}, "pairs": len(frame)}
    if isinstance(spec, Sequence) and len(spec) == 2 and all(isinstance(p, (str, Path)) for p in spec):
        frame = read_aligned(*spec)
        return frame, {"format": "aligned", "files": {str(p): _sha256(p) for p in spec}, "pairs": len(frame)}
    raise CorpusError(f"a split must be a .tsv path or a [source_path, target_path] pair, not {spec!r}")


def load(corpus_files: Mapping) -> ParallelCorpus:
    """A corpus from the user's files, the notebooks' `corpus_files`: {"train": ..., "valid": ..., "test": ...},
    each split a .tsv path or a (source_path, target_path) pair."""
    if not isinstance(corpus_files, Mapping) or sorted(corpus_files) != sorted(SPLITS):
        given = sorted(map(str, corpus_files)) if isinstance(corpus_files, Mapping) else repr(corpus_files)
        raise CorpusError(
            f"corpus_files must map exactly the splits {', '.join(SPLITS)} to files, not {given}: "
            "e.g. {train: [train.en, train.es], valid: valid.tsv, test: test.tsv}"
        )
    frames, provenance = {}, {"dataset": "user corpus", "splits": {}}
    for name in SPLITS:
        frames[name], provenance["splits"][name] = read_split(corpus_files[name])
    provenance["split_rule"] = "as given by the user's files"
    provenance["sizes"] = {name: len(frame) for name, frame in frames.items()}
    return ParallelCorpus(frames["train"], frames["valid"], frames["test"], provenance)
