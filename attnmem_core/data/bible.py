"""`bible_en_es`: English→Spanish verse pairs, for the machine-translation chapters.

The World English Bible (SWORD module engWEB2015eb, Debian `sword-text-web`) and the
Reina-Valera 1909 (spaRV1909eb, Debian `sword-text-sparv`), both in the public domain, are
fetched as pinned Debian packages (data/sources.json), read with the PyPI package `pysword`
(no SWORD library needed) and paired by verse reference (book, chapter, verse).

Versification. pysword lays each module out by the versification its .conf names: NRSVA
for the WEB, KJV for the RV1909. The two agree on every book of the Protestant canon except
3 John 1:15 and Revelation 12:18, which only NRSVA has (both are empty in the WEB, whose
text follows the KJV division there). The WEB's 17 deuterocanonical books have no Spanish
side and are left out. The RV1909 module itself numbers ten chapters otherwise, mostly as
the Hebrew Bible does (Num 13, Jonah 2, Job 39–40, ...), so that pairing by reference
matches a verse with its neighbour for most of the chapter; and here and there the two translations split a verse
differently. Two fixed rules, on the character length ratio r = len(target) / len(source)
and its median m over all pairs, drop these:

- a chapter whose mean |log r - log m| exceeds SHIFT_LIMIT (0.23) is dropped whole; on the
  pinned modules these are exactly the 10 chapters numbered differently (the next highest
  chapter scores 0.20);
- a pair whose r is more than twice or less than half m is dropped (a verse split
  differently, a line the other translation lacks).

A verse empty on either side (a verse the translation omits, or whose words the module
moved into its neighbour) is dropped too. All counts go into the provenance.

Cleaning (`clean`). pysword's OSIS cleaner deletes tags and notes but joins what stood on
either side of them. On these two modules that leaves:

- words glued where a footnote stood between them (WEB: "God<note/>created" becomes
  "Godcreated", "east,<note/>they" becomes "east,they"): a note becomes a space;
- a space left before punctuation where a note stood after a word ("offspring.<note/>”"
  becomes "offspring. ”", "coins<note/> ?"): dropped;
- words glued to the words the RV1909 marks as added (`<transChange type="added">`): its
  source lost the spaces around them ("ejército<added>se llamaba</added>Sísara"); a space is
  put back, except where the added word is an enclitic pronoun of the verb before it
  ("díjo<added>le</added> Dios" is "díjole Dios"); that rule was checked on all 122 places
  where an added pronoun touches the word before it (106 are enclitics), whence the short
  NOT_VERBS list;
- a closing quote glued to the next word (WEB Rev 1:8 "Omega, ”says"): a space is added;
- speaker labels of the Song of Songs ("Beloved", "Lover"), which are not text: removed;
- psalm superscriptions, canonical text that the WEB marks as a title (removed by pysword)
  while the RV1909 has them in verse 1: kept;
- the WEB glossary (17k characters), appended to Revelation 22:21 after the end of the book:
  cut at the book's end marker;
- the RV1909 prints the first word of each chapter in capitals ("EN el principio",
  "Y FUERON acabados"): `recase_opening` writes it as the word is written elsewhere in the
  module ("En el principio", "Y fueron acabados", "Jehová"); one miss in 1,188 openings:
  ACHAB (1 Kgs 19:1), spelled Achâb elsewhere, becomes "achab".

Doubled and trailing spaces are collapsed. There are no pilcrows, brackets or entities left
in the aligned text (the WEB's brackets are in Greek Esther only).

Splits, by chapter (neighbouring verses nearly repeat each other, so a verse split would
leak): the chapters of the KJV versification, sorted by (the book's place in pysword's KJV
canon, chapter number), are permuted by numpy.random.default_rng(SPLIT_SEED = 2015); with
n chapters (1,189), the first round(5% n) = 59 are test, the next round(2.5% n) = 30 valid,
the rest train. Dropped chapters simply have no pairs.

Extraction takes one to two minutes (pysword decompresses a whole book for every verse);
its result is cached as one gzip TSV under <data_dir>/bible/, written to a temporary name
and renamed, so loading later takes well under a second. Its first line records the module
files' sha256 it was built from, the alignment counts and the sha256 of the table below it,
checked on every load: a verse edited by hand (and the file compressed again) is an error
naming the file to delete, as a truncated file is.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
import re
import zlib
from collections import Counter, defaultdict
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from pysword.canons import canons
from pysword.cleaner import OSISCleaner

from attnmem_core.atomic import atomic_write
from attnmem_core.data import debian
from attnmem_core.data.user_corpus import ParallelCorpus

SOURCES = Path(__file__).resolve().parents[2] / "data" / "sources.json"
NAME = "bible_en_es"
CACHE_VERSION = 2  # raise when cleaning, alignment or the file's format changes: its name holds it
SPLIT_SEED = 2015
TEST_SHARE, VALID_SHARE = 0.05, 0.025
SHIFT_LIMIT = 0.23  # mean |log r - log m| of a chapter numbered differently in the two modules
RATIO_LIMIT = math.log(2)  # |log r - log m| of a pair whose verses are split differently
SIDES = ("source", "target")
COLUMNS = ["book", "chapter", "verse", "source", "target"]
BOOKS = [book[1] for testament in ("ot", "nt") for book in canons["kjv"][testament]]  # OSIS names, in order

# words before which an added object pronoun is not an enclitic (reviewed on every such place in the RV1909)
NOT_VERBS = {
    "no",
    "que",
    "y",
    "de",
    "como",
    "cuánto",
    "os",
    "ellos",
    "gentes",
    "dios",
    "jehová",
    "josué",
    "desolado",
    "dejaban",
}
ENCLITICS = {"lo", "la", "le", "los", "las", "les", "nos", "os", "me", "te"}
# Psalm 119:1 opens with its acrostic heading, in capitals in both translations: not the chapter's first word
HEADINGS = {"ALEPH"}

_OSIS = OSISCleaner()
_BOOK_END = re.compile(r'<div\b(?=[^>]*\beID=)(?=[^>]*\btype="book")[^>]*>')
_NOTE = re.compile(r"<note\b.*?</note>", re.S)
_SPEAKER = re.compile(r"<speaker\b.*?</speaker>", re.S)
_CANONICAL_TITLE = re.compile(r'<title\b[^>]*\bcanonical="true"[^>]*>(.*?)</title>', re.S)
_WORD_TAG = re.compile(r"</?w\b[^>]*>")
_ADDED = re.compile(r"(\w*)<transChange\b[^>]*>(.*?)</transChange>", re.S)
_WORD = re.compile(r"[^\W\d_]+")


# ---- cleaning -------------------------------------------------------------------------------


def _added(match: re.Match) -> str:
    before, words = match.group(1), match.group(2)
    first = words.split()[0].lower() if words.split() else ""
    enclitic = bool(before) and first in ENCLITICS and before.lower() not in NOT_VERBS
    return before + ("" if enclitic or not before else " ") + words + " "


def clean(osis: str) -> str:
    """The plain text of one verse's OSIS markup, without the artefacts listed in the module docstring."""
    end = _BOOK_END.search(osis)
    if end:
        osis = osis[: end.start()]  # back matter appended to a book's last verse
    osis = _NOTE.sub(" ", osis)
    osis = _SPEAKER.sub(" ", osis)
    osis = _CANONICAL_TITLE.sub(r" \1 ", osis)
    osis = _WORD_TAG.sub("", osis)
    osis = _ADDED.sub(_added, osis)
    text = " ".join(_OSIS.clean(osis).split())
    text = re.sub(r" (?=[.,;:!?)\]”])", "", text)
    text = re.sub(r"(?<=[(\[¿¡“]) ", "", text)
    return re.sub(r"([.,;:!?]’|[.,;:!?”])(?=[^\W\d_])", r"\1 ", text)


