"""Offline text toxicity models (scikit-learn, shipped inside their packages, no download).

- Arabic: `arabic-toxic` 0.2.3, a multi-label TF-IDF + linear classifier over Cussing, Hatred,
  Sexual, Racial, Appearance, Violence (and NOT). It normalises Arabic itself (alef forms,
  ya/alef maqsura, diacritics, tatweel, letter runs).
- English: `alt-profanity-check` 1.7.2, one P(offensive) from a linear SVM over a bag of words.

Both load once per process, lazily (the first check, or `warm()`), and are CPU-bound: call
`scores` from a thread. The Arabic bundle was pickled with scikit-learn 1.8 and is loaded with
1.7.2 (what both packages accept): scikit-learn warns about it, the bench checks its output.
"""

from __future__ import annotations

import re
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

# Model label -> our label (lower case, one namespace with the term list's and the image's).
ARABIC_LABELS = {
    "Cussing": "cussing",
    "Hatred": "hatred",
    "Sexual": "sexual",
    "Racial": "racial",
    "Appearance": "appearance",
    "Violence": "violence",
}
ENGLISH_LABEL = "profanity"
LABELS: tuple[str, ...] = (*ARABIC_LABELS.values(), ENGLISH_LABEL)

_ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
_LATIN = re.compile(r"[A-Za-z]")

load_seconds: dict[str, float] = {}
_models: dict[str, Any] = {}
_loading = threading.Lock()  # one load per model even when the first checks race


def has_arabic(text: str) -> bool:
    return _ARABIC.search(text) is not None


def has_latin(text: str) -> bool:
    return _LATIN.search(text) is not None


def _load(name: str, load: Callable[[], Any]) -> Any:
    if (model := _models.get(name)) is None:
        with _loading:
            if (model := _models.get(name)) is None:
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    # "Trying to unpickle estimator ... from version 1.8.0 when using version 1.7.2"
                    warnings.simplefilter("ignore")
                    model = load()
                load_seconds[name] = time.perf_counter() - t0
                _models[name] = model
    return model


def _load_arabic() -> Any:
    from arabic_toxic import classifier

    classifier._load_bundle()  # the joblib bundle (lru_cache inside the package)
    return classifier


def _load_english() -> Any:
    from profanity_check import profanity_check  # loads its vectorizer and model on import

    return profanity_check


def _arabic() -> Any:
    return _load("arabic", _load_arabic)


def _english() -> Any:
    return _load("english", _load_english)


def arabic_raw(texts: list[str]) -> list[dict[str, float]]:
    """The package's own call: {model label: percent} per text."""
    out = _arabic().predict_proba(texts)
    return out if isinstance(out, list) else [out]


def english_raw(texts: list[str]) -> list[float]:
    """The package's own call: P(offensive) per text."""
    return [float(p) for p in _english().predict_prob(texts)]


def arabic_scores(texts: list[str]) -> list[dict[str, float]]:
    """{our label: probability 0..1} per text (NOT dropped)."""
    return [
        {ours: round(row.get(theirs, 0.0) / 100.0, 4) for theirs, ours in ARABIC_LABELS.items()}
        for row in arabic_raw(texts)
    ]


def english_scores(texts: list[str]) -> list[dict[str, float]]:
    return [{ENGLISH_LABEL: round(p, 4)} for p in english_raw(texts)]


def scores(text: str) -> dict[str, float]:
    """Every label's score for one text: the Arabic model if it has Arabic letters, the English
    one if it has Latin letters (both for mixed text); {} for neither (digits, emoji)."""
    out: dict[str, float] = {}
    if has_arabic(text):
        out.update(arabic_scores([text])[0])
    if has_latin(text):
        out.update(english_scores([text])[0])
    return out


def warm() -> dict[str, float]:
    """Loads both models now; {model: seconds it took} (the first load in this process)."""
    _arabic()
    _english()
    return dict(load_seconds)
