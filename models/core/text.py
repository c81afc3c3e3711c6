"""What users type, made comparable: Arabic normalisation, digits, #hashtags and @mentions.

One place for it because posts (hashtags stored at creation), trending (per-tag rankings) and
search compare what different people typed: "#مصر", "#مصرَ" and "#مـصر" are one tag, "٢٠٢٦" is
"2026", "#Cairo" is "#cairo".
"""

from __future__ import annotations

import re
import unicodedata

# Alef with hamza above/below, madda, wasla -> bare alef; alef maqsura -> ya; ta marbuta -> ha.
_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه"})
# Arabic-Indic (U+0660-0669) and Eastern Arabic-Indic (Persian, U+06F0-06F9) digits -> ASCII.
_DIGITS = str.maketrans({**{chr(0x660 + i): str(i) for i in range(10)}, **{chr(0x6F0 + i): str(i) for i in range(10)}})
_TATWEEL = "\u0640"
# Harakat, tanwin, shadda, sukun, superscript alef, Quranic marks.
_DIACRITICS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed]")

HASHTAG = re.compile(r"(?<![\w#])#(\w{1,100})")  # \w is Unicode: Arabic hashtags are hashtags
MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9_.]{3,30})")
MAX_TAGS = 30


def digits(text: str) -> str:
    """Arabic-Indic digits -> ASCII ("٢٠٢٦" -> "2026"); nothing else changes."""
    return text.translate(_DIGITS)


def normalize(text: str) -> str:
    """The comparable form of a word: NFC, alef forms -> ا, ى -> ي, ة -> ه, no diacritics or
    tatweel, ASCII digits, case-folded."""
    t = unicodedata.normalize("NFC", text).replace(_TATWEEL, "")
    return _DIACRITICS.sub("", t).translate(_LETTERS).translate(_DIGITS).casefold()


def hashtags(text: str | None) -> list[str]:
    """#tags of a text, normalised, first occurrence order, at most MAX_TAGS."""
    found = (normalize(t) for t in HASHTAG.findall(_DIACRITICS.sub("", (text or "").replace(_TATWEEL, ""))))
    return list(dict.fromkeys(t for t in found if t))[:MAX_TAGS]


def normalize_tag(tag: str) -> str | None:
    """A tag as a client sends it ("#Cairo", "مصر") -> its stored form, or None if it is not a tag."""
    t = normalize(tag.strip().removeprefix("#"))
    return t if re.fullmatch(r"\w{1,100}", t) else None


def mentioned_usernames(text: str | None) -> list[str]:
    """@usernames of a text, lower-cased, first occurrence order (usernames are ASCII)."""
    return list(dict.fromkeys(m.lower() for m in MENTION.findall(text or "")))
