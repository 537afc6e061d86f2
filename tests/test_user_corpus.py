"""The user's own sentence pairs: TSV and line-aligned files read into a ParallelCorpus, and every bad input refused."""

import json

import pytest

from attnmem_core.data import user_corpus
from attnmem_core.data.user_corpus import CorpusError


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_read_tsv_reads_tatoeba_and_anki_lines(tmp_path):
    path = write(
        tmp_path / "spa.tsv",
        "\ufeffGo.\tVe.\nHi.\tHola.\tCC-BY 2.0 (France) Attribution: tatoeba.org\nI won!\t¡He ganado!\n",
    )
    frame = user_corpus.read_tsv(path)
    assert list(frame.columns) == ["source", "target", "ref"]
    assert frame.values.tolist() == [
        ["Go.", "Ve.", "spa.tsv:1"],
        ["Hi.", "Hola.", "spa.tsv:2"],
        ["I won!", "¡He ganado!", "spa.tsv:3"],
    ]


def test_a_tsv_line_without_a_tab_names_the_file_and_line(tmp_path):
    path = write(tmp_path / "spa.tsv", "Go.\tVe.\nHi. Hola.\n")
    with pytest.raises(CorpusError, match=f"{path}, line 2, has no tab: each line must be source<TAB>target"):
        user_corpus.read_tsv(path)


def test_a_tsv_line_with_an_empty_side_is_refused(tmp_path):
    path = write(tmp_path / "spa.tsv", "Go.\t \n")
    with pytest.raises(CorpusError, match=f"{path}, line 1, has an empty target; remove the line or fill it in"):
        user_corpus.read_tsv(path)


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_an_empty_file_is_refused(tmp_path, text):
    path = write(tmp_path / "spa.tsv", text)
    with pytest.raises(CorpusError, match=f"{path} is empty; it must hold one sentence pair per line"):
        user_corpus.read_tsv(path)
    other = write(tmp_path / "train.de", "Ein Hund.\n")
    with pytest.raises(CorpusError, match=f"{path} is empty"):
        user_corpus.read_aligned(other, path)


def test_a_missing_or_non_utf8_file_is_refused(tmp_path):
    with pytest.raises(CorpusError, match="gone.tsv does not exist"):
        user_corpus.read_tsv(tmp_path / "gone.tsv")
    path = write(tmp_path / "latin1.tsv", "Hi.\tAdiós.\n", encoding="latin-1")
    with pytest.raises(CorpusError, match=f"{path} is not UTF-8 text .*iconv"):
        user_corpus.read_tsv(path)


def test_read_aligned_pairs_line_by_line_and_skips_lines_blank_on_both_sides(tmp_path):
    source = write(tmp_path / "train.en", "A dog runs.\n\nTwo men talk.\n")
    target = write(tmp_path / "train.de", "Ein Hund rennt.\n\nZwei Männer reden.\n")
    frame = user_corpus.read_aligned(source, target)
    assert frame.values.tolist() == [
        ["A dog runs.", "Ein Hund rennt.", "train.en:1"],
        ["Two men talk.", "Zwei Männer reden.", "train.en:3"],
    ]


def test_misaligned_files_name_both_files_and_both_counts(tmp_path):
    source = write(tmp_path / "train.en", "A dog runs.\nTwo men talk.\nA cat.\n")
    target = write(tmp_path / "train.de", "Ein Hund rennt.\nZwei Männer reden.\n")
    with pytest.raises(CorpusError, match=f"{source} has 3 lines but {target} has 2"):
        user_corpus.read_aligned(source, target)


def test_a_line_empty_on_one_side_only_names_that_file_and_line(tmp_path):
    source = write(tmp_path / "train.en", "A dog runs.\nTwo men talk.\n")
    target = write(tmp_path / "train.de", "Ein Hund rennt.\n \n")
    with pytest.raises(CorpusError, match=f"{target}, line 2, is empty but the other file's line 2 is not"):
        user_corpus.read_aligned(source, target)


def test_load_mixes_layouts_and_records_provenance(tmp_path):
    train = write(tmp_path / "train.tsv", "Go.\tVe.\nHi.\tHola.\n")
    valid = write(tmp_path / "valid.tsv", "Run!\t¡Corre!\n")
    test = [write(tmp_path / "test.en", "Thanks.\n"), write(tmp_path / "test.es", "Gracias.\n")]
    corpus = user_corpus.load({"train": train, "valid": valid, "test": test})
    assert isinstance(corpus, user_corpus.ParallelCorpus)
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (2, 1, 1)
    assert corpus.test.ref.tolist() == ["test.en:1"]
    provenance = json.loads(json.dumps(corpus.provenance))
    assert provenance["sizes"] == {"train": 2, "valid": 1, "test": 1}
    assert provenance["splits"]["test"]["format"] == "aligned"
    assert len(provenance["splits"]["train"]["files"][str(train)]) == 64  # sha256 of the file read


