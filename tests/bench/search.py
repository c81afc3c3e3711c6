"""Search latency at size, on the home-feed section's dataset (tests/bench/feeds.py seeds it; this
runs right after its measurement, in the same stack and API, so the figures sit beside the home
feed's p50 of the same run):

- the seeded posts get Arabic and English captions drawn from a small vocabulary (Zipf), and the
  users Arabic or English display names, both by COPY into PostgreSQL;
- `post_search` is built in one INSERT ... SELECT with search_norm() (migration 0021: the SQL
  twin of models/core/text.normalize, checked equal by tests/discovery/test_search.py), the
  search_index agent's work done in bulk;
- then GET /search one request at a time as logged-in seeded users: type=users (a username
  prefix or a misspelt display name), type=posts (one or two words, Arabic or English) with
  mode=text;
- text + semantic (mode=hybrid): the newest `embed` posts (10k by default, not all of them: MiniLM
  embeds a few hundred captions a second on 2 cores) are embedded in this process through the
  embeddings agent's own code (models/discovery/indexing.index_posts) into the stack's Qdrant
  path; this process then lets go of Qdrant and starts the real worker with WORKER_AGENTS=
  semantic_search only (no batch agent), waits for its `search:sem:alive`, and times the same
  kind of posts queries with mode=hybrid. Each answer's `semantic` flag is counted: a page that
  fell back to text (no answer within SEARCH_SEMANTIC_TIMEOUT) is in the timings but the share
  of semantic pages is printed beside them, so a fallback never passes as a semantic figure.

`python -m tests.bench.search [--users N --posts N --reactions N --queries N --embed N]` runs the
feed section with this one after it on a fresh stack.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg

from tests.bench.api_load import pct
from tests.support.processes import Worker

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


def _posts_query(i: int, rnd: random.Random) -> str:
    words = ARABIC if i % 5 < 3 else ENGLISH  # 60% Arabic
    return " ".join(rnd.sample(words, rnd.choice((1, 1, 2))))


async def measure(base: str, tokens: list[str], usernames: list[str], queries: int, rnd: random.Random) -> dict:
    """users and posts (mode=text), alternating."""
    got: dict[str, list[float]] = {"users": [], "posts": []}
    sizes: dict[str, list[int]] = {"users": [], "posts": []}
    async with aiohttp.ClientSession() as session:

        async def one(kind: str, q: str, token: str) -> None:
            ms, body = await _get(session, base, token, {"q": q, "type": kind, "mode": "text"})
            got[kind].append(ms)
            sizes[kind].append(len(body["items"]))

        await one("posts", "cairo", tokens[0])  # warm-up, not counted
        got["posts"].clear()
        sizes["posts"].clear()
        for i in range(queries):
            token = tokens[i % len(tokens)]
            name = rnd.choice(usernames)
            uq = name[: rnd.randint(4, 8)] if i % 2 else rnd.choice(NAMES)[:-1] + "ه"  # prefix / fuzzy name
            await one("users", uq, token)
            await one("posts", _posts_query(i, rnd), token)
    return {
        k: {"p50_ms": pct(v, 50), "p99_ms": pct(v, 99), "n": len(v), "items_mean": sum(sizes[k]) / max(1, len(v))}
        for k, v in got.items()
    }


async def _get(session: aiohttp.ClientSession, base: str, token: str, params: dict) -> tuple[float, dict]:
    t = time.perf_counter()
    async with session.get(
        f"{base}/search", params={"limit": "20", **params}, headers={"Authorization": f"Bearer {token}"}
    ) as r:
        body = await r.json()
        if r.status != 200:
            raise RuntimeError(f"search: {r.status} {body}")
    return (time.perf_counter() - t) * 1000, body


async def measure_hybrid(base: str, tokens: list[str], queries: int, rnd: random.Random) -> dict:
    """posts with mode=hybrid, the worker's semantic service running; how many pages were semantic."""
    times, items, sem_times = [], [], []
    async with aiohttp.ClientSession() as session:
        for q in ("cairo", "القاهرة"):  # warm-up (model threads, Qdrant first search), not counted
            await _get(session, base, tokens[0], {"q": q, "type": "posts", "mode": "hybrid"})
        for i in range(queries):
            ms, body = await _get(
                session, base, tokens[i % len(tokens)], {"q": _posts_query(i, rnd), "type": "posts", "mode": "hybrid"}
            )
            times.append(ms)
            items.append(len(body["items"]))
            if body.get("semantic") is True:
                sem_times.append(ms)
    return {
        "p50_ms": pct(times, 50),
        "p99_ms": pct(times, 99),
        "n": len(times),
        "items_mean": sum(items) / max(1, len(items)),
        "semantic": len(sem_times),
        "semantic_p50_ms": pct(sem_times, 50) if sem_times else None,
        "load": os.getloadavg()[0],  # the machine's 1-min load average at the end (2 cores here)
    }


