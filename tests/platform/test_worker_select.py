"""WORKER_AGENTS picks which agents a worker runs (split media/ML workers from the rest)."""

from __future__ import annotations

import pytest

from streams.app import import_agents, selected
from streams.batch import REGISTRY

import_agents()  # every agent module registers its batch agents


@pytest.mark.parametrize(
    "spec,name,expected",
    [
        ("*", "counters", True),
        ("*,-transcode,-nsfw", "transcode", False),
        ("*,-transcode,-nsfw", "counters", True),
        ("transcode,nsfw", "nsfw", True),
        ("transcode,nsfw", "counters", False),
        ("recs_*", "recs_embeddings", True),
        ("recs_*,-recs_rebuild", "recs_rebuild", False),
        ("", "counters", False),
    ],
)
def test_patterns(spec, name, expected):
    assert selected(name, spec) is expected


def test_every_registered_agent_is_selectable_by_name():
    assert {"counters", "transcode", "nsfw", "follows"} <= set(REGISTRY)
    for name in REGISTRY:
        assert selected(name, name) and not selected(name, f"*,-{name}")
