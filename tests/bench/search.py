"""Search latency at size, on the home-feed section's dataset (tests/bench/feeds.py seeds it; this
runs right after its measurement, in the same stack and API, so the figures sit beside the home
feed's p50 of the same run):

- the seeded posts get Arabic and English captions drawn from a small vocabulary (Zipf), and the
  users Arabic or English display names, both by COPY into PostgreSQL;
- `post_search` is built in one INSERT ... SELECT with search_norm() (migration 0021: the SQL
  twin of models/core/text.normalize, checked equal by tests/discovery/test_search.py), the
  search_index agent's work done in bulk;
- then GET /search one request at a time as logged-in seeded users: type=users (a username
  prefix or a misspelt display name), type=posts (one or two words, Arabic or English).

text+semantic (mode=hybrid) is not measured here yet: this stack runs no worker and the seeded
posts are not embedded, so every hybrid query would fall back to text (docs/search.md). The
queries below ask mode=text explicitly.
`python -m tests.bench.search [--users N --posts N --reactions N --queries N]` runs the feed
section with this one after it on a fresh stack.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import aiohttp
import asyncpg

from tests.bench.api_load import pct

ENGLISH = (
    "cairo food street cooking recipe cats dogs football match goal music song dance funny "
    "travel beach sunset coffee morning family friends wedding party study exam city night "
    "market shopping fashion car traffic weather rain summer holiday ramadan iftar dessert "
    "workout gym running video tutorial tips art drawing phone review game"
).split()
ARABIC = (
    "القاهرة أكل شارع طبخ وصفة قطط كلاب كرة مباراة هدف موسيقى أغنية رقص مضحك سفر بحر غروب قهوة "
    "صباح عائلة أصدقاء فرح حفلة مذاكرة امتحان مدينة ليل سوق تسوق موضة عربية زحمة طقس مطر صيف "
    "إجازة رمضان إفطار حلويات تمرين جيم جري فيديو شرح نصائح فن رسم موبايل مراجعة لعبة أحمد فاطمة"
).split()
NAMES = "أحمد محمد فاطمة مريم يوسف علي نور سارة Ahmed Mohamed Fatma Mariam Youssef Ali Nour Sara".split()


def _zipf(n: int) -> list[float]:
    acc, out = 0.0, []
    for k in range(1, n + 1):
        acc += 1.0 / k
        out.append(acc)
    return out


async def prepare(dsn: str, rnd: random.Random) -> dict:
    """Captions, display names and the index, in bulk. Returns the timings and sizes."""
    conn = await asyncpg.connect(dsn)
    try:
        t = time.monotonic()
        ids = [r[0] for r in await conn.fetch("SELECT id FROM posts")]
        cum_en, cum_ar = _zipf(len(ENGLISH)), _zipf(len(ARABIC))

        def caption() -> str:
            words, cum = (ARABIC, cum_ar) if rnd.random() < 0.6 else (ENGLISH, cum_en)
            body = rnd.choices(words, cum_weights=cum, k=rnd.randint(4, 12))
            return " ".join(body) + f" #{rnd.choice(words)}"

        await conn.execute("CREATE TEMP TABLE bench_captions (id uuid PRIMARY KEY, caption text)")
        await conn.copy_records_to_table("bench_captions", records=((i, caption()) for i in ids))
        await conn.execute("UPDATE posts p SET caption = c.caption FROM bench_captions c WHERE c.id = p.id")
        users = [r[0] for r in await conn.fetch("SELECT id FROM users")]
        await conn.execute("DELETE FROM profiles WHERE user_id = ANY($1)", users)
        await conn.copy_records_to_table(
            "profiles",
            columns=["user_id", "display_name", "updated_at"],
            records=((u, f"{rnd.choice(NAMES)} {rnd.choice(NAMES)}", time_now()) for u in users),
        )
        seeded_s = time.monotonic() - t
        t = time.monotonic()
        await conn.execute("""
            INSERT INTO post_search (post_id, doc)
            SELECT id, to_tsvector('simple', n) || to_tsvector('english', n) || to_tsvector('arabic', n)
            FROM (SELECT id, search_norm(replace(caption, '#', ' ')) AS n FROM posts) x
            ON CONFLICT (post_id) DO UPDATE SET doc = excluded.doc""")
        await conn.execute("ANALYZE post_search; ANALYZE users; ANALYZE profiles; ANALYZE posts")
        index_s = time.monotonic() - t
        usernames = [r[0] for r in await conn.fetch("SELECT username FROM users ORDER BY random() LIMIT 500")]
        return {
            "n_posts": len(ids),
            "n_users": len(users),
            "seed_s": seeded_s,
            "index_s": index_s,
            "usernames": usernames,
        }
    finally:
        await conn.close()


def time_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def measure(base: str, tokens: list[str], usernames: list[str], queries: int, rnd: random.Random) -> dict:
    got: dict[str, list[float]] = {"users": [], "posts": []}
    sizes: dict[str, list[int]] = {"users": [], "posts": []}
    async with aiohttp.ClientSession() as session:

        async def one(kind: str, q: str, token: str) -> None:
            t = time.perf_counter()
            async with session.get(
                f"{base}/search",
                params={"q": q, "type": kind, "limit": "20", "mode": "text"},
                headers={"Authorization": f"Bearer {token}"},
            ) as r:
                body = await r.json()
                if r.status != 200:
                    raise RuntimeError(f"search: {r.status} {body}")
            got[kind].append((time.perf_counter() - t) * 1000)
            sizes[kind].append(len(body["items"]))

        await one("posts", "cairo", tokens[0])  # warm-up, not counted
        got["posts"].clear()
        sizes["posts"].clear()
        for i in range(queries):
            token = tokens[i % len(tokens)]
            name = rnd.choice(usernames)
            uq = name[: rnd.randint(4, 8)] if i % 2 else rnd.choice(NAMES)[:-1] + "ه"  # prefix / fuzzy name
            await one("users", uq, token)
            words = ARABIC if i % 5 < 3 else ENGLISH
            await one("posts", " ".join(rnd.sample(words, rnd.choice((1, 1, 2)))), token)
    return {
        k: {"p50_ms": pct(v, 50), "p99_ms": pct(v, 99), "n": len(v), "items_mean": sum(sizes[k]) / max(1, len(v))}
        for k, v in got.items()
    }


def then(settings, seeded, api_base: str, tokens: list[str], queries: int = 300) -> dict:
    """tests/bench/feeds.run's hook: the search figures on its stack, after its measurement."""
    import uvloop

    rnd = random.Random(11)
    dsn = settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
    prep = uvloop.run(prepare(dsn, rnd))
    figures = uvloop.run(measure(api_base, tokens, prep.pop("usernames"), queries, rnd))
    return {**figures, **prep}


