"""jobs/rebuild_recommendations.py through the real path: the job reads the stores and sends its
work through Kafka; the worker (the only owner of the local Qdrant) builds new collections and
swaps the aliases. Interrupted and resumed, run again, and checked in Qdrant itself."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import orjson
from qdrant_client import QdrantClient
from sqlalchemy import select

from infra.services import Services
from infra.settings import get_settings
from jobs.rebuild_recommendations import CHECKPOINT
from models.content.posts import Post
from models.discovery.indexing import post_text
from models.discovery.recommendations import FINISHED, read_candidates
from tests.support.factories import create_post, likes, register
from tests.support.processes import REPO
from tests.support.waiting import wait_for


def run_job(env: dict, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "jobs.rebuild_recommendations", "--timeout", "120", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


async def finished(redis, version: str) -> dict:
    return {k.decode(): v.decode() for k, v in (await redis.hgetall(f"{FINISHED}:{version}")).items()}


async def indexable_posts() -> int:
    svc = await Services.start(get_settings(), relay=False)
    try:
        async with svc.sessions() as s:
            return sum(1 for c in (await s.execute(select(Post.caption))).scalars() if post_text(c))
    finally:
        await svc.stop()


async def test_rebuild_resumes_is_idempotent_and_swaps_the_aliases(client, worker, stack_env, redis):
    me, author = await register(client), await register(client)
    posts = [await create_post(client, author, f"rebuild test post {n} #recs") for n in range(3)]
    r = await client.post("/interactions/reactions", json={"post_id": posts[0]}, headers=me["headers"])
    assert r.status_code == 202
    await wait_for(lambda: likes(client, me, posts[0]), timeout=30, what="the like in the engagement store")

    # interrupted after one batch, then resumed: the same version
    out = run_job(stack_env, "--restart", "--max-batches", "1")
    assert "stopped after 1 batch(es)" in out
    version = orjson.loads(await redis.get(CHECKPOINT))["version"]
    out = run_job(stack_env)
    assert f"resuming version {version}" in out and f"done: version {version}" in out
    assert await redis.get(CHECKPOINT) is None
    first = await finished(redis, version)
    expected = await indexable_posts()
    assert first["videos"] == f"videos_{version}" and int(first["videos_points"]) == expected
    assert int(first["users_points"]) >= 1 and first["replaced"]
    cand = await read_candidates(redis, me["user"]["id"])
    assert cand is not None and posts[0] not in [pid for pid, _ in cand["items"]]
    assert {posts[1], posts[2]} <= {pid for pid, _ in cand["items"]}

    # again, while the API serves recommendations: same content, new collections, old ones dropped
    job = subprocess.Popen(
        [sys.executable, "-m", "jobs.rebuild_recommendations", "--restart", "--timeout", "120"],
        env=stack_env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    statuses, watcher = [], await register(client)  # not `me`: what it is served is not recommended again
    while job.poll() is None:
        r = await client.get(f"/recommendations/users/{watcher['user']['id']}/recommended", headers=watcher["headers"])
        statuses.append(r.status_code)
        await asyncio.sleep(0.2)
    out, err = job.communicate()
    assert job.returncode == 0, err[-2000:]
    assert statuses and set(statuses) == {200}
    second_version = out.split("done: version ")[1].split()[0]
    second = await finished(redis, second_version)
    assert second_version != version and int(second["videos_points"]) == expected
    again = await read_candidates(redis, me["user"]["id"])
    got = [pid for pid, _ in again["items"]]
    assert again["at"] > cand["at"] and {posts[1], posts[2]} <= set(got) and posts[0] not in got
    assert set(second["replaced"].split(",")) == {f"videos_{version}", f"users_{version}"}

    # in Qdrant itself (the worker owns the path: stop it, look, start it again)
    worker.proc.stop()
    q = QdrantClient(path=stack_env["QDRANT_PATH"])
    try:
        aliases = {a.alias_name: a.collection_name for a in q.get_aliases().aliases}
        assert aliases == {"videos": f"videos_{second_version}", "users": f"users_{second_version}"}
        assert {c.name for c in q.get_collections().collections} == set(aliases.values())
        assert q.count("videos", exact=True).count == expected
    finally:
        q.close()
        worker.start()
