"""Wallet benchmark: tips/s sustained through the domain function `models.wallet.tips.send_tip`
(the function REST and GraphQL call; no HTTP), by concurrent clients in this process, on the
real PostgreSQL ledger with the outbox relay running. Invariants are checked after the run.

1. spread: CLIENTS clients, each tipping random creators from its own wallet, for SECONDS;
2. hot wallet: CLIENTS clients tipping from ONE wallet funded for exactly HOT_TIPS tips, until
   it is empty: every tip serializes on that wallet's lock.
Afterwards: the ledger reconciles (every transaction and the whole ledger sum to zero, balances
equal their entries, none negative), each wallet's balance is what its successful tips imply,
and exactly HOT_TIPS hot-wallet tips succeeded.

`python -m tests.bench.wallet` runs it alone on its own embedded stack; `make bench` runs it as
one section of tests/bench/run.py.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from uuid import UUID, uuid4

import uvloop

from infra.services import Services
from models.accounts import users
from models.wallet import ledger, tips
from models.wallet.ledger import InsufficientFunds
from tests.bench.api_load import pct
from tests.support.wallet import fund

CLIENTS, SECONDS, CREATORS, HOT_TIPS, AMOUNT = 64, 10.0, 16, 1000, 1_000


async def _users(svc, n: int) -> list[UUID]:
    async def one():
        tag = uuid4().hex[:12]
        return (
            await users.register(svc, email=f"w{tag}@example.com", password="bench password 1", username=f"w{tag}")
        ).id

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def _tip(svc, sender: UUID, creator: UUID, latencies: list[float]) -> bool:
    t0 = time.perf_counter()
    try:
        await tips.send_tip(
            svc, sender_id=sender, to_user_id=creator, amount=AMOUNT, idempotency_key=secrets.token_hex(8)
        )
    except InsufficientFunds:
        return False
    latencies.append(time.perf_counter() - t0)
    return True


async def spread(svc, senders: list[UUID], creators: list[UUID], seconds: float) -> dict:
    sent = {s: 0 for s in senders}
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def client(sender: UUID):
        while time.monotonic() < deadline:
            if await _tip(svc, sender, random.choice(creators), latencies):
                sent[sender] += 1

    t0 = time.monotonic()
    await asyncio.gather(*(client(s) for s in senders))
    elapsed = time.monotonic() - t0
    return {
        "tips": sum(sent.values()),
        "seconds": elapsed,
        "rate": sum(sent.values()) / elapsed,
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
        "sent": sent,
    }


async def hot(svc, sender: UUID, creators: list[UUID], clients: int) -> dict:
    latencies: list[float] = []
    done, refused = 0, 0

    async def client():
        nonlocal done, refused
        while True:
            if await _tip(svc, sender, random.choice(creators), latencies):
                done += 1
            else:
                refused += 1
                return

    t0 = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.monotonic() - t0
    return {
        "tips": done,
        "refused": refused,
        "seconds": elapsed,
        "rate": done / elapsed,
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
    }


async def run(settings, *, clients: int = CLIENTS, seconds: float = SECONDS, hot_tips: int = HOT_TIPS) -> dict:
    svc = await Services.start(settings)
    try:
        creators = await _users(svc, CREATORS)
        senders = await _users(svc, clients)
        budget = 10**9  # the spread phase never runs out
        for s in senders:
            await fund(svc, s, budget)
        hot_sender = (await _users(svc, 1))[0]
        await fund(svc, hot_sender, hot_tips * AMOUNT)
        a = await spread(svc, senders, creators, seconds)
        b = await hot(svc, hot_sender, creators, clients)
        share, _fee = tips.split(AMOUNT, settings.platform_fee_bps)
        balances_ok = all([await ledger.balance(svc, s) == budget - n * AMOUNT for s, n in a["sent"].items()])
        earned = sum([await ledger.balance(svc, c) for c in creators])
        check = await ledger.reconcile(svc)
        while await svc.relay.relay_once():  # the run's events are out before the figures are
            pass
        return {
            "clients": clients,
            "spread": {k: v for k, v in a.items() if k != "sent"},
            "hot": b,
            "reconcile": check,
            "balances_ok": balances_ok,
            "creators_ok": earned == (a["tips"] + b["tips"]) * share,
            "hot_exact": b["tips"] == hot_tips and await ledger.balance(svc, hot_sender) == 0,
            "ok": check["ok"] and balances_ok and earned == (a["tips"] + b["tips"]) * share and b["tips"] == hot_tips,
        }
    finally:
        await svc.stop()


def report(r: dict) -> str:
    a, b, c = r["spread"], r["hot"], r["reconcile"]
    return "\n".join(
        [
            f"wallet: tips through models.wallet.tips.send_tip (no HTTP), {r['clients']} concurrent clients",
            f"  spread (own wallets, {CREATORS} creators): {a['rate']:,.0f} tips/s sustained, {a['tips']:,} tips in "
            f"{a['seconds']:.1f}s, p50 {a['p50_ms']:.1f} ms, p99 {a['p99_ms']:.1f} ms",
            f"  hot wallet (one payer): {b['rate']:,.0f} tips/s, {b['tips']:,} tips in {b['seconds']:.1f}s, "
            f"p50 {b['p50_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms, then {b['refused']} refused insufficient_funds",
            f"  invariants: ledger sums {c['sum_by_currency']}, unbalanced transactions "
            f"{len(c['unbalanced_transactions'])}, balance mismatches {len(c['balance_mismatches'])}, negative "
            f"{c['negative_balances']}; payer balances exact: {'YES' if r['balances_ok'] else 'NO'}; creators' "
            f"earnings exact: {'YES' if r['creators_ok'] else 'NO'}; hot wallet exactly drained: "
            f"{'YES' if r['hot_exact'] else 'NO'} ({c['transactions']:,} transactions, {c['entries']:,} entries)",
        ]
    )


def main() -> int:
    from infra.dev import start_stack
    from tests.bench.stack import own_env
    from tests.support.processes import REPO

    tmp = Path(tempfile.mkdtemp(prefix="daira-wallet-bench-"))
    saved = dict(os.environ)
    stop = lambda: None  # noqa: E731
    try:
        base = own_env()
        add, stop = start_stack(tmp / "var", base, preferred_ports=False)
        env = {
            **base,
            **add,
            "APP_ENV": "test",
            "LOG_LEVEL": "WARNING",
            "VAR_DIR": str(tmp / "var"),
            "JWT_SECRET": secrets.token_urlsafe(40),
            "CONSUMER_GROUP_PREFIX": f"bench{uuid4().hex[:8]}",
        }
        subprocess.run(
            [sys.executable, "-m", "infra.migrate"], env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL
        )
        os.environ.update(env)
        from infra.settings import get_settings

        get_settings.cache_clear()
        settings = get_settings()
        if settings.kafka_flavor == "tansu":
            from streams import compat

            compat.apply()
        from infra.kafka import ensure_topics

        uvloop.run(ensure_topics(settings))
        r = uvloop.run(run(settings))
    finally:
        stop()
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(tmp, ignore_errors=True)
    print(report(r))
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