def report_lines(f: dict, feed_p50: float) -> list[str]:
    s = f["search"]
    u, p = s["users"], s["posts"]
    return [
        f"{'16. search users (prefix / fuzzy) p50 (ms)':<44}{u['p50_ms']:>16.1f}  p99 {u['p99_ms']:.1f} ms, "
        f"{u['n']} queries, {u['items_mean']:.1f} items/page; home feed cold p50 {feed_p50:.1f} ms (same run)",
        f"{'   search posts, full text p50 (ms)':<44}{p['p50_ms']:>16.1f}  p99 {p['p99_ms']:.1f} ms, "
        f"{p['n']} queries (60% Arabic), {p['items_mean']:.1f} items/page, rendered post views",
        f"{'   search posts, text + semantic':<44}{'not measured':>16}  (no worker in this bench, docs/search.md)",
        f"{'   index':<44}{'':>16}  {s['n_posts']:,} posts, {s['n_users']:,} users; captions and names "
        f"seeded in {s['seed_s']:.1f}s, post_search built in {s['index_s']:.1f}s",
    ]


def main(argv: list[str] | None = None) -> int:
    from jobs.seed_dataset import Sizes
    from tests.bench import feeds

    ap = argparse.ArgumentParser(prog="python -m tests.bench.search", description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=Sizes.users)
    ap.add_argument("--posts", type=int, default=Sizes.posts)
    ap.add_argument("--reactions", type=int, default=Sizes.reactions)
    ap.add_argument("--viewers", type=int, default=100)
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args(argv)
    f = feeds.run(
        sizes=Sizes(args.users, args.posts, args.reactions),
        viewers=args.viewers,
        then=lambda *a: then(*a, queries=args.queries),
    )
    print("\n".join(feeds.report_lines(f) + report_lines(f, f["cold"]["p50_ms"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
