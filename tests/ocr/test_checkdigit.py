from __future__ import annotations

import random
import string

import pytest

from retention_flow.ocr.checkdigit import (
    mod11_10,
    mod11_10_valid,
    mod37_36,
    mod37_36_valid,
    printed_check,
    printed_check_valid,
)


def test_known_values() -> None:
    # ISO 7064 MOD 37-36 reference value (also python-stdnum's), MOD 11-10 by hand
    assert mod37_36("A12425GABC1234002") == "M"
    assert mod11_10("794") == "6"
    assert mod11_10_valid("7946")


def _numbers(alphabet: str, count: int) -> list[str]:
    rng = random.Random(11)
    return ["".join(rng.choices(alphabet, k=rng.randint(4, 12))) for _ in range(count)]


@pytest.mark.parametrize("number", _numbers(string.digits, 30))
def test_mod11_10_catches_every_single_error(number: str) -> None:
    full = number + mod11_10(number)
    assert mod11_10_valid(full)
    for i, char in enumerate(full):
        for other in string.digits.replace(char, ""):
            assert not mod11_10_valid(full[:i] + other + full[i + 1 :])


def _swaps(full: str) -> list[str]:
    return [
        full[:i] + full[i + 1] + full[i] + full[i + 2 :]
        for i in range(len(full) - 1)
        if full[i] != full[i + 1]
    ]


def test_adjacent_swaps_nearly_all_caught() -> None:
    digits = [n + mod11_10(n) for n in _numbers(string.digits, 300)]
    swaps = [s for full in digits for s in _swaps(full)]
    caught = sum(not mod11_10_valid(s) for s in swaps) / len(swaps)
    alnum = _numbers(string.digits + string.ascii_uppercase, 300)
    swaps37 = [(s, mod37_36(n)) for n in alnum for s in _swaps(n)]
    caught37 = sum(not mod37_36_valid(s, c) for s, c in swaps37) / len(swaps37)
    assert caught > 0.9 and caught37 > 0.95


@pytest.mark.parametrize("number", _numbers(string.digits + string.ascii_uppercase, 30))
def test_mod37_36_catches_every_single_error(number: str) -> None:
    check = mod37_36(number)
    assert mod37_36_valid(number, check)
    assert printed_check_valid(number, printed_check(number))
    for i, char in enumerate(number):
        for other in (string.digits + string.ascii_uppercase).replace(char, ""):
            wrong = number[:i] + other + number[i + 1 :]
            assert not mod37_36_valid(wrong, check)
            assert not printed_check_valid(wrong, printed_check(number))


def test_separators_ignored_and_lookalikes_in_printed_check() -> None:
    assert mod37_36("RC-2026-000123-6") == mod37_36("RC2026 0001236")
    check = printed_check("RC-2026-000123-6")
    assert len(check) == 2 and check.isdigit()
    assert printed_check_valid("RC-2026-000123-6", check.replace("0", "O").replace("1", "I"))


@pytest.mark.parametrize("bad", ["", "12a", "١٢٣"])
def test_mod11_10_refuses_non_digits(bad: str) -> None:
    with pytest.raises(ValueError, match="digits"):
        mod11_10(bad)
    assert not mod11_10_valid(bad)


@pytest.mark.parametrize("bad", ["", "RC_1", "Ä1"])
def test_mod37_36_refuses_other_characters(bad: str) -> None:
    with pytest.raises(ValueError):
        mod37_36(bad)
    assert not mod37_36_valid(bad, "0")


# --- MOD 97-10 over the whole printed case-number line --------------------------------

_LINE_NUMBERS = [
    "RC-2026-000123",
    "RC-2026-000124",
    "RC-20260913-B0MJXF8",
    "RC-20261203-17",
    "A-1",
    "X9-ZZ-0",
    *_numbers(string.digits + string.ascii_uppercase + "-", 40),
]


def _valid_numbers() -> list[str]:
    from retention_flow.ocr.forms import CASE_NUMBER_RE

    return [n for n in _LINE_NUMBERS if CASE_NUMBER_RE.match(n)]


@pytest.mark.parametrize("number", _valid_numbers())
def test_mod97_10_line_catches_every_single_error_and_adjacent_swap(number: str) -> None:
    from retention_flow.ocr.checkdigit import LINE_ALPHABET, mod97_10_line, mod97_10_line_valid

    line = mod97_10_line(number)
    assert mod97_10_line_valid(line)
    head, check = line.rsplit(" ", 1)
    assert head == number and len(check) == 2 and check.isdigit()
    singles = 0
    for i, char in enumerate(line):  # every position: letters, digits, hyphens, space, check
        for other in LINE_ALPHABET.replace(char, ""):
            assert not mod97_10_line_valid(line[:i] + other + line[i + 1 :]), (i, other)
            singles += 1
    swaps = _swaps(line)
    for swapped in swaps:
        assert not mod97_10_line_valid(swapped), swapped
    assert singles == len(line) * (len(LINE_ALPHABET) - 1)


def test_mod97_10_line_catches_a_dropped_hyphen_here() -> None:
    from retention_flow.ocr.checkdigit import mod97_10_line, mod97_10_line_valid

    line = mod97_10_line("RC-2026-000123")
    assert not mod97_10_line_valid(line.replace("-", "", 1))
    assert not mod97_10_line_valid(line.replace(" ", ""))
    assert not mod97_10_line_valid("")
    assert not mod97_10_line_valid("RC_1 12")
