"""Post media agent: post.deleted -> the deleted post's files leave object storage: the video's
(the original, the HLS renditions, the thumbnail: models/media/videos.remove_stored) and a photo
post's images (models/content/post_images.remove_files). Their rows went with the post in the
deletion's transaction, so the event carries what is needed to find the files. Idempotent: a
redelivery finds nothing left to delete."""

from __future__ import annotations

import logging

from models.content import post_images
from models.core.events import Received
from models.core.topics import POSTS, PostDeletedPayload
from models.media import videos
from streams.batch import batch_agent

log = logging.getLogger(__name__)


@batch_agent(POSTS, name="post_media", max_records=100)
async def post_media(events: list[Received], svc) -> None:
    for e in events:
        p = e.payload
        if not isinstance(p, PostDeletedPayload):
            continue
        if p.image_ids:
            await post_images.remove_files(svc, p.image_ids)
        if p.video_id:
            removed = await videos.remove_stored(svc, p.video_id, p.original_key)
            log.info("deleted post's media removed", extra={"post_id": str(p.post_id), "objects": removed})
