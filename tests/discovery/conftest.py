"""Fixtures of the discovery tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def model():
    """The embeddings model, loaded once per test process (about 5 s)."""
    from ml import embeddings

    return embeddings.model()
