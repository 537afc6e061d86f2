"""The rule-based peer baseline of the translation chapters: Apertium English→Spanish.

Apertium (Forcada et al. 2011) translates with morphological analysers, a bilingual
dictionary and structural transfer rules, no training data. It runs here as the Debian
packages `apertium` and `apertium-eng-spa` install it, `apertium -u eng-spa` (-u: unknown
words without Apertium's "*" mark), reading plain text on stdin.

All sentences go through one process. A newline alone is only a blank to Apertium: its
transfer rules move words across it ("the big\\nhouse" → "la casa\\ngrande"). A blank line is
a sentence end to its text deformatter, so sentences are sent one per line with a blank line
between them, and the output is split the same way; a count that does not match raises
rather than misaligning. Whitespace inside a sentence (newlines included) becomes one space;
an empty or blank sentence is not sent and translates to "". Each translation starts with
a capital, as Apertium writes any sentence it is given alone. Apertium's other marks ("#"
before a word it could not generate, "@" before one missing from the bilingual dictionary)
stay, as in its usual output.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

PAIR = "eng-spa"
PACKAGE = "apertium-eng-spa"
INSTALL = "sudo apt-get install apertium apertium-eng-spa"


class ApertiumMissing(RuntimeError):
    """The apertium command or its English→Spanish data is not installed; the message names the install command."""


def _missing() -> str | None:
    """Why Apertium cannot translate English→Spanish here, or None when it can."""
    if shutil.which("apertium") is None:
        return f"the `apertium` command is not on PATH; install it with `{INSTALL}`"
    done = subprocess.run(["apertium", "-l"], capture_output=True, text=True)
    if PAIR not in done.stdout.split():
        return (
            f"Apertium has no {PAIR} language pair (`apertium -l` lists: "
            f"{' '.join(done.stdout.split()) or 'none'}); install it with `{INSTALL}`"
        )
    return None


def available() -> bool:
    """Whether `apertium -u eng-spa` can run here."""
    return _missing() is None


def version() -> str | None:
    """The Debian version of the apertium-eng-spa package (for provenance), or None if dpkg does not know it."""
    if shutil.which("dpkg-query") is None:
        return None
    done = subprocess.run(["dpkg-query", "-W", "-f=${Status}\t${Version}", PACKAGE], capture_output=True, text=True)
    status, _, found = done.stdout.partition("\t")
    return found.strip() if done.returncode == 0 and status.endswith(" installed") and found.strip() else None


def translate(sentences: Sequence[str]) -> list[str]:
    """The Apertium translation of each English sentence, in order, one output per input."""
    if isinstance(sentences, str):
        raise TypeError("translate takes a sequence of sentences, got one string")
    if (why := _missing()) is not None:
        raise ApertiumMissing(why)
    lines = [" ".join(s.split()) for s in sentences]
    sent = [line for line in lines if line]
    if not sent:
        return ["" for _ in lines]
    done = subprocess.run(
        ["apertium", "-u", PAIR],
        input="".join(line + "\n\n" for line in sent),
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    if done.returncode != 0:
        raise RuntimeError(f"`apertium -u {PAIR}` failed (exit {done.returncode}):\n{done.stderr.strip()[-2000:]}")
    out = done.stdout.split("\n\n")
    if out[-1].strip() == "":
        out.pop()
    if len(out) != len(sent):
        raise RuntimeError(
            f"`apertium -u {PAIR}` returned {len(out)} sentences for {len(sent)}; the output cannot "
            "be aligned to the input (a sentence with a character Apertium treats as a break?)"
        )
    translated = iter(" ".join(o.split()) for o in out)
    return [next(translated) if line else "" for line in lines]
