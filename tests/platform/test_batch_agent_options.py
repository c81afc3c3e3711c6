"""Per-agent options of streams/batch.py: how often an idle agent polls, and its warm-up."""

from __future__ import annotations

import logging

import pytest

from infra.settings import Settings
from ml import embeddings, nsfw
from models.core.topics import POSTS, REACTIONS
from streams.app import import_agents, warm_up
from streams.batch import REGISTRY, TANSU_BACKGROUND_WAIT_MS, TANSU_LIVE_WAIT_MS, BatchAgent, BatchRunner

import_agents()  # every agent module registers its batch agents


async def _noop(events, svc) -> None:
    pass


@pytest.mark.parametrize(
    "flavor,live,wait",
    [
        ("tansu", True, TANSU_LIVE_WAIT_MS),
        ("tansu", False, TANSU_BACKGROUND_WAIT_MS),
        ("kafka", True, 100),
        ("kafka", False, 100),
    ],
)
def test_only_live_agents_poll_the_embedded_broker_fast(flavor, live, wait):
    runner = BatchRunner(BatchAgent("x", REACTIONS, _noop, live=live), None, Settings(KAFKA_FLAVOR=flavor))
    assert runner._fetch_max_wait_ms() == wait


def test_the_live_counters_agent_is_the_only_fast_poller():
    # Each fast poller costs ~100 fetches/s when idle on the embedded broker (docs/agents.md)
    assert [name for name, a in REGISTRY.items() if a.live] == ["counters"]


async def test_warm_up_runs_each_loader_once_and_a_failure_does_not_stop_the_worker(caplog):
    calls = []

    def load(settings):
        calls.append(settings)

    def broken(settings):
        raise RuntimeError("no weights here")

    settings = Settings()
    agents = [
        BatchAgent(n, REACTIONS, _noop, warmup=w) for n, w in (("a", load), ("b", load), ("c", broken), ("d", None))
    ]
    with caplog.at_level(logging.WARNING, logger="streams.app"):
        await warm_up(agents, settings)
    assert calls == [settings]
    [failed] = [r for r in caplog.records if r.getMessage() == "agent warm-up failed"]
    assert "no weights here" in failed.error


def test_model_agents_load_their_model_at_start():
    model_agents = {name: a.warmup for name, a in REGISTRY.items() if a.warmup}
    assert model_agents["nsfw"] is nsfw.warm
    assert {n for n, w in model_agents.items() if w is embeddings.warm} == {
        "recs_embeddings",
        "recs_media",
        "recs_rebuild",
        "recs_signals",
    }


def test_folded_agents_keep_the_consumer_groups_of_the_agents_they_replaced():
    # A deployed worker resumes where the one-topic agents were: same groups, same committed offsets.
    settings = Settings(CONSUMER_GROUP_PREFIX="daira")
    old = {
        "notifications": {
            "content.posts": "notifications_posts",
            "interactions.comments": "notifications_comments",
            "users.follows": "notifications_follows",
            "interactions.reactions": "notifications_reactions",
            "interactions.messages": "notifications_messages",
            "moderation.sanctions": "notifications_sanctions",  # new with the topic, not a replaced agent's
        },
        "recs_signals": {
            "interactions.reactions": "recs_reactions",
            "interactions.engagement": "recs_engagement",
            "interactions.feedback": "recs_feedback",
            "moderation.reports": "recs_reports",
            "recs.users": "recs_users",
        },
    }
    for name, groups in old.items():
        runner = BatchRunner(REGISTRY[name], None, settings)
        assert {r.topic.name: r.status.group for r in runner.runners} == {t: f"daira.{g}" for t, g in groups.items()}
        assert runner.snapshot()["groups"] == {t: f"daira.{g}" for t, g in groups.items()}
    assert REGISTRY["notifications"].records_of(REACTIONS) == 4000
    assert not any(n.startswith("notifications_") or n in old["recs_signals"].values() for n in REGISTRY)


def test_default_consumer_groups():
    settings = Settings(CONSUMER_GROUP_PREFIX="p")
    one = BatchAgent("one", REACTIONS, _noop)
    two = BatchAgent("two", (REACTIONS, POSTS), _noop, groups={POSTS: "legacy"})
    assert [r.status.group for r in BatchRunner(one, None, settings).runners] == ["p.one"]
    assert [r.status.group for r in BatchRunner(two, None, settings).runners] == [
        "p.two.interactions.reactions",
        "p.legacy",
    ]
    with pytest.raises(ValueError):
        BatchAgent("three", REACTIONS, _noop, groups={POSTS: "x"})
