"""GraphiQL served whole by the API (api/static/graphiql/, `make vendor-docs`): no CDN, so the
explorer works offline and in an air-gapped office."""

from __future__ import annotations

from functools import cache
from pathlib import Path

ASSETS = Path(__file__).parent.parent / "static" / "graphiql"

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>D-A-I-R-A GraphQL</title>
  <style>body { margin: 0; } #graphiql { height: 100vh; }</style>
  <link rel="stylesheet" href="/graphql/assets/graphiql.min.css">
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="/graphql/assets/react.production.min.js"></script>
  <script src="/graphql/assets/react-dom.production.min.js"></script>
  <script src="/graphql/assets/graphiql.min.js"></script>
  <script>
    const fetcher = GraphiQL.createFetcher({ url: new URL("/graphql", window.location.href).href });
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true })
    );
  </script>
</body>
</html>
"""


@cache
def page() -> str:
    return _PAGE
