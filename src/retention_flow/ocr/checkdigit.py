"""Check characters for numbers printed on forms.

* ISO 7064 MOD 11-10 (digits in, one digit out): catches every single-digit error and
  nearly all transpositions of adjacent digits. Used for purely numeric references.
* ISO 7064 MOD 37-36 (letters and digits in, one character out): the same for
  alphanumeric strings such as case numbers (``RC-2026-000123-4``); separators are ignored.
  Forms print its value as two digits, see :func:`printed_check`.
"""

from __future__ import annotations

ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SEPARATORS = "- "


def mod11_10(digits: str) -> str:
    """The ISO 7064 MOD 11-10 check digit of ``digits``."""
    if not digits or not digits.isdigit() or not digits.isascii():
        raise ValueError(f"MOD 11-10 needs a non-empty string of digits, got {digits!r}")
    product = 10
    for char in digits:
        total = (product + int(char)) % 10 or 10
        product = (total * 2) % 11
    return str((11 - product) % 10)


def mod11_10_valid(digits_with_check: str) -> bool:
    if len(digits_with_check) < 2 or not (
        digits_with_check.isdigit() and digits_with_check.isascii()
    ):
        return False
    return mod11_10(digits_with_check[:-1]) == digits_with_check[-1]


def _alnum(text: str) -> str:
    cleaned = "".join(c for c in text.upper() if c not in SEPARATORS)
    if not cleaned or any(c not in ALPHANUMERIC for c in cleaned):
        raise ValueError(f"MOD 37-36 needs letters A-Z and digits, got {text!r}")
    return cleaned


def mod37_36_value(text: str) -> int:
    """The ISO 7064 MOD 37-36 check value (0-35) of ``text`` (``-`` and space ignored)."""
    product = 36
    for char in _alnum(text):
        total = (product + ALPHANUMERIC.index(char)) % 36 or 36
        product = (total * 2) % 37
    return (37 - product) % 36


def mod37_36(text: str) -> str:
    """The ISO 7064 MOD 37-36 check character of ``text``."""
    return ALPHANUMERIC[mod37_36_value(text)]


def printed_check(text: str) -> str:
    """The check value printed as two digits, offset by 10 ("10"-"45"): digits cannot suffer
    the O/0, I/1, S/5 confusions a check *letter* would, and without a leading zero Tesseract
    does not read "07" as "O07"."""
    return str(mod37_36_value(text) + 10)


#: letters an OCR engine may return for a digit, for a token known to hold digits only
DIGIT_LOOKALIKES = str.maketrans("OQDIL|SZB", "001115528")


def printed_check_valid(text: str, check: str) -> bool:
    check = check.upper().translate(DIGIT_LOOKALIKES)
    try:
        return len(check) == 2 and check.isdigit() and printed_check(text) == check
    except ValueError:
        return False


def mod37_36_valid(text: str, check: str) -> bool:
    try:
        return len(check) == 1 and mod37_36(text) == check.upper()
    except ValueError:
        return False


# --- the printed case-number line: ISO 7064 MOD 97-10 over the whole string -------------

#: every character a printed case-number line may hold, valued by its index (0-37): the
#: separators count like any other character, so a dropped or changed hyphen is caught
LINE_ALPHABET = ALPHANUMERIC + "- "


def _line_value(text: str) -> int:
    """The string as a number in base 10 with digits 0-37 (the ISO 7064 MOD 97-10 pure
    system, each character one position), modulo 97."""
    value = 0
    for char in text:
        index = LINE_ALPHABET.find(char)
        if index < 0:
            raise ValueError(f"{char!r} cannot be printed in a case-number line")
        value = (value * 10 + index) % 97
    return value


def mod97_10_line(case_number: str) -> str:
    """``"RC-2026-000123"`` → ``"RC-2026-000123 NN"``: the number, a space and two check
    digits (02-98) such that the whole printed line, separators and check included, is 1
    modulo 97. Every single-character change of the line changes its value by d·10^k with
    0 < |d| ≤ 37 and every swap of two neighbours by 9·d·10^k: 97 is prime and divides
    neither, so each such error is caught (``tests/ocr/test_checkdigit.py`` tries them all)."""
    head = case_number + " "
    check = 98 - (_line_value(head) * 100) % 97
    return f"{head}{check:02d}"


def mod97_10_line_valid(line: str) -> bool:
    """The whole printed line (as :func:`mod97_10_line` makes it) passes the check."""
    if len(line) < 4 or not line[-2:].isdigit() or not line[-2:].isascii():
        return False
    try:
        return _line_value(line) == 1
    except ValueError:
        return False