def word_cases(texts) -> tuple[Counter, Counter]:
    """How often each word is written in lower case, and capitalised after a lower-case word (a name), in `texts`."""
    lower, names = Counter(), Counter()
    for text in texts:
        previous = None
        for match in _WORD.finditer(text):
            word = match.group()
            if word.islower():
                lower[word] += 1
            elif (
                word.istitle()
                and previous
                and previous.group().islower()
                and text[previous.end() : match.start()] == " "
            ):
                names[word] += 1
            previous = match
    return lower, names


def recase_opening(text: str, lower: Counter, names: Counter) -> str:
    """A chapter's first verse with its first run of words in capitals written as elsewhere in the module.

    A word is a name (JEHOVÁ → Jehová) if written capitalised after a lower-case word more often than in lower
    case (`word_cases`), else it is lowered (Y FUERON → Y fueron); the run's first letter is a capital again where
    it starts a sentence (EN el → En el).
    """
    run = []
    for match in _WORD.finditer(text):
        word = match.group()
        capitals = len(word) > 1 and word.isupper() and word not in HEADINGS
        if capitals and (not run or text[run[-1].end() : match.start()] == " "):
            run.append(match)
        elif run:
            break
    if not run:
        return text
    words = [m.group() for m in run]
    words = [w.capitalize() if names[w.capitalize()] > lower[w.lower()] else w.lower() for w in words]
    before = text[: run[0].start()].rstrip(" ¡¿“‘(")
    if not before or before[-1] in ".!?:":
        words[0] = words[0][0].upper() + words[0][1:]
    return text[: run[0].start()] + " ".join(words) + text[run[-1].end() :]


