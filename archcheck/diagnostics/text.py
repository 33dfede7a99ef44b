"""Showing text from a spec or the command line safely, in every output format.

A name in a spec (a layer type, a field, a layer or dim name) or a file name
given on the command line may hold anything: a newline that forges another
``file:line: error`` line or a CI workflow command (``::error ...::``), an ESC
sequence that reaches the terminal, a bidi control that reorders the line, a
zero-width space that makes ``Conv2d`` unknown while looking right, a Cyrillic
``С`` that looks like a Latin ``C``.

:func:`escape` shows every character that is not printable (Unicode's "other"
and "separator" categories but the space: controls, format characters such as
U+200B and U+202E, NBSP, line separators, surrogates, private-use and
unassigned code points) as a Python escape (``\\x01``, ``\\u200b``), so that
the text stays on one line and means what it shows. :func:`unusual` names the
invisible characters and the look-alikes (by their Unicode names, from
:mod:`unicodedata`); :func:`shown` is both, for a diagnostic's message.

Look-alikes are found in two ways: a letter whose NFKC form is ASCII
(fullwidth ``Ｒ``, mathematical ``𝐂``, ligatures) and the Cyrillic and Greek
letters in :data:`LOOKALIKES`, a small explicit table of the ones that look
like Latin letters (no confusables database is installed with archcheck; this
table covers Unicode's confusables for the Latin letters in those scripts).
A Cyrillic or Greek letter is named only in a word that also holds Latin
letters, or whose letters all look Latin: an all-Cyrillic name is left alone.

:func:`skeleton` folds all of this away (``Сonv2d\\u200b`` -> ``Conv2d``), so
that "did you mean" finds what the text looks like.
"""

from __future__ import annotations

import re
import unicodedata

# Cyrillic and Greek letters that look like Latin letters in common fonts.
LOOKALIKES: dict[str, str] = {
    # Cyrillic capitals
    "\u0405": "S",  # DZE
    "\u0406": "I",  # BYELORUSSIAN-UKRAINIAN I
    "\u0408": "J",  # JE
    "\u0410": "A",
    "\u0412": "B",  # VE
    "\u0415": "E",  # IE
    "\u041a": "K",  # KA
    "\u041c": "M",  # EM
    "\u041d": "H",  # EN
    "\u041e": "O",
    "\u0420": "P",  # ER
    "\u0421": "C",  # ES
    "\u0422": "T",  # TE
    "\u0425": "X",  # HA
    "\u04ae": "Y",  # STRAIGHT U
    "\u04c0": "I",  # PALOCHKA
    "\u051a": "Q",  # QA
    "\u051c": "W",  # WE
    # Cyrillic small letters
    "\u0430": "a",
    "\u0435": "e",  # IE
    "\u043e": "o",
    "\u0440": "p",  # ER
    "\u0441": "c",  # ES
    "\u0443": "y",  # U
    "\u0445": "x",  # HA
    "\u0455": "s",  # DZE
    "\u0456": "i",  # BYELORUSSIAN-UKRAINIAN I
    "\u0458": "j",  # JE
    "\u04bb": "h",  # SHHA
    "\u0501": "d",  # KOMI DE
    "\u051b": "q",  # QA
    "\u051d": "w",  # WE
    # Greek capitals
    "\u0391": "A",  # ALPHA
    "\u0392": "B",  # BETA
    "\u0395": "E",  # EPSILON
    "\u0396": "Z",  # ZETA
    "\u0397": "H",  # ETA
    "\u0399": "I",  # IOTA
    "\u039a": "K",  # KAPPA
    "\u039c": "M",  # MU
    "\u039d": "N",  # NU
    "\u039f": "O",  # OMICRON
    "\u03a1": "P",  # RHO
    "\u03a4": "T",  # TAU
    "\u03a5": "Y",  # UPSILON
    "\u03a7": "X",  # CHI
    # Greek small letters
    "\u03bf": "o",  # OMICRON
    "\u03bd": "v",  # NU
    "\u03b9": "i",  # IOTA
    "\u03ba": "k",  # KAPPA
    "\u03c1": "p",  # RHO
    "\u03c5": "u",  # UPSILON
}

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_WORD = re.compile(r"\w+")
_MARK = " (contains "  # starts the part of a message that names unusual characters


def _esc(c: str) -> str:
    if c in _NAMED:
        return _NAMED[c]
    n = ord(c)
    if n < 0x100:
        return f"\\x{n:02x}"
    if n < 0x10000:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"


def escape(text: str) -> str:
    """``text`` with every non-printable character as a Python escape: one line, nothing hidden.

    Idempotent (the result is printable), so applying it twice is harmless.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _esc(c) for c in text)


def char_name(c: str) -> str:
    """``U+200B ZERO WIDTH SPACE``."""
    name = unicodedata.name(c, "")
    return f"U+{ord(c):04X} {name}" if name else f"U+{ord(c):04X}"


def lookalike(c: str) -> str | None:
    """The ASCII letter or digit ``c`` looks like, if it is not one itself."""
    if c.isascii():
        return None
    if c in LOOKALIKES:
        return LOOKALIKES[c]
    folded = unicodedata.normalize("NFKC", c)
    return folded if folded != c and folded.isascii() and folded.isalnum() else None


def unusual(text: str) -> list[str]:
    """Phrases naming the invisible characters and the look-alikes in ``text``, each once."""
    if text.isascii() and text.isprintable():
        return []
    out: list[str] = []
    seen: set[str] = set()
    for c in text:
        if c in seen or c.isascii():
            continue
        cat = unicodedata.category(c)
        if cat in ("Cf", "Zs", "Zl", "Zp"):  # invisible or a space that is not the space
            seen.add(c)
            out.append(char_name(c))
    for word in _WORD.findall(text):
        if word.isascii():
            continue
        alike = [c for c in word if lookalike(c) is not None]
        if not alike:
            continue
        if _passes_for_latin(word, alike):
            for c in alike:
                if c not in seen:
                    seen.add(c)
                    like = lookalike(c) or ""
                    latin = "Latin " if like.isalpha() else ""
                    out.append(f"{char_name(c)}, which looks like {latin}'{like}'")
    return out


def _passes_for_latin(word: str, alike: list[str]) -> bool:
    """Whether the look-alikes in ``word`` pass for Latin: the word mixes them with ASCII, or is all look-alikes."""
    if any(c.isascii() and c.isalpha() for c in word):
        return True
    return all(c.isascii() or c in alike for c in word)


def shown(text: str) -> str:
    """``text`` escaped, with its unusual characters named after it: for a diagnostic's message or hint."""
    if text.isascii() and text.isprintable():
        return text
    named = unusual(text)
    out = escape(text)
    if named and _MARK not in out:
        out += _MARK + "; ".join(named) + ")"
    return out


def skeleton(text: str) -> str:
    """What ``text`` looks like: invisible characters dropped, look-alikes as the ASCII they look like."""
    if text.isascii() and text.isprintable():
        return text
    out = []
    for c in text:
        if unicodedata.category(c) in ("Cf", "Cc"):
            continue
        if unicodedata.category(c) in ("Zs", "Zl", "Zp"):
            c = " "
        out.append(lookalike(c) or c)
    return "".join(out).strip()
