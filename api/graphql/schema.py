"""The executable schema: every `sdl/*.graphql` file plus every resolver module's bindables.

Adding an area = one `sdl/<area>.graphql` (using `extend type Query/Mutation`) and one
`resolvers/<area>.py` exporting `bindables`. Nothing else to register.
"""

from __future__ import annotations

from pathlib import Path

from ariadne import make_executable_schema

from api.graphql.resolvers import all_bindables

SDL_DIR = Path(__file__).parent / "sdl"


def type_defs() -> list[str]:
    return [p.read_text() for p in sorted(SDL_DIR.glob("*.graphql"))]


schema = make_executable_schema(type_defs(), *all_bindables(), convert_names_case=True)
