"""Shared links: GET /p/{post_id}, a small HTML page with Open Graph tags for link previews
(WhatsApp, Facebook, X) and a link into the app; the app-link association files under
/.well-known/, built from settings (docs/feeds.md#public-links). No token: the page shows what
an anonymous caller may see, and counts against RATE_LIMIT_ANONYMOUS per client IP."""

from __future__ import annotations

from html import escape

from quart import Blueprint, Response, request
from quart_schema import document_response, hide

from api.auth import limit_anonymous, parse_id, svc
from api.outputs.platform import Html
from models.content import previews
from models.core.errors import DomainError

bp = Blueprint("links", __name__)

TITLE_MAX = 90


def _title(caption: str) -> str:
    line = " ".join(caption.split())
    return line if len(line) <= TITLE_MAX else line[: TITLE_MAX - 1].rstrip() + "…"


def _page(status: int, head: dict[str, str], body: str, title: str) -> Response:
    metas = "\n".join(
        f'<meta {"name" if key.startswith("twitter:") else "property"}="{escape(key)}" content="{escape(value)}">'
        for key, value in head.items()
    )
    html = f"""<!doctype html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
{metas}
</head><body>
{body}
</body></html>
"""
    return Response(html, status=status, content_type="text/html; charset=utf-8")


@bp.get("/p/<post_id>")
@hide
@document_response(Html)
@document_response(Html, 404)
async def shared_post(post_id: str):
    cfg = svc().settings
    await limit_anonymous()
    try:
        p = await previews.preview(svc(), parse_id(post_id, "post_id"), base_url=request.host_url)
    except DomainError as exc:
        return _page(exc.status, {}, f"<p>{escape(exc.message)}</p>", cfg.app_name)
    site = (cfg.public_web_url or request.host_url).rstrip("/")
    url = f"{site}/p/{p['post_id']}"
    app_link = f"{cfg.app_link_base.rstrip('/')}/{p['post_id']}"
    author = p["author"]
    by = f"{author['display_name']} (@{author['username']})"
    title = _title(p["caption"]) or f"{by} on {cfg.app_name}"
    head = {
        "og:site_name": cfg.app_name,
        "og:type": "video.other" if p["video"] else "article",
        "og:title": title,
        "og:description": f"{by} on {cfg.app_name}",
        "og:url": url,
        "al:android:url": app_link,
        "al:ios:url": app_link,
        "twitter:card": "summary_large_image" if p["thumbnail_url"] else "summary",
        "twitter:title": title,
    }
    if p["thumbnail_url"]:
        head["og:image"] = p["thumbnail_url"]
    if cfg.android_package:
        head["al:android:package"] = cfg.android_package
    body = (
        f'<p dir="auto">{escape(p["caption"])}</p>\n<p dir="auto">{escape(by)}</p>\n'
        f'<p><a href="{escape(app_link)}">Open in {escape(cfg.app_name)}</a></p>'
    )
    return _page(200, head, body, title)


@bp.get("/.well-known/assetlinks.json")
@hide
async def assetlinks():
    """Android App Links: this site's /p/ links open the app (ANDROID_APP_PACKAGE, ANDROID_CERT_FINGERPRINTS)."""
    cfg = svc().settings
    out = []
    if cfg.android_package:
        target = {
            "namespace": "android_app",
            "package_name": cfg.android_package,
            "sha256_cert_fingerprints": cfg.android_cert_fingerprints,
        }
        out.append({"relation": ["delegate_permission/common.handle_all_urls"], "target": target})
    return out, 200, {"Content-Type": "application/json"}


@bp.get("/.well-known/apple-app-site-association")
@hide
async def apple_app_site_association():
    """iOS universal links for /p/* and passkeys (webcredentials) for the apps in IOS_APP_IDS."""
    ids = svc().settings.ios_app_ids
    body = {
        "applinks": {"details": [{"appIDs": ids, "components": [{"/": "/p/*"}]}] if ids else []},
        "webcredentials": {"apps": ids},
    }
    return body, 200, {"Content-Type": "application/json"}
