"""Sentences ↔ token ids for the translation chapters (En→Es), with two interchangeable tokenizers.

- `Subwords`: byte-pair encoding (Sennrich et al. 2016), the subword units of Vaswani et al.
  2017 and Gehring et al. 2017, trained offline with `sentencepiece` on the training sentences
  of one language. Training is deterministic: one thread, no sampling or shuffling of the
  input, a fixed seed; the same sentences give the same model file, byte for byte.
  sentencepiece normalises text with NFKC (`nmt_nfkc`) and squeezes runs of spaces, so
  decoding returns the original of any ordinary sentence; a character never seen in training
  decodes as " ⁇ ".
- `Shortlist`: words as Bahdanau et al. 2015 used them, the `size` most frequent Moses
  tokens of one language (the paper: 30,000 per language), any other word UNK. Tokenizing
  and detokenizing are Moses' rules (`sacremoses`, no XML escaping). Decoding a sentence all
  of whose words are in the shortlist gives back the original, up to the Moses detokenizer's
  known losses: "5:3" comes back "5: 3", "l'amour" as "l 'amour", "<c>" as "< c >";
  guillemets (« ») are re-attached here, since Moses leaves them spaced.

Both give ids pad 0, bos 1, eos 2, unk 3, encode without bos/eos, decode skipping pad, bos
and eos (and stopping at nothing), and `pieces` gives one string per id for attention plots.
`train_or_load` caches a trained tokenizer in a file written atomically, with a stamp of what
it was trained on and the sha256 of its content, so a cached file from other sentences or
sizes, or a damaged one, is an error naming the file to delete, never reused.

A vocabulary size is an upper limit: a corpus too small for it (60 pairs cannot make 300
BPE pieces) gets the largest vocabulary its sentences make, as sentencepiece's
`hard_vocab_limit=False` does; `len(tokenizer)` is the size made.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from attnmem_core.atomic import atomic_write

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
KINDS = ("bpe", "word")
SHORTLIST_FORMAT = "attnmem-shortlist/2"  # /1 had no sha256 of its words
SEED = 20150101  # sentencepiece's global seed; BPE without sampling draws nothing, but no default is left to chance


@runtime_checkable
class Tokenizer(Protocol):
    pad_id: int
    bos_id: int
    eos_id: int
    unk_id: int

    def __len__(self) -> int: ...
    def encode(self, sentence: str) -> list[int]: ...
    def decode(self, ids: Sequence[int]) -> str: ...
    def pieces(self, sentence: str) -> list[str]: ...


class _Ids:
    pad_id, bos_id, eos_id, unk_id = PAD, BOS, EOS, UNK

    def _content(self, ids: Sequence[int]) -> list[int]:
        """`ids` without pad, bos and eos, after checking each is in the vocabulary."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < len(self)]
        if bad:
            raise ValueError(
                f"ids {bad[:5]} are outside this vocabulary of {len(self)}; were they made with another tokenizer?"
            )
        return [i for i in ids if i not in (PAD, BOS, EOS)]


