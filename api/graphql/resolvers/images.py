"""Resolvers for images: a photo post's images and a profile's avatar and cover sizes
(REST: GET /posts/{id} `images`, the profile's `avatar_urls` / `cover_urls`)."""

from __future__ import annotations

from uuid import UUID

from ariadne import ObjectType

from api.graphql.loaders import loaders

post_type, profile_type, image_type = ObjectType("Post"), ObjectType("Profile"), ObjectType("Image")
held_type = ObjectType("HeldImage")


def sizes(webp: dict | None, jpeg: dict | None) -> list[dict] | None:
    """{size: url} pairs as [ImageUrl], smallest first."""
    if not webp:
        return None
    return [
        {"size": int(k), "url": v, "jpeg_url": (jpeg or {}).get(k)}
        for k, v in sorted(webp.items(), key=lambda kv: int(kv[0]))
    ]


@post_type.field("images")
async def resolve_post_images(post, info):
    if post.get("video_id"):
        return None
    media = (
        post["media"]
        if "media" in post
        else await loaders(info).media.load((UUID(post["id"]), None, post["visibility"]))
    )
    return media["images"] if media else None


@image_type.field("urls")
@held_type.field("urls")
def resolve_image_urls(image, info):
    return sizes(image["urls"], image["jpeg_urls"])


@profile_type.field("avatarUrls")
def resolve_avatar_urls(profile, info):
    return sizes(profile.get("avatar_urls"), profile.get("avatar_jpeg_urls"))


@profile_type.field("coverUrls")
def resolve_cover_urls(profile, info):
    return sizes(profile.get("cover_urls"), profile.get("cover_jpeg_urls"))


bindables = [post_type, profile_type, image_type, held_type]
