"""The user's own sentence pairs: TSV and line-aligned files read into a ParallelCorpus, and every bad input refused."""
import json

import pytest

from attnmem_core.data import user_corpus
from attnmem_core.data.user_corpus import CorpusError


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_read_tsv_reads_tatoeba_and_anki_lines(tmp_path):
    path = write(tmp_path / "spa.tsv", "\ufeffGo.\tVe.\nHi.\tHola.\tCC-BY 2.0 (France) Attribution: tatoeba.org\n"
                                        "I won!\t¡He ganado!\n")
    frame = user_corpus.read_tsv(path)
    assert list(frame.columns) == ["source", "target", "ref"]
    assert frame.values.tolist() == [["Go.", "Ve.", "spa.tsv:1"], ["Hi.", "Hola.", "spa.tsv:2"],
                                     ["I won!", "¡He ganado!", "spa.tsv:3"]]


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
    assert frame.values.tolist() == [["A dog runs.", "Ein Hund rennt.", "train.en:1"],
                                     ["Two men talk.", "Zwei Männer reden.", "train.en:3"]]


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
    corpus = user_corpus.load(train, valid, test)
    assert isinstance(corpus, user_corpus.ParallelCorpus)
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (2, 1, 1)
    assert corpus.test.ref.tolist() == ["test.en:1"]
    provenance = json.loads(json.dumps(corpus.provenance))
    assert provenance["sizes"] == {"train": 2, "valid": 1, "test": 1}
    assert provenance["splits"]["test"]["format"] == "aligned"
    assert len(provenance["splits"]["train"]["files"][str(train)]) == 64   # sha256 of the file read


def test_load_refuses_a_split_that_is_neither_a_path_nor_a_pair(tmp_path):
    train = write(tmp_path / "train.tsv", "Go.\tVe.\n")
    with pytest.raises(CorpusError, match="a .tsv path or a \\[source_path, target_path\\] pair"):
        user_corpus.load(train, train, [train])
