import os
import stat

import pytest

from attnmem_core import apertium
from attnmem_core.apertium import ApertiumMissing, translate

needs_apertium = pytest.mark.skipif(
    not apertium.available(),
    reason="Apertium eng-spa is not installed (sudo apt-get install apertium apertium-eng-spa)",
)

# Lines a plain newline-separated run would misalign: without a sentence end, Apertium's
# transfer moves words across the newline ("the big\nhouse is here" → "la casa\ngrande ...").
CROSSING = ["the big", "house is here", "bar", "sun moon", "I saw the", "red car"]
AWKWARD = [
    "",
    "   ",
    "\n",
    "...",
    "!",
    "?",
    "—",
    '"',
    "(",
    ")",
    "[",
    "]",
    "[x]",
    "^a$",
    "a/b",
    "\\",
    "*",
    "#",
    "@",
    "<br>",
    "&amp;",
    ".",
    ";",
    ":",
    "42",
    "3.5",
    "100%",
    "''",
    "a\nb",
    "  spaced  out  ",
]
ORDINARY = [
    "In the beginning God created the heaven and the earth.",
    "And the earth was without form, and void; and darkness was upon the face of the deep.",
    "Mr. Smith went to Washington.",
    "He said:",
    "and then,",
    "Yes.",
    "No!",
    "Why?",
    "The children of Israel went up out of the land of Egypt.",
    "Jesus wept.",
    "Hello world",
    "What will ye do in the day of visitation?",
    "Blessed are the poor in spirit.",
    "For God so loved the world.",
]
FIFTY = CROSSING + AWKWARD + ORDINARY


@needs_apertium
def test_translates_english_to_spanish():
    assert translate(["The house is white.", "The dog eats bread."]) == ["La casa es blanca.", "El perro come pan."]


@needs_apertium
def test_alignment_is_kept_for_fifty_awkward_sentences():
    assert len(FIFTY) == 50
    batch = translate(FIFTY)
    assert len(batch) == len(FIFTY)
    for sentence, out in zip(FIFTY, batch):
        if not sentence.strip():
            assert out == ""
        elif not any(c.isalpha() for c in sentence):
            assert out == " ".join(sentence.split())  # punctuation and numbers come back as they were
    # each sentence translates in the batch as it does alone (one process per sentence: the slow, safe way)
    for sentence in CROSSING + ["a\nb", "...", "Jesus wept.", "and then,"]:
        assert batch[FIFTY.index(sentence)] == translate([sentence])[0]
    assert batch[FIFTY.index("house is here")] == "La casa es aquí"


@needs_apertium
def test_nothing_to_translate():
    assert translate([]) == []
    assert translate(["", "  "]) == ["", ""]
    with pytest.raises(TypeError, match="sequence of sentences"):
        translate("The house is white.")


@needs_apertium
def test_version_is_the_debian_package_version():
    found = apertium.version()
    assert found and found[0].isdigit()


def test_missing_command_names_the_install_command(monkeypatch):
    monkeypatch.setattr(apertium.shutil, "which", lambda name: None)
    assert not apertium.available()
    assert apertium.version() is None
    with pytest.raises(ApertiumMissing, match="sudo apt-get install apertium apertium-eng-spa"):
        translate(["The house is white."])


def test_missing_language_pair_names_the_install_command(tmp_path, monkeypatch):
    fake = tmp_path / "apertium"
    fake.write_text("#!/bin/sh\necho eng-cat\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert not apertium.available()
    with pytest.raises(ApertiumMissing, match=r"no eng-spa language pair.*eng-cat.*sudo apt-get install apertium "):
        translate(["The house is white."])