async def embed(settings, n: int) -> dict:
    """The newest `n` posts -> MiniLM -> Qdrant `videos` at the stack's QDRANT_PATH, through the
    embeddings agent's code (index_posts), in batches as the agent takes them. Lets go of Qdrant
    at the end (local mode: one process per path; the worker opens it next)."""
    from infra import vectors
    from infra.services import Services
    from ml import embeddings
    from models.discovery.indexing import PostDoc, index_posts

    dsn = settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id, author_id, visibility, caption, created_at, video_id FROM posts"
            " ORDER BY created_at DESC LIMIT $1",
            n,
        )
    finally:
        await conn.close()
    docs = [
        PostDoc(
            str(r["id"]),
            str(r["author_id"]),
            r["visibility"],
            r["caption"] or "",
            r["created_at"].timestamp(),
            str(r["video_id"]) if r["video_id"] else None,
        )
        for r in rows
    ]
    svc = await Services.start(settings, relay=False)
    try:
        t = time.monotonic()
        await asyncio.to_thread(embeddings.warm, settings)
        load_s = time.monotonic() - t
        t = time.monotonic()
        done = 0
        step = max(1, settings.recs_embed_batch * 8)
        for i in range(0, len(docs), step):
            done += len(await index_posts(svc, docs[i : i + step], [vectors.VIDEOS]))
        embed_s = time.monotonic() - t
        points = await vectors.shared(settings).count(vectors.VIDEOS)
    finally:
        vectors.close_all()
        await svc.stop()
    rate = done / max(embed_s, 1e-9)
    return {"embedded": done, "embed_s": embed_s, "embed_rate": rate, "load_s": load_s, "points": points}


def start_semantic_worker(settings, api_base: str, log_dir: Path) -> tuple[Worker, float]:
    """The real worker with only the semantic search service; returns once it announced itself."""
    import redis

    from models.discovery.semantic import ALIVE

    worker = Worker({**os.environ, "WORKER_AGENTS": "semantic_search"}, log_dir, api_base)
    r = redis.Redis.from_url(settings.redis_url)
    r.delete(ALIVE)  # a stopped worker's presence lasts up to its TTL: wait for this one's
    t = time.monotonic()
    worker.start(wait_ready=False)
    try:
        deadline = time.monotonic() + 150
        while not r.exists(ALIVE):
            if time.monotonic() > deadline or worker.proc is None or not worker.proc.alive:
                tail = worker.proc.tail() if worker.proc else ""
                worker.proc and worker.proc.stop()
                raise RuntimeError(f"semantic search worker did not announce itself:\n{tail}")
            time.sleep(0.2)
    finally:
        r.close()
    return worker, time.monotonic() - t


