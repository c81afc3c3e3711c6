"""Print the pinned requirements of one image layer from pyproject.toml, one per line.

`python deps.py core [pyproject.toml]`: [project] dependencies (every image).
`python deps.py torch [pyproject.toml]`: the "ml" extra's torch pin alone, which the Dockerfile
installs first, from the PyTorch CPU index.
`python deps.py ml [pyproject.toml]`: the rest of the "ml" extra (the worker image).
Standard library only: it runs in the Dockerfile before the project is installed.
"""

from __future__ import annotations

import re
import sys
import tomllib


def requirements(layer: str, pyproject: str = "pyproject.toml") -> list[str]:
    with open(pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    if layer == "core":
        return list(project["dependencies"])
    if layer in ("torch", "ml"):
        return [r for r in project["optional-dependencies"]["ml"] if (_name(r) == "torch") == (layer == "torch")]
    raise SystemExit(f"unknown layer {layer!r}: use core, torch or ml")


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()


if __name__ == "__main__":
    print("\n".join(requirements(*sys.argv[1:3])))