def recase_openings(verses: dict) -> dict:
    """`verses` with `recase_opening` applied to every chapter's verse 1."""
    lower, names = word_cases(verses.values())
    return {ref: recase_opening(text, lower, names) if ref[2] == 1 else text for ref, text in verses.items()}


# ---- reading the modules --------------------------------------------------------------------


def source() -> dict:
    return json.loads(SOURCES.read_text())[NAME]


def _open_module(sword_root: Path, module: str):
    from pysword.modules import SwordModules

    modules = SwordModules(str(sword_root))
    found = modules.parse_modules()
    if module not in found:
        raise debian.DataSourceError(
            f"{sword_root}/mods.d has no .conf for module {module} (it has {', '.join(sorted(found)) or 'none'})"
        )
    return modules.get_bible_from_module(module)


def read_module(sword_root: Path, module: str, books: list[str] | None = None) -> dict[tuple[str, int, int], str]:
    """Every verse's OSIS markup, {(OSIS book, chapter, verse): markup}, in canon order (`books`: only these)."""
    bible = _open_module(sword_root, module)
    verses = {}
    for testament in ("ot", "nt"):
        for book in bible.get_structure().get_books().get(testament, []):
            if books is not None and book.osis_name not in books:
                continue
            refs = [(book.osis_name, c, v) for c, n in enumerate(book.chapter_lengths, 1) for v in range(1, n + 1)]
            texts = list(bible.get_iter(books=book.name, clean=False))
            if len(texts) != len(refs):
                raise debian.DataSourceError(
                    f"module {module} in {sword_root}: {book.osis_name} gave {len(texts)} "
                    f"verses, its versification has {len(refs)}"
                )
            verses.update(zip(refs, texts))
    return verses


def read_verse(sword_root: Path, module: str, book: str, chapter: int, verse: int) -> str:
    """One verse's OSIS markup, as `read_module` has it (fast: for looking at single verses)."""
    return _open_module(sword_root, module).get(books=book, chapters=chapter, verses=verse, clean=False)


def sword_roots(data_dir: str | Path, sword_dir: str | Path | None = None) -> dict[str, Path]:
    """The SWORD folder (holding mods.d/ and modules/) of each side, with every module file checked."""
    spec, roots = source(), {}
    for side in SIDES:
        package = spec[side]["debian"]
        if sword_dir is None:
            unpacked = debian.fetch(package["package"], package["version"], data_dir, package["deb_sha256"])
            roots[side] = unpacked / spec["sword_root"]
            for path, digest in spec[side]["files"].items():
                debian.verified(roots[side] / path, digest, unpacked)
        else:
            roots[side] = Path(sword_dir)
            for path, digest in spec[side]["files"].items():
                try:
                    debian.verified(roots[side] / path, digest, roots[side])
                except debian.DataSourceError as error:
                    raise debian.DataSourceError(
                        f"{str(error).split(';')[0]}; sword_dir must hold the files of "
                        f"{package['package']}_{package['version']}_all.deb under {spec['sword_root']}/ unchanged: "
                        f"unpack that package's {spec['sword_root']}/ into {sword_dir} again (see data/README.md)"
                    ) from error
    return roots


# ---- aligning -------------------------------------------------------------------------------


