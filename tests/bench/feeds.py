"""Home-feed latency at size: seed jobs/seed_dataset.py's dataset (10k users, 100k posts, 1M
reactions, heavy-tailed follows, circles, stories, a trending ranking), then GET /feeds/home over
HTTP for a random sample of seeded users, one request at a time:

- cold: the user's first page, not in the feed cache (nor their follow list);
- cached: the same request again within FEED_CACHE_TTL (the page comes from Redis and is
  re-checked against the user's hides, mutes and blocks);
- page 2 cold: the next page through the first page's cursor;
- GraphQL: the same page as `homeFeed(limit: 20)` asking for every field of the post view,
  right after the cached REST read (so both are served from the feed cache and the ratio is
  the cost of the two faces rendering the same 20 posts);
- statements per page: the API's X-SQL-Statements (COUNT_SQL_STATEMENTS=1) of each kind of read.

`run(env, log_dir, api_base)` reuses a running stack and API (tests/bench/run.py does, after its
other sections); `run()` alone starts a fresh embedded stack and API in a temp dir and removes
them. `python -m tests.bench.feeds [--users N --posts N --reactions N --viewers N]`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

from jobs.seed_dataset import Seeded, Sizes, seed
from tests.bench.api_load import pct


async def _tokens(settings, user_ids) -> list[str]:
    from infra.services import Services
    from models.accounts import sessions, users

    svc = await Services.start(settings, relay=False)
    try:
        out = []
        for uid in user_ids:
            out.append((await sessions.token_pair(svc, await users.get_user(svc, uid)))["access_token"])
        return out
    finally:
        await svc.stop()


# Every field of the post view (sdl/posts.graphql), as a client rendering full cards asks.
GQL_HOME = """query { homeFeed(limit: 20) { nextCursor items { layer post {
  id kind caption hashtags mentions visibility createdAt editedAt authorId videoId circleId expiresAt
  author { id username displayName avatarUrl badges verified }
  media { kind status thumbnailUrl playbackUrl durationS width height images { id width height } }
  counters { likes loves laughs wows sads angries comments shares views }
  viewer { reaction bookmarked followingAuthor }
  remix { type sourcePostId startMs endMs } } } } }"""


async def _measure(base: str, tokens: list[str]) -> dict:
    cold, cached, page2, gql, items, layers, misses = [], [], [], [], [], Counter(), Counter()
    statements: dict[str, list[int]] = {"cold": [], "cached": [], "graphql": [], "page2": []}
    async with aiohttp.ClientSession() as session:

        def took(r, t: float, kind: str | None) -> float:
            if kind and "X-SQL-Statements" in r.headers:
                statements[kind].append(int(r.headers["X-SQL-Statements"]))
            return (time.perf_counter() - t) * 1000

        async def get(token: str, cursor: str | None = None, kind: str | None = None) -> tuple[float, dict, str]:
            params = {"limit": "20", **({"cursor": cursor} if cursor else {})}
            t = time.perf_counter()
            async with session.get(
                f"{base}/feeds/home", params=params, headers={"Authorization": f"Bearer {token}"}
            ) as r:
                body = await r.json()
                if r.status != 200:
                    raise RuntimeError(f"feed: {r.status} {body}")
                return took(r, t, kind), body, r.headers.get("X-Feed-Cache", "")

        async def graphql(token: str) -> float:
            t = time.perf_counter()
            async with session.post(
                f"{base}/graphql", json={"query": GQL_HOME}, headers={"Authorization": f"Bearer {token}"}
            ) as r:
                body = await r.json()
                if r.status != 200 or body.get("errors"):
                    raise RuntimeError(f"graphql: {r.status} {body}")
                return took(r, t, "graphql")

        await get(tokens[0])  # connection and first-use warm-up, not counted
        await graphql(tokens[0])
        for token in tokens[1:]:
            ms, body, how = await get(token, kind="cold")
            cold.append(ms)
            misses[how] += 1
            items.append(len(body["items"]))
            layers.update(i["layer"] for i in body["items"])
            ms, _, how = await get(token, kind="cached")
            cached.append(ms)
            misses[how] += 1
            gql.append(await graphql(token))
            if body["next_cursor"]:
                ms, _, _ = await get(token, body["next_cursor"], kind="page2")
                page2.append(ms)
    figures = lambda v: {"p50_ms": pct(v, 50), "p99_ms": pct(v, 99), "n": len(v)}  # noqa: E731
    spread = lambda v: {"min": min(v), "max": max(v)} if v else None  # noqa: E731
    return {
        "cold": figures(cold),
        "cached": figures(cached),
        "page2": figures(page2),
        "graphql": figures(gql),
        "graphql_ratio": pct(gql, 50) / max(pct(cached, 50), 1e-9),
        "statements": {k: spread(v) for k, v in statements.items()},
        "items_mean": sum(items) / max(1, len(items)),
        "layers": dict(layers),
        "cache_headers": dict(misses),
    }


def run(
    env: dict | None = None,
    log_dir: Path | None = None,
    api_base: str | None = None,
    *,
    sizes: Sizes | None = None,
    viewers: int = 300,
    then=None,
) -> dict:
    """`then(settings, seeded, api_base, tokens, log_dir=)`: another measurement on the same dataset and stack
    after this one (tests/bench/search.py); its figures under "search"."""
    import uvloop

    from infra.settings import get_settings

    sizes = sizes or Sizes()
    own = env is None
    tmp, stop_stack, api_proc, saved = None, (lambda: None), None, dict(os.environ)
    try:
        if own:
            from infra.dev import start_stack
            from tests.bench.stack import bench_env, own_env
            from tests.support.processes import REPO, start_api

            tmp = Path(tempfile.mkdtemp(prefix="daira-bench-feeds-"))
            (tmp / "logs").mkdir()
            log_dir = tmp / "logs"
            base_env = own_env()
            add, stop_stack = start_stack(tmp / "var", base_env, preferred_ports=False)
            env = bench_env(base_env, add, tmp / "var", "benchf")
            subprocess.run(
                [sys.executable, "-m", "infra.migrate"], env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL
            )
            api_proc, api_base = start_api(env, log_dir)
        os.environ.update(env)
        get_settings.cache_clear()
        settings = get_settings()
        t0 = time.monotonic()
        seeded: Seeded = uvloop.run(seed(settings, sizes, say=lambda m: print(f"[bench feeds] {m}", file=sys.stderr)))
        seed_s = time.monotonic() - t0
        sample = random.Random(7).sample(seeded.users, min(viewers + 1, len(seeded.users)))
        tokens = uvloop.run(_tokens(settings, sample))
        result = uvloop.run(_measure(api_base, tokens))
        if then is not None:
            result["search"] = then(settings, seeded, api_base, tokens, log_dir=log_dir)
        return {**result, "sizes": sizes, "seeded": seeded, "seed_s": seed_s, "cache_ttl": settings.feed_cache_ttl}
    finally:
        if api_proc is not None:
            api_proc.stop()
        stop_stack()
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def report_lines(f: dict) -> list[str]:
    sd = f["seeded"]
    c, h, p2 = f["cold"], f["cached"], f["page2"]
    return [
        f"{'9. home feed, cold first page p50 (ms)':<44}{c['p50_ms']:>16.1f}  p99 {c['p99_ms']:.1f} ms, "
        f"{c['n']} users one at a time, limit 20, {f['items_mean']:.1f} items/page",
        f"{'   cached (same request again) p50 (ms)':<44}{h['p50_ms']:>16.1f}  p99 {h['p99_ms']:.1f} ms "
        f"(FEED_CACHE_TTL {f['cache_ttl']} s; X-Feed-Cache {f['cache_headers']})",
        f"{'   page 2 through the cursor p50 (ms)':<44}{p2['p50_ms']:>16.1f}  p99 {p2['p99_ms']:.1f} ms",
        f"{'   GraphQL, every field, cached p50 (ms)':<44}{f['graphql']['p50_ms']:>16.1f}  "
        f"p99 {f['graphql']['p99_ms']:.1f} ms; {f['graphql_ratio']:.2f}x REST cached p50 (target <= 1.3x)",
        f"{'   SQL statements per page (min-max)':<44}{'':>16}  "
        + ", ".join(f"{k} {v['min']}-{v['max']}" for k, v in f["statements"].items() if v),
        f"{'   dataset':<44}{'':>16}  {len(sd.users):,} users, {sd.posts:,} posts ({sd.stories:,} stories), "
        f"{sd.reactions:,} reactions, {sd.follows:,} follows (max in-degree {sd.max_in_degree:,}), "
        f"{sd.circles:,} circles; seeded in {f['seed_s']:.0f}s; layers served {f['layers']}",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.bench.feeds", description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=Sizes.users)
    ap.add_argument("--posts", type=int, default=Sizes.posts)
    ap.add_argument("--reactions", type=int, default=Sizes.reactions)
    ap.add_argument("--viewers", type=int, default=300)
    args = ap.parse_args(argv)
    f = run(sizes=Sizes(args.users, args.posts, args.reactions), viewers=args.viewers)
    print("\n".join(report_lines(f)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
