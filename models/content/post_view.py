"""The render-ready post: what every list of posts and GET /posts/{id} answer (docs/feeds.md#the-post-view).

A post's own fields (models/content/posts.public) plus `author`, `media`, `counters`, `viewer`
(null for anonymous callers) and `remix`, each loaded for a whole list at once: rendering a page
costs the same few statements whatever its length (one per part; parts a page does not need,
such as media of a text-only page, cost none). REST renders pages with `render_page`; GraphQL
resolves each part per field through DataLoaders over the same batch functions
(api/graphql/loaders.py), so a GraphQL page is also constant.

Lists (feeds, trending, grids, bookmarks) produce plain posts; `render_page` first re-reads them
by id (one statement), so a page served from a cache shows edits at once, drops posts gone since
and re-checks a post whose visibility changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import Uuid, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from models.content import post_images, post_videos, reactions, visibility
from models.content.bookmarks import Bookmark
from models.content.posts import Post, public
from models.content.remixes import Remix
from models.engagement.base import REACTION_TYPES
from models.media import avatars
from models.media.videos import Video

if TYPE_CHECKING:
    from infra.services import Services

_AUTHORS = text("""
SELECT u.id, u.username, p.display_name, p.avatar_media_id,
       coalesce(array_agg(b.badge ORDER BY b.badge) FILTER (WHERE b.badge IS NOT NULL), '{}') AS badges
FROM users u
LEFT JOIN profiles p ON p.user_id = u.id
LEFT JOIN user_badges b ON b.user_id = u.id
WHERE u.id = ANY(:ids)
GROUP BY u.id, u.username, p.display_name, p.avatar_media_id
""").bindparams(bindparam("ids", type_=ARRAY(Uuid())))


async def load_posts(svc: Services, ids: Sequence[UUID]) -> dict[UUID, Post]:
    if not ids:
        return {}
    async with svc.sessions() as s:
        return {p.id: p for p in (await s.execute(select(Post).where(Post.id.in_(list(ids))))).scalars()}


async def authors(svc: Services, ids: Sequence[UUID], *, base_url: str = "") -> dict[UUID, dict]:
    """{author id: {id, username, display_name, avatar_url, badges, verified}}; `avatar_url` is
    null for someone without an avatar (models/media/avatars.py)."""
    if not ids:
        return {}
    unique = list(set(ids))

    async def rows_of() -> list:
        async with svc.sessions() as s:
            return list((await s.execute(_AUTHORS, {"ids": unique})).all())

    rows, faces = await asyncio.gather(rows_of(), avatars.avatar_urls(svc, unique, base_url=base_url))
    return {
        r.id: {
            "id": str(r.id),
            "username": r.username,
            "display_name": r.display_name or r.username,
            "avatar_url": faces.get(r.id, {}).get("avatar_url"),
            "badges": list(r.badges),
            "verified": "verified" in r.badges,
        }
        for r in rows
    }


async def media(svc: Services, items: Sequence[tuple[UUID, UUID | None, str]], *, base_url: str) -> dict[UUID, dict]:
    """(post id, video id, post visibility) -> {post id: media} for the posts with a video or
    images (text posts have none: null). Links are signed unless the media is ready on a public post."""
    with_video = [(p, v, vis) for p, v, vis in items if v is not None]
    without = [p for p, v, _ in items if v is None]
    out: dict[UUID, dict] = {}
    if without:  # photo posts among them: one statement
        for post_id, shots in (await post_images.images_for_posts(svc, without, base_url=base_url)).items():
            out[post_id] = _photo_media(shots)
    if not with_video:
        return out
    async with svc.sessions() as s:
        found = {
            v.id: v
            for v in (await s.execute(select(Video).where(Video.id.in_([v for _, v, _ in with_video])))).scalars()
        }

    async def one(post_id: UUID, video: Video, vis: str) -> None:
        public_ = vis == "public" and video.status == "ready"
        playback, thumb = await post_videos.links(svc, video, base_url=base_url, public=public_)
        out[post_id] = {
            "kind": "video",
            "status": video.status,
            "thumbnail_url": thumb,
            "playback_url": playback,
            "duration_s": video.duration,
            "width": video.width,
            "height": video.height,
            "images": [],
        }

    await asyncio.gather(*(one(p, found[v], vis) for p, v, vis in with_video if v in found))
    return out


def _photo_media(shots: list[dict]) -> dict:
    first = shots[0]
    held = any(i.get("status") != "ready" for i in shots)
    return {
        "kind": "images",
        "status": "in_review" if held else "ready",
        "thumbnail_url": first["urls"].get("320"),
        "playback_url": None,
        "duration_s": None,
        "width": first["width"],
        "height": first["height"],
        "images": shots,
    }


async def counters(svc: Services, ids: Sequence[UUID]) -> dict[UUID, dict[str, int]]:
    """The flat object GET /posts/{id}/counters answers, per post (engagement store)."""
    if not ids:
        return {}
    stored = await svc.store.get_counters(list(dict.fromkeys(ids)))
    return {p: reactions.counters_of_kinds(kinds) for p, kinds in stored.items()}


async def viewer_states(
    svc: Services, viewer_id: UUID | None, items: Sequence[tuple[UUID, UUID]]
) -> dict[UUID, dict | None]:
    """(post id, author id) -> {post id: {reaction, bookmarked, following_author}}; all None for
    an anonymous viewer. `reaction`: the viewer's reaction type (the first in REACTION_TYPES
    order should they hold several), else null."""
    if viewer_id is None:
        return {p: None for p, _ in items}
    if not items:
        return {}
    post_ids = list(dict.fromkeys(p for p, _ in items))
    author_ids = list({a for _, a in items if a != viewer_id})

    async def bookmarked() -> set[UUID]:
        q = select(Bookmark.post_id).where(Bookmark.user_id == viewer_id, Bookmark.post_id.in_(post_ids))
        async with svc.sessions() as s:
            return set((await s.execute(q)).scalars())

    reacted, marked, follows = await asyncio.gather(
        svc.store.reactions_of(viewer_id, post_ids), bookmarked(), svc.store.following_among(viewer_id, author_ids)
    )
    out: dict[UUID, dict | None] = {}
    for post_id, author_id in items:
        kinds = reacted.get(post_id, [])
        out[post_id] = {
            "reaction": next((t for t in REACTION_TYPES if t in kinds), None),
            "bookmarked": post_id in marked,
            "following_author": author_id in follows,
        }
    return out


async def remix_refs(svc: Services, ids: Sequence[UUID]) -> dict[UUID, dict]:
    """{post id: {type, source_post_id, start_ms, end_ms}} for the duets and stitches among `ids`."""
    if not ids:
        return {}
    async with svc.sessions() as s:
        rows = (await s.execute(select(Remix).where(Remix.post_id.in_(list(ids))))).scalars()
        return {
            r.post_id: {
                "type": r.type,
                "source_post_id": str(r.source_post_id),
                "start_ms": r.start_ms,
                "end_ms": r.end_ms,
            }
            for r in rows
        }


async def render(svc: Services, viewer_id: UUID | None, rows: Sequence, *, base_url: str) -> list[dict]:
    """Posts (ORM rows or rows with the same columns) -> their views, in order."""
    if not rows:
        return []
    ids = [p.id for p in rows]
    a, m, c, v, r = await asyncio.gather(
        authors(svc, [p.author_id for p in rows], base_url=base_url),
        media(svc, [(p.id, p.video_id, p.visibility) for p in rows], base_url=base_url),
        counters(svc, ids),
        viewer_states(svc, viewer_id, [(p.id, p.author_id) for p in rows]),
        remix_refs(svc, ids),
    )
    return [
        {
            **public(p),
            "author": a.get(p.author_id),
            "media": m.get(p.id),
            "counters": c.get(p.id) or reactions.counters_of_kinds({}),
            "viewer": v.get(p.id),
            "remix": r.get(p.id),
        }
        for p in rows
    ]


async def _fresh(svc: Services, viewer_id: UUID | None, page: dict, key: str | None) -> tuple[list, list[Post]]:
    """The page's items whose post still exists and is still visible, with the post re-read."""
    posts_of = [(item[key] if key else item) for item in page["items"]]
    found = await load_posts(svc, [UUID(p["id"]) for p in posts_of])
    items: list[dict] = []
    rows: list[Post] = []
    recheck: list[int] = []
    for item, old in zip(page["items"], posts_of):
        row = found.get(UUID(old["id"]))
        if row is None:
            continue
        changed = (row.visibility, row.circle_id and str(row.circle_id)) != (old["visibility"], old.get("circle_id"))
        if changed and row.author_id != viewer_id:
            recheck.append(len(items))
        items.append(item)
        rows.append(row)
    if recheck:
        ok = await visibility.visible_among(svc, viewer_id, [rows[i] for i in recheck])
        gone = {i for i, yes in zip(recheck, ok) if not yes}
        items = [x for i, x in enumerate(items) if i not in gone]
        rows = [x for i, x in enumerate(rows) if i not in gone]
    return items, rows


