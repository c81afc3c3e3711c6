"""Post media agent: post.deleted -> the deleted post's video files leave object storage (the
original, the HLS renditions, the thumbnail: models/media/videos.remove_stored). The video row
went with the post in the deletion's transaction, so the event carries what is needed to find
the files. Idempotent: a redelivery finds nothing left to delete."""

from __future__ import annotations

import logging
from uuid import UUID

from models.core.topics import POSTS
from models.media import videos
from streams.batch import batch_agent

log = logging.getLogger(__name__)


@batch_agent(POSTS, name="post_media", max_records=100)
async def post_media(events: list[dict], svc) -> None:
    for e in events:
        p = e["payload"]
        if e["type"] != "post.deleted" or not p.get("video_id"):
            continue
        removed = await videos.remove_stored(svc, UUID(p["video_id"]), p.get("original_key"))
        log.info("deleted post's media removed", extra={"post_id": p["post_id"], "objects": removed})