def test_load_refuses_a_split_that_is_neither_a_path_nor_a_pair(tmp_path):
    train = write(tmp_path / "train.tsv", "Go.\tVe.\n")
    with pytest.raises(CorpusError, match="a .tsv path or a \\[source_path, target_path\\] pair"):
        user_corpus.load({"train": train, "valid": train, "test": [train]})


@pytest.mark.parametrize(
    "corpus_files, given",
    [
        ({"train": "a.tsv", "valid": "b.tsv"}, "not \\['train', 'valid'\\]"),
        ({"train": "a", "valid": "b", "test": "c", "dev": "d"}, "not \\['dev', 'test', 'train', 'valid'\\]"),
        ("train.tsv", "not 'train.tsv'"),
        (["a.tsv", "b.tsv", "c.tsv"], "not \\['a.tsv', 'b.tsv', 'c.tsv'\\]"),
    ],
)
def test_corpus_files_must_map_exactly_train_valid_and_test(corpus_files, given):
    # before: a missing split or a string reached Python as a raw TypeError (`load(**corpus_files)`)
    with pytest.raises(
        CorpusError, match=f"corpus_files must map exactly the splits train, valid, test to files, {given}: e.g. "
    ):
        user_corpus.load(corpus_files)


@pytest.mark.parametrize(
    "separator", ["\u0085", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\r", "\x00", "\x7f"]
)
def test_a_line_separator_inside_a_line_is_refused_with_file_line_and_column(tmp_path, separator):
    # before: str.splitlines broke there; with one in each file the counts matched and the pairs between shifted
    source = write(tmp_path / "train.en", f"One.\nTwo{separator}more.\nThree.\nFour.\n")
    target = write(tmp_path / "train.es", f"Uno.\nDos más.\nTres.{separator}\nCuatro.\n")
    with pytest.raises(
        CorpusError,
        match=f"{source}, line 2, column 4, holds the control character "
        f"U\\+{ord(separator):04X}, .* replace it with a space or remove it",
    ):
        user_corpus.read_aligned(source, target)
    tsv = write(tmp_path / "train.tsv", f"One.\tUno.\nTwo.\tDos{separator}.\n")
    with pytest.raises(CorpusError, match=f"{tsv}, line 2, column 9, holds the control character"):
        user_corpus.read_tsv(tsv)


def test_lines_end_at_newline_only_and_crlf_files_read_as_lf_files(tmp_path):
    source = write(tmp_path / "train.en", "One.\r\nTwo, three.\r\n")
    target = write(tmp_path / "train.es", "Uno.\nDos, tres.")  # no line end after the last line
    frame = user_corpus.read_aligned(source, target)
    assert frame.values.tolist() == [["One.", "Uno.", "train.en:1"], ["Two, three.", "Dos, tres.", "train.en:2"]]


def test_a_side_longer_than_a_sentence_is_refused_naming_the_line(tmp_path):
    # before: one 200,000-word test line took 8.5 minutes in chapter 2's padding check, then the kernel was killed
    longest = "a" * (user_corpus.MAX_CHARACTERS - 2) + "."
    huge = " ".join(["word"] * 200_000)
    source = write(tmp_path / "test.en", f"Fine.\n{longest}\n{huge}\n")
    target = write(tmp_path / "test.es", "Bien.\nLargo.\nEnorme.\n")
    with pytest.raises(
        CorpusError,
        match=f"{source}, line 3, has a side of 999,999 characters, more than the "
        "3,000 a sentence may have; split it into sentences on both sides",
    ):
        user_corpus.read_aligned(source, target)
    tsv = write(tmp_path / "test.tsv", f"Fine.\tBien.\nShort.\t{huge}\n")
    with pytest.raises(CorpusError, match=f"{tsv}, line 2, has a side of 999,999 characters"):
        user_corpus.read_tsv(tsv)
    at_the_cap = user_corpus.read_aligned(write(tmp_path / "ok.en", longest), write(tmp_path / "ok.es", "Largo."))
    assert at_the_cap.source.str.len().tolist() == [user_corpus.MAX_CHARACTERS - 1]