def _put(item: dict, key: str | None, post: dict) -> dict:
    if key is None:  # the item is the post, plus the list's own fields (recommendations: "reason")
        return {**item, **post}
    return {**item, key: post}


async def render_page(
    svc: Services, viewer_id: UUID | None, page: dict, *, base_url: str, key: str | None = "post"
) -> dict:
    """A list's page of plain posts -> the same page of views. `key`: where an item holds its
    post ("post" in feeds and trending), None when the item is the post."""
    items, rows = await _fresh(svc, viewer_id, page, key)
    views = await render(svc, viewer_id, rows, base_url=base_url)
    return {**page, "items": [_put(item, key, view) for item, view in zip(items, views)]}


async def refresh_page(svc: Services, viewer_id: UUID | None, page: dict, *, key: str | None = "post") -> dict:
    """render_page without the parts: GraphQL resolves those per field (DataLoaders)."""
    items, rows = await _fresh(svc, viewer_id, page, key)
    return {**page, "items": [_put(item, key, public(row)) for item, row in zip(items, rows)]}


async def get_view(svc: Services, viewer_id: UUID | None, post_id: UUID, *, base_url: str) -> dict:
    """GET /posts/{id}: the view of a post the viewer may see, else 404 post_not_found."""
    post = await visibility.get_visible_post(svc, viewer_id, post_id)
    return (await render(svc, viewer_id, [post], base_url=base_url))[0]
