"""The text normaliser (models/core/text.py): what people type in Arabic and English compares equal."""

from __future__ import annotations

from models.core import text


def test_arabic_letter_forms_diacritics_tatweel_digits_and_case():
    assert text.normalize("أحمد") == text.normalize("إحمد") == text.normalize("آحمد") == "احمد"
    assert text.normalize("مصطفى") == "مصطفي"
    assert text.normalize("القاهرة") == "القاهره"
    assert text.normalize("مُحَمَّدٌ") == "محمد"
    assert text.normalize("مـــصر") == "مصر"
    assert text.normalize("٢٠٢٦") == text.normalize("۲۰۲۶") == "2026"
    assert text.normalize("CAIRO Straße") == "cairo strasse"
    assert text.digits("٠١٢٣٤٥٦٧٨٩ abc") == "0123456789 abc"


def test_hashtags_are_parsed_once_normalised_and_deduplicated():
    caption = "#مِصرُ and #مصر #مـصر, #Cairo #cairo #القاهرة #٢٠٢٦ email a#b ## #"
    assert text.hashtags(caption) == ["مصر", "cairo", "القاهره", "2026"]
    assert text.hashtags(None) == [] and text.hashtags("no tags") == []
    assert len(text.hashtags(" ".join(f"#t{i}" for i in range(40)))) == text.MAX_TAGS


def test_tags_as_clients_send_them():
    assert text.normalize_tag("#Cairo") == "cairo"
    assert text.normalize_tag(" القاهرة ") == "القاهره"
    assert text.normalize_tag("two words") is None and text.normalize_tag("#") is None


def test_mentioned_usernames():
    assert text.mentioned_usernames("hi @Alice_1 and @bob.x, me@mail.com @al @alice_1") == ["alice_1", "bob.x"]
