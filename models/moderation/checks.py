"""Content checks: the policy over the text models (ml/text_toxicity.py), the moderators' term
list (terms.py) and the NSFW classifier's image and video scores (docs/moderation.md#content-checks).

Verdict of a text: every label's score is compared with its thresholds
(MODERATION_THRESHOLDS: [review_at, reject_at]); a term hit scores 1.0 with its own action.
reject if any label reaches reject_at or a `reject` term matches; review if any reaches
review_at or a `review` term matches; allow otherwise. `labels` lists what reached review_at,
highest first, one entry per label.

The same checks run on the write paths (captions, comments, messages, profile text) through
models/core/screening (registered by `register`, infra/services.wire_domains): reject -> 422
`content_rejected`; review -> the write goes through and `flags.flag` records it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from sqlalchemy import select

from ml import text_toxicity
from models.core import screening
from models.core.errors import DomainError, NotFound
from models.core.screening import ContentRejected
from models.media import images
from models.media.videos import Video
from models.moderation import flags, terms

if TYPE_CHECKING:
    from infra.services import Services

Verdict = Literal["allow", "review", "reject"]
_RANK = {"allow": 0, "review": 1, "reject": 2}
MAX_TEXT = 10_000
NSFW = "nsfw"


class MediaNotFound(NotFound):
    code = "media_not_found"


@dataclass
class Result:
    verdict: Verdict = "allow"
    labels: list[dict] = field(default_factory=list)

    def merge(self, other: Result) -> Result:
        best: dict[str, float] = {}
        for item in (*self.labels, *other.labels):
            best[item["label"]] = max(best.get(item["label"], 0.0), item["score"])
        verdict = max(self.verdict, other.verdict, key=_RANK.__getitem__)
        return Result(verdict, _sorted(best))

    def public(self) -> dict:
        return {"verdict": self.verdict, "labels": self.labels}


def _sorted(scores: dict[str, float]) -> list[dict]:
    return [{"label": k, "score": round(v, 4)} for k, v in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]


def judge(svc: Services, model_scores: dict[str, float], hits: list[terms.Hit]) -> Result:
    """The verdict from scores and term hits (pure: the bench and tests call it directly)."""
    thresholds = svc.settings.moderation_thresholds
    verdict: Verdict = "allow"
    shown: dict[str, float] = {}
    for label, score in model_scores.items():
        review_at, reject_at = thresholds.get(label, (1.0, 1.0))
        if score >= review_at:
            shown[label] = score
            verdict = max(verdict, "reject" if score >= reject_at else "review", key=_RANK.__getitem__)
    for hit in hits:
        shown[hit.label] = 1.0
        verdict = max(verdict, "reject" if hit.action == "reject" else "review", key=_RANK.__getitem__)
    return Result(verdict, _sorted(shown))


def model_scores(text: str) -> dict[str, float]:
    return text_toxicity.scores(text)


async def check_text(svc: Services, text: str) -> Result:
    """Models (in a thread: scikit-learn is CPU-bound) and the term list."""
    scores = await asyncio.to_thread(model_scores, text)
    return judge(svc, scores, await terms.hits(svc, text))


async def check_media(svc: Services, user_id: UUID, media_id: UUID) -> Result:
    """An image or video of the caller's (anyone else's: 404 `media_not_found`), as the NSFW
    classifier judged it at upload: images held for review -> review; videos by their state
    (in review -> review, hidden as nsfw -> reject). The label `nsfw` carries the stored score."""
    try:
        image = await images.get_own(svc, user_id, media_id)
    except images.ImageNotFound:
        image = None
    if image is not None:
        verdict: Verdict = "review" if image.status == "in_review" else "allow"
        return Result(verdict, [{"label": NSFW, "score": round(image.nsfw_score, 4)}])
    async with svc.sessions() as s:
        video = (await s.execute(select(Video).where(Video.id == media_id))).scalar_one_or_none()
    if video is None or video.owner_id != user_id:
        raise MediaNotFound("no such media")
    if video.nsfw_score is None:
        raise DomainError("this video has not been checked yet", code="media_not_checked")
    if video.status == "in_review":
        verdict = "review"
    elif video.status == "rejected" and video.reason in ("nsfw", "moderator_rejected"):
        verdict = "reject"
    else:
        verdict = "allow"
    return Result(verdict, [{"label": NSFW, "score": round(video.nsfw_score, 4)}])


async def check_content(svc: Services, *, user_id: UUID, text: str | None, media_id: UUID | None) -> dict:
    """POST /moderation/check-content: {"verdict", "labels"} of a text and/or a media of yours.
    Neither -> 400 `nothing_to_check`."""
    if not (text and text.strip()) and media_id is None:
        raise DomainError("give a text or a media_id to check", code="nothing_to_check")
    if text and len(text) > MAX_TEXT:
        raise DomainError(f"a text has at most {MAX_TEXT} characters", code="validation_error")
    result = Result()
    if media_id is not None:
        result = result.merge(await check_media(svc, user_id, media_id))
    if text and text.strip():
        result = result.merge(await check_text(svc, text))
    return result.public()


async def screen(svc: Services, text: str, *, source: str) -> list[dict] | None:
    """The write paths' check (models/core/screening.screen)."""
    result = await check_text(svc, text)
    if result.verdict == "reject":
        raise ContentRejected(
            f"this {source} breaks the content rules", details={"labels": result.labels, "source": source}
        )
    return result.labels if result.verdict == "review" else None


def register() -> None:
    """infra/services.wire_domains: the write paths below moderation check through us."""
    screening.register(screen=screen, flag=flags.flag)


_warming: set[asyncio.Task] = set()


def warm_in_background() -> asyncio.Task:
    """Loads the text models in a thread now, so the first check does not pay for it (a check
    that comes first waits for the same load: ml/text_toxicity loads each model once)."""
    task = asyncio.create_task(asyncio.to_thread(text_toxicity.warm))
    _warming.add(task)
    task.add_done_callback(_warming.discard)
    return task
