"""`make bench`: one run on a fresh embedded stack (PostgreSQL, Redis, Tansu) in a temp dir.

1. API accept rate: reactions/s answered 202 by one uvicorn process under 64 connections.
2. Counters agent apply rate: N pre-produced reaction events consumed and applied by the real
   counters agent (BatchRunner, PostgreSQL store, Redis publish), in this process.
3. Baseline on the same topic: plain aiokafka getmany + orjson + the same aggregation in memory.
4. Faust reference: a Faust agent iterating the same topic message by message.
5. End-to-end latency: POST /interactions/reactions -> websocket `counter.updated`, with the
   worker running as its own process.
6, 7. Media (tests/bench/media.py): HLS transcode through infra.ffmpeg vs the same ffmpeg argv
   run directly, and NSFW frames/s; run after the stack is stopped (--no-media skips them).
8. Wallet (tests/bench/wallet.py): tips/s through the domain function by 64 concurrent clients,
   ledger invariants checked after the run (--no-wallet skips it).
9. Home feed (tests/bench/feeds.py): jobs/seed_dataset.py's 10k users / 100k posts / 1M reactions
   seeded into this stack after 5 (worker stopped), then GET /feeds/home p50/p99 cold, cached and
   page 2, the same page over GraphQL with every field of the post view (its ratio to REST), and
   the SQL statements per page (--no-feeds skips it).
16. Search (tests/bench/search.py), on 9's dataset and stack right after it: Arabic/English
   captions and display names COPY-ed in, post_search built in bulk, then GET /search p50/p99
   for users and posts (text), then the newest --search-embed posts (10k) embedded and the worker
   started with the semantic search service only for posts mode=hybrid p50/p99 and its share of
   semantic pages, beside 9's home feed p50 (--no-search skips it).
10, 11. Recommendations (tests/bench/recs.py): the embeddings agent's posts/s against raw
   model.encode on the same captions, and GET /recommendations/.../recommended p50/p99, after 9
   (worker stopped; --no-recs skips them).
12. Images (tests/bench/images.py): photos/s through models/media/imaging.render against Pillow's
   own resize of the same files, the NSFW score of one image, a bomb's refusal; after the stack
   is stopped (--no-images skips it).
13-15. Realtime (tests/bench/realtime.py), after 5 with the worker running: fan-out of one like to
   1,000 sockets on 2 API processes vs a single subscriber, for /ws, Socket.IO and GraphQL
   subscriptions in one table, memory per idle socket at 5,000 sockets, logout -> socket close
   (--no-realtime skips them; --realtime-sockets, --realtime-idle, --realtime-client-procs).
17, 18. Text checks (tests/bench/toxicity.py), after 8: each text model's precision and recall on
   tests/bench/data/toxicity.jsonl, and the full check's checks/s against the raw model call
   (--no-text skips them).
19. Group chats (tests/bench/groups.py), after 13-15: one message to a 256-member room delivered
   to every member's /ws socket on 2 API processes, vs a one-to-one message in the same run
   (--no-groups skips it; --group-members, --group-messages). Alone: python -m tests.bench.groups.
Run order: 2, 3, 4 on the pre-produced topic, 8, then 1 (the API alone on the machine), then 5, 6, 7.
The apply run is checked against the workload's known end state (counters = active edges =
expected, every counter exact). Speed figures are printed, not asserted; the exit code is 1 only
if the results are wrong. Options: --events N, --load-seconds S, --e2e N, --no-faust, --no-media, --no-images.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import orjson
import uvloop

from infra.dev import start_stack
from tests.bench import (
    api_load,
    apply,
    feeds,
    groups,
    images,
    media,
    realtime,
    recs,
    search,
    toxicity,
    wallet,
    workload,
)
from tests.bench.stack import bench_env, own_env
from tests.support.processes import REPO, Proc, Worker, start_api


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def faust_reference(env: dict, log_dir: Path, n: int, limit: float) -> dict | None:
    """Run tests.bench.faust_ref as a process; its figures, or None if it gave none in time."""
    app_id = f"{env['CONSUMER_GROUP_PREFIX']}-faustref"
    result = log_dir / "faust-result.json"
    proc = Proc(
        "faust-ref", ["-m", "tests.bench.faust_ref", app_id, str(n), str(limit), str(result)], env, log_dir
    ).start()
    try:
        deadline = time.monotonic() + limit + 40  # start-up and group join included
        while time.monotonic() < deadline and proc.alive:
            if result.exists():
                return orjson.loads(result.read_bytes())
            time.sleep(0.2)
        say(f"faust reference gave no result; log tail:\n{proc.tail(15)}")
        return None
    finally:
        proc.stop(timeout=10)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--load-seconds", type=float, default=10.0)
    ap.add_argument("--e2e", type=int, default=300)
    ap.add_argument("--no-faust", action="store_true")
    ap.add_argument("--no-media", action="store_true")
    ap.add_argument("--no-images", action="store_true")
    ap.add_argument("--no-wallet", action="store_true")
    ap.add_argument("--no-feeds", action="store_true")
    ap.add_argument("--no-search", action="store_true")
    ap.add_argument("--search-embed", type=int, default=10_000)
    ap.add_argument("--no-recs", action="store_true")
    ap.add_argument("--no-realtime", action="store_true")
    ap.add_argument("--no-text", action="store_true")
    ap.add_argument("--realtime-sockets", type=int, default=1000)
    ap.add_argument("--realtime-idle", type=int, default=5000)
    ap.add_argument("--realtime-client-procs", type=int, default=4)
    ap.add_argument("--no-groups", action="store_true")
    ap.add_argument("--group-members", type=int, default=256)
    ap.add_argument("--group-messages", type=int, default=20)
    ap.add_argument("--faust-seconds", type=float, default=20.0)
    args = ap.parse_args(argv)

    t_start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="daira-bench-"))
    log_dir = tmp / "logs"
    log_dir.mkdir()
    saved_env = dict(os.environ)
    stop_stack = lambda: None  # noqa: E731
    procs: list = []
    r: dict = {}
    try:
        base_env = own_env()
        say(f"starting the embedded stack in {tmp}")
        add, stop_stack = start_stack(tmp / "var", base_env, preferred_ports=False)
        env = bench_env(base_env, add, tmp / "var")
        subprocess.run(
            [sys.executable, "-m", "infra.migrate"], env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL
        )
        os.environ.clear()
        os.environ.update(env)
        from infra.settings import get_settings

        get_settings.cache_clear()
        settings = get_settings()
        if settings.kafka_flavor == "tansu":
            from streams import compat

            compat.apply()
        from infra.kafka import ensure_topics
        from models.core.topics import REACTIONS

        # ---- 2 and 3: the same N events, read by the agent, the baseline and Faust
        say(f"generating {args.events} reaction events")
        w = workload.make(args.events)
        # The workload's ~1M objects are the benchmark's, not the agent's: keep them out of the
        # garbage collector's way, as they would be in a worker process.
        gc.collect()
        gc.freeze()
        r["workload"] = w
        uvloop.run(ensure_topics(settings))
        r["produce_s"] = uvloop.run(workload.produce(settings.kafka_bootstrap, REACTIONS.name, w.records))
        say(f"produced {len(w.records)} events in {r['produce_s']:.1f}s; running the counters agent")
        r["agent"] = uvloop.run(apply.run_agent(settings, len(w.records)))
        r["verify"] = uvloop.run(apply.verify_store(settings.database_url, w.expected_counters()))
        say(f"agent: {r['agent']['rate']:,.0f} events/s; running the baseline")
        r["baseline"] = uvloop.run(
            apply.run_baseline(
                settings, REACTIONS.name, len(w.records), f"{env['CONSUMER_GROUP_PREFIX']}.bench-baseline"
            )
        )
        r["baseline_exact"] = r["baseline"].pop("counters") == w.expected_counters()
        if not args.no_faust:
            say("running the Faust reference")
            r["faust"] = faust_reference(env, log_dir, len(w.records), args.faust_seconds)

        if not args.no_wallet:
            say("wallet: tips/s through the domain function, ledger invariants after the run")
            r["wallet"] = uvloop.run(wallet.run(settings))

        if not args.no_text:
            say("text checks: precision/recall on the labelled sample, full check vs raw model call")
            r["text"] = toxicity.run(settings)

        # ---- 1: API accept rate (the worker is not running yet: the API has the machine)
        say("starting the API")
        api_proc, base = start_api(env, log_dir)
        procs.append(api_proc)
        users = uvloop.run(api_load.register_users(base, 50))
        posts = uvloop.run(api_load.create_posts(base, users, 27))
        load_posts, e2e_posts, warm_post = posts[:20], posts[20:26], posts[26]
        say(f"API accept rate: 64 connections for {args.load_seconds:.0f}s")
        r["api"] = uvloop.run(api_load.accept_rate(base, users, load_posts, seconds=args.load_seconds))

        # ---- 5: end to end, with the worker as its own process, started in steady state
        from streams.app import import_agents

        import_agents()  # fills REGISTRY with every agent
        from streams.batch import REGISTRY

        groups = [
            a.group(REACTIONS, env["CONSUMER_GROUP_PREFIX"]) for a in REGISTRY.values() if REACTIONS in a.topic_list
        ] + [f"{env['CONSUMER_GROUP_PREFIX']}-worker"]
        skipped = uvloop.run(apply.skip_backlog(settings, REACTIONS.name, groups))
        say(f"{len(groups)} worker groups start at the end of {REACTIONS.name} ({skipped:,} events)")
        say("starting the worker")
        worker = Worker(env, log_dir, base)
        procs.append(worker)
        worker.start()
        say(f"end-to-end latency: {args.e2e} sequential likes")
        r["e2e"] = uvloop.run(api_load.e2e_latency(base, users, e2e_posts, warm_post, n=args.e2e))

        # ---- 13-15: realtime, the worker running (a real like is what fans out)
        if not args.no_realtime:
            say(f"realtime: fan-out to {args.realtime_sockets} sockets on 2 API processes, idle memory, logout")
            r["realtime"] = realtime.run(
                env,
                log_dir,
                fanout=args.realtime_sockets,
                idle=args.realtime_idle,
                client_procs=args.realtime_client_procs,
            )

        # ---- 16: group chats, a message to a 256-member room vs a one-to-one message
        if not args.no_groups:
            say(f"groups: 1 message -> {args.group_members} members' sockets on 2 API processes vs one-to-one")
            r["groups"] = groups.run(env, log_dir, base, members=args.group_members, messages=args.group_messages)

        # ---- 9: home feed at size, reads only (the worker's republished trending would race the seed's)
        if not args.no_feeds:
            worker.proc.stop()
            say("home feed: seeding 10k users, 100k posts, 1M reactions, then GET /feeds/home")
            then = None if args.no_search else partial(search.then, embed_n=args.search_embed)
            r["feeds"] = feeds.run(env, log_dir, base, then=then)

        # ---- 6c: the transcode agent in this process, the worker stopped (it would take the video too)
        if not args.no_media:
            worker.proc.stop()
            say("media: the transcode agent vs the same ffmpeg command")
            r["media_agent"] = media.agent_run()

        # ---- 10, 11: recommendations, the worker stopped (the agent runs in this process)
        if not args.no_recs:
            worker.proc.stop()
            say("recommendations: embeddings agent vs raw model.encode, then GET recommended")
            r["recs"] = recs.run(settings, base)
    finally:
        for p in reversed(procs):
            proc = p.proc if isinstance(p, Worker) else p
            if proc is not None:
                proc.stop()
        stop_stack()
        os.environ.clear()
        os.environ.update(saved_env)
        shutil.rmtree(tmp, ignore_errors=True)
    if not args.no_media:
        say("media: HLS transcode (library vs direct ffmpeg), NSFW frames/s")
        r["media"] = media.run()
    if not args.no_images:
        say("images: render() vs Pillow's own resize of the same files")
        r["images"] = images.run()
    report(r, time.monotonic() - t_start)
    bomb_refused = r.get("images", {"bomb_ms": 0})["bomb_ms"] is not None
    if not (r["verify"]["exact"] and r["baseline_exact"] and r.get("wallet", {"ok": True})["ok"] and bomb_refused):
        print("WRONG RESULTS: the figures above are not valid", file=sys.stderr)
        return 1
    return 0


def report(r: dict, total_s: float) -> None:
    w, a, b, v = r["workload"], r["agent"], r["baseline"], r["verify"]
    f, api, e2e = r.get("faust"), r["api"], r["e2e"]
    ratio = a["rate"] / b["rate"]
    lines = [
        "",
        f"D-A-I-R-A benchmark ({os.cpu_count()} CPUs, Python {sys.version.split()[0]}, embedded stack), "
        f"total {total_s:.0f}s",
        "",
        f"workload: {len(w.records):,} reaction events on {w.n_posts:,} posts (Zipf 1.1) by "
        f"{w.n_users:,} users; {w.removals:,} unlikes, {w.duplicates:,} redelivered duplicates; "
        f"produced in {r['produce_s']:.1f}s "
        f"({len(w.records) / r['produce_s']:,.0f}/s)",
        "",
        f"{'figure':<44}{'value':>16}  detail",
        f"{'-' * 44}{'-' * 16}  {'-' * 40}",
        f"{'1. API accept rate (202/s)':<44}{api['rate']:>16,.0f}  p50 {api['p50_ms']:.1f} ms, p99 "
        f"{api['p99_ms']:.1f} ms, {api['connections']} conns, {api['requests']:,} requests, "
        f"non-202: {api['non_202']}",
        f"{'2. counters agent apply (events/s)':<44}{a['rate']:>16,.0f}  {a['events']:,} events in "
        f"{a['seconds']:.2f}s, {a['batches']} batches (max_records {a['max_records']}); handler "
        f"{a['handler_s']:.2f}s of which store {a['store_s']:.2f}s; this process busy "
        f"{a['cpu_share']:.0%} of the time",
        f"{'3. baseline aiokafka+orjson (events/s)':<44}{b['rate']:>16,.0f}  {b['events']:,} events in "
        f"{b['seconds']:.2f}s, getmany(500), commit per batch, no store",
        f"{'   agent / baseline':<44}{ratio:>15.1%}   target >= 30%",
    ]
    if f:
        lines.append(
            f"{'4. Faust per-message agent (events/s)':<44}{f['rate']:>16,.0f}  "
            f"{f['events']:,} events in {f['seconds']:.2f}s ({f['rate'] / b['rate']:.1%} of baseline)"
        )
    else:
        lines.append(
            f"{'4. Faust per-message agent':<44}{'skipped':>16}  see ARCHITECTURE.md §4 (3-7% of raw aiokafka)"
        )
    lines += [
        f"{'5. end to end POST -> ws push p50 (ms)':<44}{e2e['p50_ms']:>16.1f}  p99 {e2e['p99_ms']:.1f} ms, "
        f"max {e2e['max_ms']:.1f} ms, {e2e['pushes']}/{e2e['likes']} pushed "
        f"(POST alone p50 {e2e['post_p50_ms']:.1f} ms)",
        "",
        f"correctness after the apply run: sum(post_counters) = {v['counter_sum']:,}, active edges = "
        f"{v['active_edges']:,}, expected = {v['expected_active']:,}; every counter exact: "
        f"{'YES' if v['exact'] else 'NO'}; baseline aggregate exact: "
        f"{'YES' if r['baseline_exact'] else 'NO'}",
        "",
    ]
    if r.get("media"):
        after_e2e = next(i for i, ln in enumerate(lines) if ln.startswith("5. end to end")) + 1
        lines[after_e2e:after_e2e] = media.report_lines(r["media"]) + (
            media.agent_report_lines(r["media_agent"]) if r.get("media_agent") else []
        )
    if r.get("realtime"):
        lines += realtime.report_lines(r["realtime"]) + [""]
    if r.get("groups"):
        lines += groups.report_lines(r["groups"]) + [""]
    if r.get("wallet"):
        lines += [wallet.report(r["wallet"]), ""]
    if r.get("feeds"):
        lines += feeds.report_lines(r["feeds"]) + [""]
        if r["feeds"].get("search"):
            lines += search.report_lines(r["feeds"], r["feeds"]["cold"]["p50_ms"]) + [""]
    if r.get("recs"):
        lines += recs.report_lines(r["recs"]) + [""]
    if r.get("images"):
        lines += images.report_lines(r["images"]) + [""]
    if r.get("text"):
        lines += toxicity.report_lines(r["text"]) + [""]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
