"""IBAN arithmetic: ISO 13616 mod-97 check digits and the Belgian national check.

A Belgian IBAN is ``BEkk bbba aaaa aacc``: bank code ``bbb``, account ``aaaaaaa`` and a
national check ``cc`` equal to the first ten digits mod 97 (97 when that is 0); ``kk``
makes the whole IBAN, rearranged and read as a number, equal 1 mod 97.
"""

from __future__ import annotations

from functools import cache


def _as_digits(text: str) -> str:
    """Letters become two digits (A=10 ... Z=35), as ISO 13616 prescribes."""
    return "".join(str(int(ch, 36)) for ch in text)


def check_digits(country: str, bban: str) -> str:
    remainder = int(_as_digits(bban + country + "00")) % 97
    return f"{98 - remainder:02d}"


def iban_is_valid(iban: str) -> bool:
    """True when ``iban`` is alphanumeric and its rearranged number is 1 mod 97."""
    compact = iban.replace(" ", "").upper()
    if len(compact) < 5 or not compact.isascii() or not compact.isalnum():
        return False
    return int(_as_digits(compact[4:] + compact[:4])) % 97 == 1


@cache
def belgian_iban(bank: int, account: int) -> str:
    """The Belgian IBAN for a 3-digit bank code and a 7-digit account number."""
    first_ten = f"{bank:03d}{account:07d}"
    national = int(first_ten) % 97 or 97
    bban = f"{first_ten}{national:02d}"
    return f"BE{check_digits('BE', bban)}{bban}"
