"""What the shipped caption embeddings (all-MiniLM-L6-v2, ml/embeddings.py) would add to search:
a small hand-made Arabic + English sample where each query shares NO word with its caption (a
paraphrase or synonym: what full text cannot find), and a control set where it does.

For each query: the rank of its caption among all captions by cosine similarity (what a Qdrant
search over the `videos` points returns). Recall@3 per language is printed. The same captions'
full-text matches are zero by construction for the paraphrase set.

`python -m tests.bench.search_semantic` (loads the model, about 5 s; no stack needed).
"""

from __future__ import annotations

import sys

import numpy as np

# (caption, paraphrase query sharing no word with it)
ENGLISH = [
    ("Cats playing in the garden", "kitten outside"),
    ("Best koshari in downtown Cairo", "Egyptian street food"),
    ("Morning workout at the gym", "exercise routine"),
    ("Sunset over the Nile", "evening river view"),
    ("My wedding dance with family", "marriage celebration"),
    ("How to fix a flat tyre", "car repair tutorial"),
    ("Studying for the final exam tonight", "university revision"),
    ("Rainy day in Alexandria", "bad weather by the sea"),
    ("Chocolate cake recipe", "baking dessert"),
    ("Football match goal highlights", "soccer game"),
]
ARABIC = [
    ("قطط بتلعب في الجنينة", "قطة صغيرة برا"),
    ("أحلى كشري في وسط البلد", "أكل شارع مصري"),
    ("تمرين الصبح في الجيم", "رياضة يومية"),
    ("الغروب على النيل", "منظر النهر بالليل"),
    ("رقصة فرحي مع العيلة", "حفلة زواج"),
    ("إزاي تصلح كاوتش العربية", "شرح تصليح سيارة"),
    ("بذاكر لامتحان آخر السنة", "مراجعة الجامعة"),
    ("يوم مطر في إسكندرية", "جو وحش على البحر"),
    ("طريقة كيكة الشوكولاتة", "حلويات في البيت"),
    ("أهداف ماتش الكورة", "مباراة كرة القدم"),
]


def recall(pairs: list[tuple[str, str]], corpus: list[str], k: int = 3) -> tuple[float, float]:
    from ml import embeddings

    docs = embeddings.encode(corpus)
    queries = embeddings.encode([q for _, q in pairs])
    hits, rr = 0, 0.0
    for (caption, _), qv in zip(pairs, queries):
        order = list(np.argsort(-docs @ qv))
        rank = order.index(corpus.index(caption)) + 1
        hits += rank <= k
        rr += 1 / rank
    return hits / len(pairs), rr / len(pairs)


def main() -> int:
    corpus = [c for c, _ in ENGLISH + ARABIC]
    for name, pairs in (("English", ENGLISH), ("Arabic", ARABIC)):
        r, mrr = recall(pairs, corpus)
        print(
            f"{name:<8} paraphrase queries: recall@3 {r:.2f}, MRR {mrr:.2f} over {len(corpus)} captions (chance@3 0.15)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
