"""Per-request DataLoaders over the post view's batch functions (models/content/post_view.py):
every Post field of a page (author, media, counters, viewer, remix) is loaded for the whole page
in one batch, so a GraphQL page costs the same statements as the REST one.

Built lazily, once per request, in the GraphQL context (api/routes/graphql.py puts nothing here
but the ingredients: svc, user_id, base_url)."""

from __future__ import annotations

from uuid import UUID

from aiodataloader import DataLoader

from models.content import post_view


class Loaders:
    def __init__(self, svc, viewer_id: UUID | None, base_url: str):
        async def authors(keys: list[UUID]) -> list:
            found = await post_view.authors(svc, keys, base_url=base_url)
            return [found.get(k) for k in keys]

        async def media(keys: list[tuple[UUID, UUID | None, str]]) -> list:
            found = await post_view.media(svc, keys, base_url=base_url)
            return [found.get(k[0]) for k in keys]

        async def counters(keys: list[UUID]) -> list:
            found = await post_view.counters(svc, keys)
            return [found[k] for k in keys]

        async def viewer(keys: list[tuple[UUID, UUID]]) -> list:
            found = await post_view.viewer_states(svc, viewer_id, keys)
            return [found.get(k[0]) for k in keys]

        async def remix(keys: list[UUID]) -> list:
            found = await post_view.remix_refs(svc, keys)
            return [found.get(k) for k in keys]

        self.author = DataLoader(authors)
        self.media = DataLoader(media)
        self.counters = DataLoader(counters)
        self.viewer = DataLoader(viewer)
        self.remix = DataLoader(remix)


def loaders(info) -> Loaders:
    ctx = info.context
    if "loaders" not in ctx:
        ctx["loaders"] = Loaders(ctx["svc"], ctx["user_id"], ctx["base_url"])
    return ctx["loaders"]