def align(source_verses: dict, target_verses: dict) -> tuple[pd.DataFrame, dict]:
    """Cleaned verses of both sides paired by reference, less the verses and chapters the rules drop; the counts."""
    common = [ref for ref in source_verses if ref in target_verses]
    only_source = defaultdict(int)
    for ref in source_verses:
        if ref not in target_verses:
            only_source[ref[0]] += 1
    counts = {
        "source_verses": len(source_verses),
        "target_verses": len(target_verses),
        "common_references": len(common),
        "source_only_references": dict(only_source),
        "target_only_references": sum(ref not in source_verses for ref in target_verses),
        "empty_source": sum(not source_verses[ref] for ref in common),
        "empty_target": sum(not target_verses[ref] for ref in common),
        "empty_both": sum(not source_verses[ref] and not target_verses[ref] for ref in common),
    }
    kept = [ref for ref in common if source_verses[ref] and target_verses[ref]]
    log_ratio = {ref: math.log(len(target_verses[ref]) / len(source_verses[ref])) for ref in kept}
    median = float(np.median(list(log_ratio.values())))
    by_chapter = defaultdict(list)
    for ref in kept:
        by_chapter[ref[:2]].append(abs(log_ratio[ref] - median))
    shifted = [chapter for chapter, deviations in by_chapter.items() if np.mean(deviations) > SHIFT_LIMIT]
    in_shifted = [ref for ref in kept if ref[:2] in set(shifted)]
    kept = [ref for ref in kept if ref[:2] not in set(shifted)]
    outliers = [ref for ref in kept if abs(log_ratio[ref] - median) > RATIO_LIMIT]
    kept = [ref for ref in kept if abs(log_ratio[ref] - median) <= RATIO_LIMIT]
    counts.update(
        {
            "median_length_ratio": round(math.exp(median), 4),
            "shifted_chapters": [f"{book} {chapter}" for book, chapter in shifted],
            "pairs_in_shifted_chapters": len(in_shifted),
            "length_ratio_outliers": len(outliers),
            "pairs": len(kept),
        }
    )
    frame = pd.DataFrame([(*ref, source_verses[ref], target_verses[ref]) for ref in kept], columns=COLUMNS)
    return frame, counts


def extract(roots: dict[str, Path]) -> tuple[pd.DataFrame, dict]:
    """Read, clean and align both modules (one to two minutes)."""
    spec = source()
    verses = {
        side: {ref: clean(osis) for ref, osis in read_module(roots[side], spec[side]["module"]).items()}
        for side in SIDES
    }
    verses["target"] = recase_openings(verses["target"])
    return align(verses["source"], verses["target"])


# ---- the cache ------------------------------------------------------------------------------


def cache_path(data_dir: str | Path) -> Path:
    spec = source()
    versions = "_".join(
        f"{spec[side]['debian']['package'].removeprefix('sword-text-')}{spec[side]['debian']['version']}"
        for side in SIDES
    )
    return Path(data_dir) / "bible" / f"en-es_{versions}_v{CACHE_VERSION}.tsv.gz"


def _pins(spec: dict) -> dict:
    return {
        side: {"module": spec[side]["module"], **spec[side]["debian"], "files": spec[side]["files"]} for side in SIDES
    }


def write_cache(frame: pd.DataFrame, counts: dict, path: Path) -> None:
    """The aligned pairs as gzip TSV, its first line a JSON header (with the table's sha256); written to a temporary
    file, then renamed."""
    for column in ("source", "target"):
        if frame[column].str.contains(r"[\t\n\r]").any():
            raise ValueError("a cleaned verse holds a tab or line break; `clean` must collapse white space")
    table = (
        "\t".join(COLUMNS) + "\n" + "".join("\t".join(map(str, row)) + "\n" for row in frame.itertuples(index=False))
    ).encode()
    header = {
        "dataset": NAME,
        "cache_version": CACHE_VERSION,
        "reader": f"pysword {metadata.version('pysword')}",
        **_pins(source()),
        "alignment": counts,
        "table_sha256": hashlib.sha256(table).hexdigest(),
    }
    with atomic_write(path) as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(("#" + json.dumps(header) + "\n").encode() + table)


