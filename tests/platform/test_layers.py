"""The layer rule and the no-cycle rule (docs/architecture.md) hold on this tree, and the
import-linter contracts that `make lint` runs really catch a cycle or an upward import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "infra", "jobs", "ml", "models", "streams")


@pytest.fixture(scope="module")
def lint_imports():
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.fail("import-linter is missing: `make test` installs the dev extra")

    def run(root: Path, *contracts: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(root)}
        args = [a for c in contracts for a in ("--contract", c)]
        return subprocess.run(
            [str(exe), "--no-cache", *args], cwd=root, env=env, capture_output=True, text=True, timeout=300
        )

    return run


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, root / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_this_tree_keeps_every_contract(lint_imports):
    r = lint_imports(REPO)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_cycle_inside_a_domain_is_refused(lint_imports, tmp_path):
    root = _copy(tmp_path)
    # blocking imports lookups; lookups importing blocking back closes a cycle inside models.social
    _append(root / "models/social/lookups.py", "from models.social import blocking  # noqa")
    assert lint_imports(root, "layers").returncode == 0  # no layer is crossed: only the cycle check sees it
    r = lint_imports(root, "acyclic")
    assert r.returncode != 0 and "BROKEN" in r.stdout
    assert "No cycles are allowed in models.social" in r.stdout, r.stdout


def test_a_lazy_import_inside_a_function_counts(lint_imports, tmp_path):
    root = _copy(tmp_path)
    _append(root / "models/social/lookups.py", "def _late():\n    from models.social import blocking  # noqa")
    r = lint_imports(root, "acyclic")
    assert r.returncode != 0 and "No cycles are allowed in models.social" in r.stdout, r.stdout


def test_an_upward_import_is_refused(lint_imports, tmp_path):
    root = _copy(tmp_path)
    # the core may not know any domain, nor infra
    _append(root / "models/core/errors.py", "from models.content import posts  # noqa")
    r = lint_imports(root, "layers")
    assert r.returncode != 0 and "BROKEN" in r.stdout
    assert "models.core.errors -> models.content.posts" in r.stdout, r.stdout


def test_a_route_imported_by_a_resolver_is_refused(lint_imports, tmp_path):
    root = _copy(tmp_path)
    _append(root / "api/graphql/resolvers/common.py", "from api.routes import health  # noqa")
    r = lint_imports(root, "faces")
    assert r.returncode != 0 and "api.graphql.resolvers.common -> api.routes.health" in r.stdout, r.stdout
