import json
import random

import pytest

from attnmem_core.data import subwords
from attnmem_core.data.subwords import Shortlist, Subwords, Tokenizer, train_or_load

SPANISH = [
    "¿Qué haréis vosotros en el día de la visitación?",
    "¡Ay de vosotros, escribas y fariseos, hipócritas!",
    "Y Jesús le dijo: Sígueme; y él se levantó y le siguió.",
    "Eran como 5.000 hombres, sin contar las mujeres y los niños.",
    "En el año 15 del imperio de Tiberio César, siendo gobernador Poncio Pilato...",
    "El niño crecía y se fortalecía, y la gracia de Dios era sobre él.",
    "Señor, ¿a quién iremos? Tú tienes palabras de vida eterna.",
    "Porque de tal manera amó Dios al mundo, que ha dado a su Hijo unigénito (Juan 3).",
    "Dijo: «No temáis»; y ellos, atónitos, callaron.",
    "Pagó 30 piezas de plata, ¡y aún pedía más!",
]
ENGLISH = [
    "And Jesus said unto him, Follow me; and he arose, and followed him.",
    "What will ye do in the day of visitation?",
    "They were about 5,000 men, beside women and children.",
    "Don't be afraid: it's I (said he), and the man's son went home.",
    "Woe unto you, scribes and Pharisees, hypocrites!",
]
WORDS = (
    "el la los las de del y que en a por para con su sus dijo Dios Señor pueblo tierra casa hijo hijos "
    "padre madre rey día noche agua pan camino corazón oración señal profeta ciudad él también así"
).split()


def corpus(n=1500, seed=0):
    rng = random.Random(seed)
    made = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16))).capitalize() + rng.choice(".;?!:")
        for _ in range(n)
    ]
    return made + SPANISH * 3


@pytest.fixture(scope="module")
def bpe(tmp_path_factory):
    return Subwords.train(corpus(), 300, tmp_path_factory.mktemp("bpe") / "es.model")


def test_subwords_special_ids_and_interface(bpe):
    assert isinstance(bpe, Tokenizer)
    assert (bpe.pad_id, bpe.bos_id, bpe.eos_id, bpe.unk_id) == (0, 1, 2, 3)
    assert len(bpe) == 300
    assert [bpe.model.id_to_piece(i) for i in range(4)] == ["<pad>", "<s>", "</s>", "<unk>"]
    ids = bpe.encode(SPANISH[0])
    assert ids and all(4 <= i < len(bpe) for i in ids)  # no bos/eos added, nothing unknown
    assert len(bpe.pieces(SPANISH[0])) == len(ids)


@pytest.mark.parametrize("sentence", SPANISH)
def test_subwords_round_trip(bpe, sentence):
    assert bpe.decode(bpe.encode(sentence)) == sentence


def test_subwords_decode_skips_pad_bos_eos_and_stops_at_nothing(bpe):
    a, b = bpe.encode(SPANISH[1]), bpe.encode(SPANISH[2])
    assert bpe.decode([1, *a, 2, 0, 0]) == SPANISH[1]
    assert bpe.decode([1, *a, 2, *b, 2, 0]) == bpe.decode(a + b)
    assert bpe.decode([]) == ""
    with pytest.raises(ValueError, match="outside this vocabulary"):
        bpe.decode([len(bpe)])


def test_subwords_training_is_deterministic(tmp_path):
    first = Subwords.train(corpus(), 250, tmp_path / "a.model")
    second = Subwords.train(corpus(), 250, tmp_path / "b.model")
    assert (tmp_path / "a.model").read_bytes() == (tmp_path / "b.model").read_bytes()
    assert all(first.encode(s) == second.encode(s) for s in SPANISH)


def test_a_vocabulary_larger_than_the_corpus_makes_is_sized_to_the_corpus(tmp_path):
    # before: "vocab_size 300 ... ask for at most 182" for a valid 60-pair corpus, with no notebook parameter to set
    sixty = [" ".join(WORDS[(i * j) % 8] for j in range(1, 6)) + "." for i in range(60)]  # 60 pairs of few words
    small = Subwords.train(sixty, 300, tmp_path / "small.model")
    assert len(small) < 300
    assert all(small.decode(small.encode(s)) == s for s in sixty)
    largest = Subwords.train(sixty, len(small), tmp_path / "largest.model")  # the same pieces, asked exactly
    assert [largest.model.id_to_piece(i) for i in range(len(largest))] == [
        small.model.id_to_piece(i) for i in range(len(small))
    ]


def test_a_vocabulary_smaller_than_the_characters_says_how_many_are_needed(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"vocab_size 20 is less than the \d+ pieces \(4 specials and every "
        r"character\) these 10 sentences need; ask for more",
    ):
        Subwords.train(SPANISH, 20, tmp_path / "x.model")
    assert not (tmp_path / "x.model").exists()


def test_subwords_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="Subwords.train"):
        Subwords(tmp_path / "none.model")


def test_a_file_that_is_no_sentencepiece_model_names_the_file_to_delete(tmp_path):
    # before: sentencepiece's raw "could not parse ModelProto", no fix named
    path = tmp_path / "es.model"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match=f"{path} is not a readable sentencepiece model .*; delete it"):
        Subwords(path)


@pytest.fixture(scope="module")
def words_es():
    return Shortlist.build(corpus(), 30_000, "es")


