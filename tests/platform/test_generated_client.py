"""/openapi.json is a contract: every operation declares its success body and the shared error
body, and a client generated from it by a real generator (openapi-python-client) works against
the live API: register, create a post, read it back, and an error parsed as ErrorOut
(docs/api.md#generating-a-client)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ERROR_REF = "#/components/schemas/ErrorOut"
PACKAGE = "daira_generated_client"


def _schema_of(response: dict) -> dict | None:
    return next(iter(response.get("content", {}).values()), {}).get("schema")


async def test_every_operation_declares_its_success_and_its_errors(client):
    spec = (await client.get("/openapi.json")).json()
    ops = [(m.upper(), p, op) for p, item in spec["paths"].items() for m, op in item.items()]
    assert len(ops) > 100  # the whole REST surface, not a sample
    bad, ids = [], set()
    for method, path, op in ops:
        responses = op["responses"]
        ok = {s: r for s, r in responses.items() if s.startswith("2")}
        # a 2xx with a body schema, or one that has no body on purpose (204, Tus' HEAD and 201)
        if not ok or not all(_schema_of(r) or s == "204" or method in ("HEAD", "OPTIONS") for s, r in ok.items()):
            if not (method == "POST" and path == "/media/upload" and "201" in ok):
                bad.append((method, path, "no 2xx schema", sorted(ok)))
        errors = {s: r for s, r in responses.items() if s[0] == "4"}
        takes_input = op["parameters"] or op.get("requestBody") or op.get("security") != []
        if not takes_input:  # health, Tus discovery: nothing a client can get wrong, so no 4xx
            if not any(s[0] == "5" for s in responses):
                bad.append((method, path, "no 5xx", sorted(responses)))
        # GraphQL answers its own error shape ({"errors": [...]}) on POST, as the protocol says
        elif path != "/graphql" or method != "POST":
            if not any((_schema_of(r) or {}).get("$ref") == ERROR_REF for r in errors.values()):
                bad.append((method, path, "no 4xx ErrorOut", sorted(errors)))
        ids.add(op["operationId"])
    assert not bad, bad
    assert len(ids) == len(ops), "operation ids must be unique (generated function names)"
    error = spec["components"]["schemas"]["ErrorOut"]
    detail = spec["components"]["schemas"]["ErrorDetail"]
    assert error["required"] == ["error"] and set(detail["required"]) == {"code", "message"}
    assert "details" in detail["properties"]
    # The Tus upload protocol is in the document, with its headers
    tus = spec["paths"]["/media/upload"]
    assert {"options", "post"} <= set(tus)
    assert "location" in {h.lower() for h in tus["post"]["responses"]["201"]["headers"]}
    one = spec["paths"]["/media/upload/{video_id}"]
    assert {"head", "patch", "delete"} <= set(one)
    assert "upload-offset" in {h.lower() for h in one["patch"]["responses"]["204"]["headers"]}
    headers = {p["name"]: p.get("required", False) for p in one["patch"]["parameters"] if p["in"] == "header"}
    assert headers["tus-resumable"] and headers["upload-offset"] and not headers["upload-checksum"]
    # public reads say that a token is optional, public routes that none is needed
    assert {} in spec["paths"]["/posts/{post_id}"]["get"]["security"]
    assert spec["paths"]["/auth/register"]["post"]["security"] == []


@pytest.fixture
async def generated(client, tmp_path):
    """A client package generated from the live document into a temp dir, imported."""
    doc = tmp_path / "openapi.json"
    doc.write_text(json.dumps((await client.get("/openapi.json")).json()))
    bin_dir = Path(sys.executable).parent
    out = subprocess.run(
        [str(bin_dir / "openapi-python-client"), "generate", "--path", str(doc), "--meta", "none"]
        + ["--output-path", str(tmp_path / PACKAGE)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},  # its ruff hook
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Warning" not in out.stdout + out.stderr, out.stdout + out.stderr  # nothing skipped
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


async def test_a_generated_client_registers_posts_reads_and_parses_errors(generated, api):
    pkg = generated
    models = importlib.import_module(f"{PACKAGE}.models")
    register = importlib.import_module(f"{PACKAGE}.api.auth.post_auth_register")
    create = importlib.import_module(f"{PACKAGE}.api.posts.post_posts_create")
    get = importlib.import_module(f"{PACKAGE}.api.posts.get_posts_get")

    tag = uuid.uuid4().hex[:10]
    anonymous = pkg.Client(base_url=api)
    tokens = await register.asyncio(
        client=anonymous,
        body=models.RegisterIn(email=f"g{tag}@example.com", password="correct horse 1", username=f"g{tag}"),
    )
    assert isinstance(tokens, models.TokensOut), tokens
    assert tokens.token_type == "bearer" and tokens.user.username == f"g{tag}"

    me = pkg.AuthenticatedClient(base_url=api, token=tokens.access_token)
    post = await create.asyncio(client=me, body=models.PostIn(caption="أول فيديو ٣"))
    assert isinstance(post, models.PostViewOut), post
    assert post.author_id == tokens.user.id and post.caption == "أول فيديو ٣" and post.visibility == "public"

    again = await get.asyncio(str(post.id), client=me)
    assert isinstance(again, models.PostViewOut) and again.id == post.id and again.created_at == post.created_at

    missing = await get.asyncio(str(uuid.uuid4()), client=me)
    assert isinstance(missing, models.ErrorOut), missing
    assert missing.error.code == "post_not_found" and missing.error.message

    # a body the schema refuses: 422 ErrorOut with per-field details; the same taken account: 409
    detailed = await create.asyncio_detailed(client=me, body=models.PostIn(caption="x" * 2201))
    assert detailed.status_code == 422 and isinstance(detailed.parsed, models.ErrorOut)
    assert detailed.parsed.error.code == "validation_error"
    assert any(d["field"] == "caption" for d in detailed.parsed.error.details)
    taken = await register.asyncio_detailed(
        client=anonymous,
        body=models.RegisterIn(email=f"g{tag}@example.com", password="correct horse 1", username=f"h{tag}"),
    )
    assert taken.status_code == 409 and isinstance(taken.parsed, models.ErrorOut)
