"""requirements/*.lock (made by `make lock`, docs/dependencies.md) match pyproject.toml: every pin
at its version, every line hashed, torch and the CUDA packages left out, one version of each
package across the three locks. A pyproject.toml edited without `make lock` fails here."""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.processes import REPO

LOCKS = {
    "base.lock": ("core",),
    "dev.lock": ("core", "dev"),
    "ml.lock": ("core", "ml"),
}
ENTRY = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})*)", re.M
)


def _pins(groups: tuple[str, ...]) -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    reqs = [r for g in groups for r in (project["dependencies"] if g == "core" else extras[g])]
    out = {}
    for raw in reqs:
        req = Requirement(raw)
        (spec,) = req.specifier  # exact pins only (docs/dependencies.md)
        assert spec.operator == "==", raw
        out[canonicalize_name(req.name)] = spec.version
    return out


def _lock(name: str) -> dict[str, tuple[str, int]]:
    text = (REPO / "requirements" / name).read_text()
    entries = {canonicalize_name(m[1]): (m[3], m[4].count("--hash=")) for m in ENTRY.finditer(text)}
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith((" ", "#"))]
    assert len(lines) == len(entries), "a lock line the parser did not read"
    return entries


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_a_lock_holds_every_pin_hashed_without_torch(name):
    lock = _lock(name)
    pins = _pins(LOCKS[name])
    pins.pop("torch", None)  # installed first, from the local CPU wheel (Makefile)
    wrong = {n: (v, lock.get(n, ("missing", 0))[0]) for n, v in pins.items() if lock.get(n, ("",))[0] != v}
    assert not wrong, f"pyproject.toml and requirements/{name} differ (run `make lock`): {wrong}"
    assert all(hashes for _, hashes in lock.values()), [n for n, (_, h) in lock.items() if not h]
    cuda = [n for n in lock if n == "torch" or n == "triton" or n.startswith("nvidia-")]
    assert not cuda, cuda
    assert "sentence-transformers" not in lock or "sympy" in lock  # torch's own dependencies stay in


def test_the_locks_agree_on_every_shared_version():
    locks = {name: _lock(name) for name in LOCKS}
    versions: dict[str, set[str]] = {}
    for lock in locks.values():
        for n, (v, _) in lock.items():
            versions.setdefault(n, set()).add(v)
    assert not {n: v for n, v in versions.items() if len(v) > 1}
    assert set(locks["base.lock"]) <= set(locks["dev.lock"]) & set(locks["ml.lock"])