def test_shortlist_ids_frequency_order_and_ties():
    shortlist = Shortlist.build(["c a b a", "d a"], 2, "en")
    assert shortlist.words == ["<pad>", "<s>", "</s>", "<unk>", "a", "b"]  # a: 3; b, c, d: 1 each, b first
    assert len(shortlist) == 6 and isinstance(shortlist, Tokenizer)
    assert shortlist.encode("a c b z") == [4, 3, 5, 3]
    assert shortlist.decode([1, 4, 3, 5, 2, 0]) == "a <unk> b"
    assert shortlist.pieces("a c b z") == ["a", "c", "b", "z"]
    assert Shortlist.build(["d a b a", "c a"], 2, "en").words == shortlist.words  # order of first sight is no tie-break


@pytest.mark.parametrize("sentence", SPANISH)
def test_shortlist_round_trip_spanish(words_es, sentence):
    ids = words_es.encode(sentence)
    assert 3 not in ids
    assert len(words_es.pieces(sentence)) == len(ids)
    assert words_es.decode(ids) == sentence


@pytest.mark.parametrize("sentence", ENGLISH)
def test_shortlist_round_trip_english(sentence):
    shortlist = Shortlist.build(ENGLISH, 1000, "en")
    assert shortlist.decode(shortlist.encode(sentence)) == sentence


def test_shortlist_documented_moses_losses():
    shortlist = Shortlist.build(["Mateo 5:3 dice"], 10, "es")
    assert shortlist.decode(shortlist.encode("Mateo 5:3 dice")) == "Mateo 5: 3 dice"


def test_shortlist_save_and_load(tmp_path, words_es):
    words_es.save(tmp_path / "es.json")
    loaded = Shortlist.load(tmp_path / "es.json")
    assert loaded.words == words_es.words and loaded.lang == "es"
    assert all(loaded.encode(s) == words_es.encode(s) for s in SPANISH)


@pytest.mark.parametrize("kind", ["bpe", "word"])
def test_train_or_load_caches_and_checks_what_it_was_made_from(tmp_path, kind, monkeypatch):
    path = tmp_path / f"es.{kind}"
    first = train_or_load(kind, corpus(), 200, path, "es")
    assert path.is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no scratch left

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although a cached tokenizer was there")

    monkeypatch.setattr(Subwords, "train", no_training)
    monkeypatch.setattr(Shortlist, "build", no_training)
    again = train_or_load(kind, corpus(), 200, path, "es")
    assert type(again) is type(first) and len(again) == len(first)
    assert all(again.encode(s) == first.encode(s) for s in SPANISH)
    with pytest.raises(ValueError, match="delete it"):
        train_or_load(kind, corpus(seed=1), 200, path, "es")
    with pytest.raises(ValueError, match="size"):
        train_or_load(kind, corpus(), 150, path, "es")


def test_train_or_load_rejects_unknown_kind(tmp_path):
    with pytest.raises(ValueError, match="'bpe', 'word'"):
        train_or_load("chars", SPANISH, 100, tmp_path / "x", "es")


def test_word_cache_file_is_readable_json(tmp_path):
    train_or_load("word", SPANISH, 50, tmp_path / "es.json", "es")
    record = json.loads((tmp_path / "es.json").read_text(encoding="utf-8"))
    assert record["lang"] == "es" and record["stamp"]["kind"] == "word" and "Señor" in record["words"]
    assert subwords.SPECIALS == ("<pad>", "<s>", "</s>", "<unk>")


def test_a_damaged_cached_subword_model_names_the_file_to_delete(tmp_path, monkeypatch):
    path = tmp_path / "es.model"
    train_or_load("bpe", corpus(), 200, path, "es")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit: sentencepiece may well still parse it
    path.write_bytes(bytes(data))
    with pytest.raises(
        ValueError,
        match=f"{path} has sha256 .*, but es.model.stamp.json says .*: the file is "
        "damaged; delete it \\(and es.model.stamp.json\\)",
    ):
        train_or_load("bpe", corpus(), 200, path, "es")
    path.write_bytes(bytes(data[:100]))  # truncated
    with pytest.raises(ValueError, match="the file is damaged; delete it"):
        train_or_load("bpe", corpus(), 200, path, "es")


def test_an_edited_cached_shortlist_names_the_file_to_delete(tmp_path):
    path = tmp_path / "es.json"
    train_or_load("word", corpus(), 50, path, "es")
    record = json.loads(path.read_text(encoding="utf-8"))
    record["words"][0] = "Diso"
    path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(
        ValueError,
        match=f"the words in {path} do not match the sha256 saved with them: the file is "
        "damaged or was edited; delete it",
    ):
        train_or_load("word", corpus(), 50, path, "es")


@pytest.mark.parametrize("kind", ["bpe", "word"])
def test_a_cached_tokenizer_saved_without_a_sha256_is_made_again(tmp_path, kind):
    path = tmp_path / f"es.{kind}"
    first = train_or_load(kind, corpus(), 200, path, "es")
    record_path = path.with_name(path.name + ".stamp.json") if kind == "bpe" else path
    record = json.loads(record_path.read_text(encoding="utf-8"))
    record.pop("model_sha256" if kind == "bpe" else "words_sha256")  # as an older version saved it
    if kind == "word":
        record["format"] = "attnmem-shortlist/1"
    record_path.write_text(json.dumps(record), encoding="utf-8")
    again = train_or_load(kind, corpus(), 200, path, "es")
    assert all(again.encode(s) == first.encode(s) for s in SPANISH)
    assert ("model_sha256" if kind == "bpe" else "words_sha256") in json.loads(record_path.read_text(encoding="utf-8"))
