"""Digits as Egyptian users type them: Arabic-Indic (٠-٩) and Extended Arabic-Indic (۰-۹, Persian
keyboards) read as their ASCII digits, in codes and phone numbers."""

from __future__ import annotations

_ASCII = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "0123456789" * 2)


def ascii_digits(text: str) -> str:
    return text.translate(_ASCII)
