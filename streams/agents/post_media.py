"""Post media agent: post.deleted -> the deleted post's files leave object storage: the video's
(the original, the HLS renditions, the thumbnail: models/media/videos.remove_stored) and a photo
post's images (models/content/post_images.remove_files). Their rows went with the post in the
deletion's transaction, so the event carries what is needed to find the files. Idempotent: a
redelivery finds nothing left to delete."""

from __future__ import annotations

import logging
from uuid import UUID

from models.content import post_images
from models.core.topics import POSTS
from models.media import videos
from streams.batch import batch_agent

log = logging.getLogger(__name__)


@batch_agent(POSTS, name="post_media", max_records=100)
async def post_media(events: list[dict], svc) -> None:
    for e in events:
        p = e["payload"]
        if e["type"] != "post.deleted":
            continue
        if p.get("image_ids"):
            await post_images.remove_files(svc, [UUID(i) for i in p["image_ids"]])
        if p.get("video_id"):
            removed = await videos.remove_stored(svc, UUID(p["video_id"]), p.get("original_key"))
            log.info("deleted post's media removed", extra={"post_id": p["post_id"], "objects": removed})
