"""Offline evaluation of the recommender: `python -m jobs.eval_recommender [--users N] [--items N] [--seed S]`.

A generated dataset (fixed seed): creators post captions about topics; users follow one to three
topics (overlapping: topics themselves are unevenly popular), engage mostly within them, picking
posts by a Zipf popularity, plus a share of noise engagement picked by global popularity alone, so
that a popularity baseline is strong. Each user's most recent 20 % of interactions are held out and
must be predicted from the rest. Prints recall@20 and nDCG@20 of the recommender (the agents' own
code: post_text -> all-MiniLM-L6-v2 -> a local Qdrant, the interest-vector update rule, the
candidate search and filter), a popularity baseline and a random baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
from dataclasses import dataclass

import numpy as np

from infra.settings import Settings
from infra.vectors import VIDEOS, Vectors
from ml import embeddings
from models.discovery.indexing import PostDoc, payload_of, post_text
from models.discovery.interests import CANDIDATE_FIELDS, POOL, interest_vector, pick_candidates
from models.discovery.recommendations import WEIGHTS, Signal

K = 20
HOLDOUT = 0.2
TOPICS = {
    "cooking": "pasta recipe dinner kitchen baking bread soup spices grill chef lunch homemade",
    "football": "goal match striker derby league coach penalty stadium fans keeper transfer",
    "travel": "beach flight hotel island mountains backpacking passport sunset city tour",
    "music": "guitar concert album song piano singer band drums lyrics festival jazz",
    "tech": "smartphone laptop software coding gadget review battery chip app update",
    "fitness": "workout gym running yoga muscles cardio stretching marathon squat protein",
    "gaming": "console gameplay level boss multiplayer controller speedrun stream quest arcade",
    "cars": "engine electric sedan horsepower drift racing tires dashboard roadtrip garage",
    "pets": "puppy kitten dog cat vet leash adoption paws training aquarium",
    "fashion": "outfit dress sneakers style runway jacket makeup accessories vintage trend",
    "comedy": "prank joke sketch standup funny parody meme laugh roast bloopers",
    "art": "painting sketch canvas sculpture gallery watercolor portrait drawing mural ink",
}
FILLER = "today wow amazing check this out new best love my first look finally weekend".split()


@dataclass
class Dataset:
    captions: list[str]
    topic_of: list[int]
    train: dict[int, list[int]]  # user -> items, oldest first
    test: dict[int, set[int]]


def generate(n_users: int, n_items: int, seed: int, noise: float = 0.3) -> Dataset:
    rng = random.Random(seed)
    names = list(TOPICS)
    words = {t: TOPICS[t].split() for t in names}
    topic_of = [rng.randrange(len(names)) for _ in range(n_items)]
    captions = []
    for t in topic_of:
        w = rng.sample(words[names[t]], 3) + rng.sample(FILLER, rng.randint(0, 2))
        rng.shuffle(w)
        captions.append(" ".join(w) + f" #{names[t]}" * (rng.random() < 0.7))
    # Popularity: one Zipf over all posts (rank order random), so every topic has its hits.
    rank = list(range(n_items))
    rng.shuffle(rank)
    pop = [1.0 / (rank[i] + 1) ** 0.9 for i in range(n_items)]
    by_topic = {t: [i for i in range(n_items) if topic_of[i] == t] for t in range(len(names))}
    topic_pop = [1.0 / (r + 1) ** 0.7 for r in range(len(names))]  # some topics are everyone's
    train, test = {}, {}
    for u in range(n_users):
        liked = set()
        prefs = set()
        while len(prefs) < rng.choice((1, 2, 2, 3)):
            prefs.add(rng.choices(range(len(names)), topic_pop)[0])
        prefs = sorted(prefs)
        history = []
        for _ in range(rng.randint(15, 50)):
            for _attempt in range(20):
                if rng.random() < noise:
                    i = rng.choices(range(n_items), pop)[0]
                else:
                    pool = by_topic[rng.choice(prefs)]
                    i = rng.choices(pool, [pop[j] for j in pool])[0]
                if i not in liked:
                    liked.add(i)
                    history.append(i)
                    break
        cut = max(1, math.ceil(len(history) * (1 - HOLDOUT)))
        train[u], test[u] = history[:cut], set(history[cut:])
    return Dataset(captions, topic_of, train, test)


def recall_ndcg(recs: dict[int, list[int]], test: dict[int, set[int]]) -> tuple[float, float]:
    recalls, ndcgs = [], []
    for u, held in test.items():
        if not held:
            continue
        got = recs.get(u, [])[:K]
        hits = [1.0 if i in held else 0.0 for i in got]
        recalls.append(sum(hits) / len(held))
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1 / math.log2(r + 2) for r in range(min(len(held), K)))
        ndcgs.append(dcg / idcg)
    return float(np.mean(recalls)), float(np.mean(ndcgs))


def train_counts(data: Dataset) -> np.ndarray:
    """Engagement per post as the store's counters would hold it when the held-out part starts."""
    counts = np.zeros(len(data.captions))
    for items in data.train.values():
        counts[items] += 1
    return counts


