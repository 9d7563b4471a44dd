"""Names people read and match on (business keys, user names) hold no invisible tricks.

Refused: control characters (C0, DEL, C1: NUL, newlines, escapes), line and paragraph
separators, lone surrogates, and the bidirectional formatting characters (U+061C,
U+200E/F, U+202A-U+202E, U+2066-U+2069) that make a name display differently from what
it is (the "Trojan Source" trick): ``RC-1`` followed by U+202E shows reversed text.
"""

from __future__ import annotations

import unicodedata

from .errors import ValidationFailed

BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def bad_character(text: str) -> str | None:
    """The first character not allowed in a name, described (``None`` when clean)."""
    if text.isascii() and text.isprintable():
        return None
    for ch in text:
        if ch in BIDI_CONTROLS:
            return f"bidirectional control U+{ord(ch):04X}"
        if unicodedata.category(ch) in _REFUSED_CATEGORIES:
            return f"control character U+{ord(ch):04X}"
    return None


def check_name(text: str, field: str) -> str:
    """Refuse ``text`` (422 naming ``field``) when it holds a refused character."""
    found = bad_character(text)
    if found:
        raise ValidationFailed(
            f"{field} must not contain a {found}",
            errors=[{"field": field, "message": f"contains a {found}"}],
        )
    return text