class Subwords(_Ids):
    """BPE subwords of one language, from a sentencepiece model file."""

    def __init__(self, path: str | Path):
        import sentencepiece as spm

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"no sentencepiece model at {path}; make one with Subwords.train(sentences, "
                "vocab_size, path) or train_or_load('bpe', ...)"
            )
        self.path = path
        try:
            self.model = spm.SentencePieceProcessor(model_file=str(path))
        except RuntimeError as error:  # "could not parse ModelProto": truncated, damaged or another kind of file
            raise ValueError(
                f"{path} is not a readable sentencepiece model ({error}); delete it (and its "
                ".stamp.json) to train the tokenizer again"
            ) from None
        if [self.model.pad_id(), self.model.bos_id(), self.model.eos_id(), self.model.unk_id()] != [PAD, BOS, EOS, UNK]:
            raise ValueError(
                f"{path} has pad/bos/eos/unk ids {self.model.pad_id()}, {self.model.bos_id()}, "
                f"{self.model.eos_id()}, {self.model.unk_id()}, not 0, 1, 2, 3; retrain it with "
                "Subwords.train"
            )

    @staticmethod
    def train(sentences: Iterable[str], vocab_size: int, path: str | Path) -> Subwords:
        """Train a BPE model of at most `vocab_size` pieces (specials included; fewer if the sentences cannot make
        that many) on `sentences`, save it at `path`, load it."""
        import sentencepiece as spm

        sentences = _clean(sentences)
        model = io.BytesIO()
        spm.set_random_generator_seed(SEED)
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences),
                model_writer=model,
                vocab_size=vocab_size,
                model_type="bpe",
                hard_vocab_limit=False,  # a small corpus gets the vocabulary it can make, not an error
                character_coverage=1.0,  # every character of the training text gets a piece: Latin script
                normalization_rule_name="nmt_nfkc",
                pad_id=PAD,
                bos_id=BOS,
                eos_id=EOS,
                unk_id=UNK,
                pad_piece=SPECIALS[PAD],
                bos_piece=SPECIALS[BOS],
                eos_piece=SPECIALS[EOS],
                unk_piece=SPECIALS[UNK],
                num_threads=1,
                shuffle_input_sentence=False,
                input_sentence_size=0,
                max_sentence_length=1 << 16,
                minloglevel=2,
            )
        except RuntimeError as error:
            if (needed := re.search(r"smaller than required_chars\. \d+ vs (\d+)", str(error))) is None:
                raise
            raise ValueError(
                f"vocab_size {vocab_size} is less than the {needed.group(1)} pieces (4 specials and every "
                f"character) these {len(sentences)} sentences need; ask for more"
            ) from None
        _write_atomically(Path(path), model.getvalue())
        return Subwords(path)

    def __len__(self) -> int:
        return self.model.get_piece_size()

    def encode(self, sentence: str) -> list[int]:
        return self.model.encode(sentence)

    def decode(self, ids: Sequence[int]) -> str:
        return self.model.decode(self._content(ids))

    def pieces(self, sentence: str) -> list[str]:
        return self.model.encode(sentence, out_type=str)


class Shortlist(_Ids):
    """The `size` most frequent Moses tokens of one language, as Bahdanau et al. 2015; any other word is UNK."""

    def __init__(self, words: Sequence[str], lang: str):
        from sacremoses import MosesDetokenizer, MosesTokenizer

        if len(set(words)) != len(words) or set(words) & set(SPECIALS):
            raise ValueError("a shortlist's words must be distinct and not one of " + ", ".join(SPECIALS))
        self.lang = lang
        self.words = [*SPECIALS, *words]
        self.ids = {w: i for i, w in enumerate(self.words)}
        self._tokenizer, self._detokenizer = MosesTokenizer(lang=lang), MosesDetokenizer(lang=lang)

    @staticmethod
    def build(sentences: Iterable[str], size: int, lang: str) -> Shortlist:
        """The `size` most frequent tokens of `sentences` (ties: alphabetical by code point), for language `lang`."""
        if size < 1:
            raise ValueError(f"a shortlist needs size >= 1, not {size}")
        shortlist = Shortlist([], lang)
        counts = Counter(t for s in _clean(sentences) for t in shortlist.tokens(s))
        for special in SPECIALS:
            counts.pop(special, None)
        kept = sorted(counts, key=lambda w: (-counts[w], w))[:size]
        return Shortlist(kept, lang)

    def save(self, path: str | Path, stamp: dict | None = None) -> None:
        words = self.words[len(SPECIALS) :]
        record = {
            "format": SHORTLIST_FORMAT,
            "lang": self.lang,
            "size": len(words),
            "stamp": stamp or {},
            "words_sha256": _digest(words),
            "words": words,
        }
        _write_atomically(Path(path), json.dumps(record, ensure_ascii=False, indent=0).encode("utf-8"))

    @staticmethod
    def load(path: str | Path) -> Shortlist:
        """The shortlist saved at `path`, after checking its words against the sha256 saved with them."""
        record = _read_json(Path(path))
        if record.get("words_sha256") != _digest(record.get("words", [])):
            raise ValueError(
                f"the words in {path} do not match the sha256 saved with them: the file is damaged or "
                "was edited; delete it to build the shortlist again"
            )
        return Shortlist(record["words"], record["lang"])

    def tokens(self, sentence: str) -> list[str]:
        """The sentence's Moses tokens (before any word becomes UNK)."""
        return self._tokenizer.tokenize(sentence, escape=False)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, sentence: str) -> list[int]:
        return [self.ids.get(t, UNK) for t in self.tokens(sentence)]

    def decode(self, ids: Sequence[int]) -> str:
        text = self._detokenizer.detokenize([self.words[i] for i in self._content(ids)], unescape=False)
        return _GUILLEMET_CLOSE.sub("»", _GUILLEMET_OPEN.sub("«", text))

    def pieces(self, sentence: str) -> list[str]:
        """The Moses tokens, one per id of `encode` (words off the shortlist keep their spelling, their id is UNK)."""
        return self.tokens(sentence)


