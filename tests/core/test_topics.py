from pathlib import Path

import pytest
from pydantic import ValidationError

from models.core import topics

DOC = Path(__file__).resolve().parents[2] / "docs" / "topics.md"


def test_docs_topics_md_is_generated_from_the_catalog():
    assert DOC.read_text() == topics.markdown(), "run: python -m models.core.topics > docs/topics.md"


def test_every_event_type_belongs_to_one_topic_with_its_key_in_the_payload():
    seen = set()
    for t in topics.ALL:
        for etype, model in t.events.items():
            assert etype not in seen
            seen.add(etype)
            assert t.key in model.model_fields, f"{etype} lacks the key field {t.key}"


def test_payloads_are_validated():
    good = {
        "post_id": "01a20fdd-cc03-7247-8fee-5f0abb296a8d",
        "user_id": "01a20fdd-cb88-70b1-a05a-a5e6c5b6960c",
        "type": "like",
    }
    assert topics.validate_payload("reaction.added", good)["type"] == "like"
    with pytest.raises(ValidationError):
        topics.validate_payload("reaction.added", {**good, "type": "hug"})
    with pytest.raises(ValidationError):
        topics.validate_payload("reaction.added", {**good, "extra": True})