async def recommender(data: Dataset, settings: Settings) -> dict[int, list[int]]:
    """The agents' path, in process, on a local Qdrant in memory."""
    vecs = Vectors(settings.model_copy(update={"qdrant_url": "", "qdrant_path": ":memory:"}))
    try:
        await vecs.ensure(VIDEOS)
        ids = [f"00000000-0000-7000-8000-{i:012x}" for i in range(len(data.captions))]
        docs = [PostDoc(ids[i], f"creator-{i % 97}", "public", c, 0.0) for i, c in enumerate(data.captions)]
        emb = await embeddings.aencode([post_text(d.caption) for d in docs])
        for s in range(0, len(docs), 256):
            await vecs.upsert(
                VIDEOS, ids[s : s + 256], emb[s : s + 256], [payload_of(d, None) for d in docs[s : s + 256]]
            )
        vec_of = dict(zip(ids, emb))
        now = 10**12
        users, queries = [], []
        for u, items in data.train.items():
            # one like per training interaction, a minute apart, the latest most recent
            sigs = [
                Signal(ids[i], "like", f"{now - (len(items) - n) * 60_000:012x}70008000000000000000", WEIGHTS["like"])
                for n, i in enumerate(items)
            ]
            v = interest_vector(sigs, lambda s: vec_of.get(s.key), now, settings.recs_half_life.total_seconds() * 1000)
            if v is not None:
                users.append(u)
                queries.append(v)
        n = settings.recs_candidates
        limit = POOL * n + max(len(t) for t in data.train.values())
        hits = await vecs.search_many(VIDEOS, queries, limit, CANDIDATE_FIELDS)
    finally:
        vecs.close()
    index = {pid: i for i, pid in enumerate(ids)}
    engagement = dict(zip(ids, train_counts(data)))
    return {
        u: [
            index[pid]
            for pid, _ in pick_candidates(
                pts, f"user-{u}", {ids[i] for i in data.train[u]}, n, engagement, settings.recs_popularity
            )
        ][:K]
        for u, pts in zip(users, hits)
    }


def popularity(data: Dataset) -> dict[int, list[int]]:
    order = list(np.argsort(-train_counts(data), kind="stable"))
    out = {}
    for u, items in data.train.items():
        seen = set(items)
        out[u] = [int(i) for i in order if i not in seen][:K]
    return out


def random_baseline(data: Dataset, seed: int) -> dict[int, list[int]]:
    rng = random.Random(seed + 1)
    out = {}
    for u, items in data.train.items():
        seen = set(items)
        out[u] = [i for i in rng.sample(range(len(data.captions)), K + len(seen)) if i not in seen][:K]
    return out


def evaluate(n_users: int = 500, n_items: int = 1500, seed: int = 7, settings: Settings | None = None) -> dict:
    settings = settings or Settings()
    data = generate(n_users, n_items, seed)
    t0 = time.monotonic()
    recs = asyncio.run(recommender(data, settings))
    seconds = time.monotonic() - t0
    return {
        "users": n_users,
        "items": n_items,
        "seed": seed,
        "interactions": sum(len(t) for t in data.train.values()) + sum(len(t) for t in data.test.values()),
        "held_out": sum(len(t) for t in data.test.values()),
        "recommender_s": seconds,
        "recommender": recall_ndcg(recs, data.test),
        "popularity": recall_ndcg(popularity(data), data.test),
        "random": recall_ndcg(random_baseline(data, seed), data.test),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jobs.eval_recommender", description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--items", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    r = evaluate(args.users, args.items, args.seed)
    print(
        f"dataset: {r['users']} users, {r['items']} posts, {r['interactions']} interactions, "
        f"{r['held_out']} held out (each user's latest 20%), seed {r['seed']}"
    )
    print(f"{'method':<14}{'recall@20':>11}{'nDCG@20':>10}")
    for name in ("recommender", "popularity", "random"):
        rec, ndcg = r[name]
        print(f"{name:<14}{rec:>11.4f}{ndcg:>10.4f}")
    print(f"(recommender: embedding, indexing and search took {r['recommender_s']:.1f}s)")
    ok = r["recommender"][0] > r["popularity"][0] and r["recommender"][1] > r["popularity"][1]
    print("the recommender beats both baselines" if ok else "THE RECOMMENDER DOES NOT BEAT THE POPULARITY BASELINE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
