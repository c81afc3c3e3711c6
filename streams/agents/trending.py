"""Trending agent: a Faust agent with a hopping-window table of engagement per post, and a timer
that ranks the posts and publishes the rankings to Redis (models/discovery/trending.py, docs/trending.md).

Events are typed as for batch agents (models/core/events.py `Received`); a poison message goes
to `<topic>.dlq` as agent "trending" and is skipped. Per event (throughput is not the point
here; the counters are exact elsewhere):
- reactions, comments, views and shares -> one edge per contribution in every window the event
  time falls into, `keep_newer` by event id: redelivery and replay change nothing;
- post.created -> the post's #hashtags (a plain table);
- post.deleted -> the post joins `trending-deleted` (its tags go): its edges stop counting at the
  next refresh, and the entry expires with the last window that could hold them.
Both tables are backed by changelog topics; after a restart the worker rebuilds them from there
before it consumes again (on the embedded Tansu broker only with streams/compat.py's end-offset
fix: without it recovery stops early and the windows lose their tail).

Every TRENDING_REFRESH seconds, once recovered and not rebalancing, each worker snapshots the
partitions it owns (a post's entries live on its events' partition) and publishes a merged
ranking generation.
"""

from __future__ import annotations

import logging
import time

import faust
import redis.asyncio as aioredis
from aiokafka.partitioner import murmur2

from infra.settings import Settings
from models.core.events import decoder
from models.core.topics import BY_NAME, COMMENTS, ENGAGEMENT, POSTS, REACTIONS, dlq_name
from models.discovery import trending
from streams.batch import dead_letter, poison_error

log = logging.getLogger(__name__)
SOURCES = (REACTIONS, POSTS, COMMENTS, ENGAGEMENT)


def partition_of(post_id: str, partitions: int) -> int:
    """The partition the producers' default partitioner (murmur2, as Kafka's Java client) gives
    a post id key: where its events, and so its table entries, are."""
    return (murmur2(post_id.encode()) & 0x7FFFFFFF) % partitions


def setup(app: faust.App, settings: Settings) -> None:
    """Add the trending agent, its tables and its refresh timer to the worker's Faust app."""
    if not settings.trending_enabled:
        return
    cfg = trending.Config.from_settings(settings)
    n_partitions = settings.kafka_partitions
    names = {t.name for t in SOURCES}
    source = app.topic(*sorted(names), key_serializer="raw", value_serializer="raw")
    edges = app.Table(
        "trending-edges", default=list, help="[weight, last event id] per contribution to a post, per window"
    ).hopping(cfg.window, cfg.step, expires=cfg.window + cfg.step)
    tags = app.Table("trending-tags", help="#hashtags per post (posts without any are not stored)")
    gone = app.Table("trending-deleted", help="deleted posts -> when: left out of the rankings")
    state: dict[str, aioredis.Redis] = {}
    decoders = {t.name: decoder(t) for t in SOURCES}
    dead = {t.name: app.topic(dlq_name(t), key_serializer="raw", value_serializer="raw") for t in SOURCES}

    @app.agent(source, name="trending")
    async def trending_agent(stream):
        async for message in stream.events():
            rec = message.message
            try:
                event = decoders[rec.topic](message.value)
            except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
                error = poison_error(exc, BY_NAME[rec.topic])
                await dead[rec.topic].send(key=rec.key, value=dead_letter("trending", rec, error, 1))
                log.error("poison event: to the dead letters", extra={"agent": "trending", "error": error["message"]})
                continue
            updates = trending.edge_updates(event)
            tagged = trending.post_tags(event)
            deleted = trending.deleted_post(event)
            now = time.time()
            at_ts = trending.event_time(event)
            if updates and at_ts > now - cfg.window - cfg.step:  # older: in no window a ranking reads
                at = edges.relative_to(at_ts)
                for key, value in updates:
                    at[key].apply(trending.keep_newer, value)
            if tagged:
                tags[tagged[0]] = tagged[1]
            if deleted:
                gone[deleted] = now
                tags.pop(deleted, None)

    def ready() -> bool:
        return app.tables.recovery.completed.is_set() and not app.rebalancing and not app.in_recovery

    def snapshots(now: float) -> dict[int, dict[str, list]]:
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic in names}
        store = edges.table.data
        # Windows recovered from the changelog are not in Faust's expiry heap: drop stale ones here.
        cutoff = now - cfg.window - cfg.step
        for key in [k for k in store.keys() if k[1][1] < cutoff]:
            store.pop(key, None)
        # no edge of a post deleted before the cutoff is left in any window
        for post in [p for p, at in gone.data.items() if at < cutoff]:
            gone.data.pop(post, None)
        start = edges.table.window.earliest(now)[0]  # the window covering the last TRENDING_WINDOW
        parts: dict[int, dict[str, list]] = {p: {} for p in owned}
        for post, obs in trending.observed(store.items(), start, gone.data).items():
            p = partition_of(post, n_partitions)
            if p in parts and obs >= cfg.threshold:
                parts[p][post] = [obs, tags.get(post) or []]
        return parts

    @app.timer(settings.trending_refresh, name="trending.refresh")
    async def refresh() -> None:
        if not ready():
            return
        now = time.time()
        try:
            if "redis" not in state:
                state["redis"] = aioredis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=3)
            gen = await trending.publish(state["redis"], cfg, snapshots(now), n_partitions, now)
            log.debug("trending published", extra={"generation": gen})
        except Exception as exc:  # the next tick tries again; the previous ranking stays served
            log.warning("trending publish failed", extra={"error": repr(exc)})