def train_or_load(kind: str, sentences: Sequence[str], size: int, path: str | Path, lang: str) -> Tokenizer:
    """The tokenizer cached at `path` if there is one, else a new one trained on `sentences` and saved there.

    kind "bpe": `Subwords` with `size` pieces; kind "word": `Shortlist` of `size` words (plus 4 specials).
    A cached file made from other sentences, size, kind or language, or whose content does not match the sha256
    saved with it, raises ValueError naming the file to delete. A file saved without a sha256 (by an older
    version) is trained again.
    """
    if kind not in KINDS:
        raise ValueError(f"tokenizer kind {kind!r} is not one of {', '.join(map(repr, KINDS))}")
    path = Path(path)
    sentences = _clean(sentences)
    stamp = {"kind": kind, "size": size, "lang": lang, "sentences": len(sentences), "sha256": _digest(sentences)}
    stamp_path = path.with_name(path.name + ".stamp.json")
    if kind == "word":
        if path.is_file() and (record := _read_json(path)).get("format") != "attnmem-shortlist/1":
            _check_stamp(path, record.get("stamp", {}), stamp)
            return Shortlist.load(path)
        shortlist = Shortlist.build(sentences, size, lang)
        shortlist.save(path, stamp)
        return shortlist
    # the stamp is written last, so a model without one (or without its sha256) is unfinished
    if path.is_file() and stamp_path.is_file() and "model_sha256" in (found := _read_json(stamp_path)):
        _check_stamp(path, found, stamp)
        if (digest := hashlib.sha256(path.read_bytes()).hexdigest()) != found["model_sha256"]:
            raise ValueError(
                f"{path} has sha256 {digest}, but {stamp_path.name} says {found['model_sha256']}: "
                f"the file is damaged; delete it (and {stamp_path.name}) to train the tokenizer again"
            )
        return Subwords(path)
    stamp_path.unlink(missing_ok=True)
    subwords = Subwords.train(sentences, size, path)
    stamp["model_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    _write_atomically(stamp_path, json.dumps(stamp).encode("utf-8"))
    return subwords


_GUILLEMET_OPEN = re.compile(r"«\s+")
_GUILLEMET_CLOSE = re.compile(r"\s+»")


def _clean(sentences: Iterable[str]) -> list[str]:
    if isinstance(sentences, str):
        raise TypeError("expected a sequence of sentences, got one string")
    sentences = list(sentences)
    if not sentences:
        raise ValueError("no sentences to train a tokenizer on")
    if bad := [s for s in sentences if not isinstance(s, str)][:3]:
        raise TypeError(f"sentences must be str, got {bad!r}")
    return sentences


def _digest(sentences: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for s in sentences:
        digest.update(s.encode("utf-8") + b"\0")
    return digest.hexdigest()


def _check_stamp(path: Path, found: dict, expected: dict) -> None:
    differs = [k for k in expected if found.get(k) != expected[k]]
    if differs:
        raise ValueError(
            f"the tokenizer cached at {path} was made with other {', '.join(differs)} "
            f"({ {k: found.get(k) for k in differs} } instead of { {k: expected[k] for k in differs} }); "
            "delete it (and its .stamp.json) to train a new one, or use another path"
        )


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {path} ({error}); delete it to train the tokenizer again") from None


def _write_atomically(path: Path, data: bytes) -> None:
    with atomic_write(path) as f:
        f.write(data)