def read_cache(path: Path) -> tuple[pd.DataFrame, dict]:
    """The cached pairs and header; an error naming the file to delete if it is damaged or out of date."""
    fix = f"delete {path} and load again: it is rebuilt from the SWORD modules"
    try:
        with gzip.open(path, "rb") as f:
            header = json.loads(f.readline().removeprefix(b"#"))
            table = f.read()
        if (found := hashlib.sha256(table).hexdigest()) != header.get("table_sha256"):
            raise ValueError(f"its table has sha256 {found}, its header says {header.get('table_sha256')}")
        frame = pd.read_csv(
            io.BytesIO(table),
            sep="\t",
            quoting=csv.QUOTE_NONE,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8",
            dtype={"book": str, "chapter": np.int64, "verse": np.int64, "source": str, "target": str},
        )
        pairs = header["alignment"]["pairs"]
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, zlib.error) as error:
        reason = " ".join(str(error).split())
        raise debian.DataSourceError(f"{path} is damaged ({type(error).__name__}: {reason}); {fix}") from error
    if list(frame.columns) != COLUMNS or len(frame) != pairs or (frame[["source", "target"]] == "").any(axis=None):
        raise debian.DataSourceError(
            f"{path} is damaged (expected {pairs} non-empty pairs in columns {COLUMNS}, "
            f"found {len(frame)} rows in columns {list(frame.columns)}); {fix}"
        )
    if (
        header.get("dataset") != NAME
        or header.get("cache_version") != CACHE_VERSION
        or any(header.get(side) != pins for side, pins in _pins(source()).items())
    ):
        raise debian.DataSourceError(
            f"{path} was built from other module files or by other code than "
            f"data/sources.json and this version pin; {fix}"
        )
    return frame, header


# ---- splits and the corpus ------------------------------------------------------------------


def chapter_splits() -> dict[tuple[str, int], str]:
    """Each chapter of the KJV versification → 'train', 'valid' or 'test', by the rule in the module docstring."""
    chapters = [
        (book[1], c)
        for testament in ("ot", "nt")
        for book in canons["kjv"][testament]
        for c in range(1, len(book[3]) + 1)
    ]
    chapters.sort(key=lambda chapter: (BOOKS.index(chapter[0]), chapter[1]))
    n_test, n_valid = round(TEST_SHARE * len(chapters)), round(VALID_SHARE * len(chapters))
    order = np.random.default_rng(SPLIT_SEED).permutation(len(chapters))
    split = {chapters[i]: "train" for i in order}
    split.update({chapters[i]: "test" for i in order[:n_test]})
    split.update({chapters[i]: "valid" for i in order[n_test : n_test + n_valid]})
    return split


def load(data_dir: str | Path, *, sword_dir: str | Path | None = None) -> ParallelCorpus:
    """English (source) → Spanish (target) verse pairs in chapter splits; built once, then read from the cache.

    `sword_dir`: a folder holding both modules as the packages install them (the unpacked usr/share/sword of
    both), for a system without apt; its files are checked against the same sha256 pins.
    """
    path = cache_path(data_dir)
    if not path.is_file():
        frame, counts = extract(sword_roots(data_dir, sword_dir))
        write_cache(frame, counts, path)
    frame, header = read_cache(path)
    frame["ref"] = frame.book + " " + frame.chapter.astype(str) + ":" + frame.verse.astype(str)
    assignment = chapter_splits()
    split = pd.Series([assignment[key] for key in zip(frame.book, frame.chapter)], index=frame.index)
    parts = {
        name: frame.loc[split == name, ["source", "target", "ref"]].reset_index(drop=True)
        for name in ("train", "valid", "test")
    }
    chapters = pd.Series(list(zip(frame.book, frame.chapter))).groupby(split.to_numpy()).nunique()
    provenance = {
        "dataset": NAME,
        "description": source()["description"],
        "languages": {"source": "en", "target": "es"},
        "reader": header["reader"],
        **{side: header[side] for side in SIDES},
        "cache": {"path": str(path), "sha256": debian.sha256(path)},
        "alignment": header["alignment"],
        "split_rule": (
            f"whole chapters: the {len(assignment)} KJV chapters sorted by (book in pysword's KJV canon, "
            f"chapter), permuted by numpy.random.default_rng({SPLIT_SEED}); the first "
            f"round({TEST_SHARE} n) test, the next round({VALID_SHARE} n) valid, the rest train"
        ),
        "split_seed": SPLIT_SEED,
        "sizes": {name: len(part) for name, part in parts.items()},
        "chapters": {name: int(chapters.get(name, 0)) for name in parts},
    }
    return ParallelCorpus(parts["train"], parts["valid"], parts["test"], provenance)