def then(
    settings, seeded, api_base: str, tokens: list[str], *, log_dir: Path, queries: int = 300, embed_n: int = 10_000
) -> dict:
    """tests/bench/feeds.run's hook: the search figures on its stack, after its measurement. No
    worker may be running (this process opens the stack's Qdrant to embed)."""
    import uvloop

    rnd = random.Random(11)
    dsn = settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
    prep = uvloop.run(prepare(dsn, rnd))
    figures = uvloop.run(measure(api_base, tokens, prep.pop("usernames"), queries, rnd))
    print(f"[bench search] embedding the newest {embed_n:,} posts", file=sys.stderr)
    emb = uvloop.run(embed(settings, embed_n))
    print(f"[bench search] {emb['embedded']:,} posts embedded at {emb['embed_rate']:.0f}/s", file=sys.stderr)
    worker, start_s = start_semantic_worker(settings, api_base, log_dir)
    try:
        hybrid = uvloop.run(measure_hybrid(api_base, tokens, queries, rnd))
    finally:
        if worker.proc is not None:
            worker.proc.stop()
    return {**figures, **prep, "hybrid": hybrid, "embed": {**emb, "worker_start_s": start_s}}


def report_lines(f: dict, feed_p50: float) -> list[str]:
    s = f["search"]
    u, p = s["users"], s["posts"]
    return [
        f"{'16. search users (prefix / fuzzy) p50 (ms)':<44}{u['p50_ms']:>16.1f}  p99 {u['p99_ms']:.1f} ms, "
        f"{u['n']} queries, {u['items_mean']:.1f} items/page; home feed cold p50 {feed_p50:.1f} ms (same run)",
        f"{'   search posts, full text p50 (ms)':<44}{p['p50_ms']:>16.1f}  p99 {p['p99_ms']:.1f} ms, "
        f"{p['n']} queries (60% Arabic), {p['items_mean']:.1f} items/page, rendered post views",
        *hybrid_lines(s),
        f"{'   index':<44}{'':>16}  {s['n_posts']:,} posts, {s['n_users']:,} users; captions and names "
        f"seeded in {s['seed_s']:.1f}s, post_search built in {s['index_s']:.1f}s",
    ]


def hybrid_lines(s: dict) -> list[str]:
    h, e = s.get("hybrid"), s.get("embed")
    if not h or not e:
        return [f"{'   search posts, text + semantic':<44}{'not measured':>16}"]
    share = h["semantic"] / max(1, h["n"])
    return [
        f"{'   search posts, text + semantic p50 (ms)':<44}{h['p50_ms']:>16.1f}  p99 {h['p99_ms']:.1f} ms, "
        f"{h['n']} queries (60% Arabic), {h['items_mean']:.1f} items/page; semantic: true on "
        f"{h['semantic']}/{h['n']} pages ({share:.0%})"
        + ("" if share == 1 else ", the rest fell back to text (no answer within SEARCH_SEMANTIC_TIMEOUT)")
        + (f"; p50 of the semantic pages alone {h['semantic_p50_ms']:.1f} ms" if h["semantic_p50_ms"] else ""),
        f"{'   embedded for it':<44}{'':>16}  newest {e['embedded']:,} of {s['n_posts']:,} posts "
        f"({e['points']:,} Qdrant points), MiniLM {e['embed_rate']:.0f} posts/s through index_posts "
        f"({e['embed_s']:.0f}s, model load {e['load_s']:.1f}s); worker (semantic_search only) up in "
        f"{e['worker_start_s']:.1f}s; load average {h['load']:.1f} on {os.cpu_count()} cores",
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
    ap.add_argument("--embed", type=int, default=10_000, help="newest posts embedded for the hybrid queries")
    args = ap.parse_args(argv)
    f = feeds.run(
        sizes=Sizes(args.users, args.posts, args.reactions),
        viewers=args.viewers,
        then=lambda *a, **kw: then(*a, **kw, queries=args.queries, embed_n=args.embed),
    )
    print("\n".join(feeds.report_lines(f) + report_lines(f, f["cold"]["p50_ms"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
