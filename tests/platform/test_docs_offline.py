"""The docs pages render offline: Swagger UI at /docs and GraphiQL at GET /graphql load every
script and style from the API itself. Headless Chromium (Debian's `chromium`, installed by
`make test-deps`), driven over the DevTools protocol, with every host but 127.0.0.1 unresolvable:
a page that still needed a CDN would stay blank, and any request that leaves the machine fails
the test."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import websockets

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--remote-debugging-port=0",
]


class Page:
    """One tab over the DevTools protocol: commands by id, events gathered as they come."""

    def __init__(self, ws) -> None:
        self.ws, self.ids, self.pending, self.requests = ws, itertools.count(1), {}, []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            if "id" in msg and msg["id"] in self.pending:
                self.pending.pop(msg["id"]).set_result(msg)
            elif msg.get("method") == "Network.requestWillBeSent":
                self.requests.append(msg["params"]["request"]["url"])

    async def send(self, method: str, **params) -> dict:
        mid = next(self.ids)
        self.pending[mid] = fut = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        msg = await asyncio.wait_for(fut, 60)
        assert "error" not in msg, msg
        return msg["result"]

    async def evaluate(self, expression: str):
        result = await self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 120) -> object:
        """Polls until the expression is truthy (no timing assertion: only a generous bound)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.5)
        html = await self.evaluate("document.body ? document.body.innerText.slice(0, 500) : ''")
        raise AssertionError(f"never true: {expression}\nrequests: {self.requests}\npage text: {html!r}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail("headless Chromium is missing: run `make test-deps` (apt-get install chromium chromium-driver)")
    profile = tmp_path_factory.mktemp("chromium")
    proc = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 60
    while not port_file.exists() or not port_file.read_text().strip():
        assert proc.poll() is None, "chromium exited at start"
        assert time.monotonic() < deadline, "chromium did not open its DevTools port"
        time.sleep(0.2)
    port = int(port_file.read_text().split()[0])
    yield port
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def open_page(port: int, url: str):
    async with httpx.AsyncClient() as c:
        target = (await c.put(f"http://127.0.0.1:{port}/json/new?about:blank")).json()
    ws = await websockets.connect(target["webSocketDebuggerUrl"], max_size=None)
    page = Page(ws)
    await page.send("Network.enable")
    await page.send("Runtime.enable")
    await page.send("Page.navigate", url=url)
    return page


async def close(page: Page) -> None:
    page.reader.cancel()
    await page.ws.close()


def only_local(urls: list[str]) -> list[str]:
    return [u for u in urls if not u.startswith(("http://127.0.0.1:", "data:", "blob:", "about:"))]


async def test_swagger_ui_renders_offline(browser, api):
    page = await open_page(browser, f"{api}/docs")
    try:
        # an operation of the API, rendered by Swagger UI from /openapi.json
        await page.wait_for("document.querySelector('.opblock-summary-path[data-path=\"/auth/register\"]') !== null")
        assert await page.evaluate("typeof SwaggerUIBundle") == "function"
        # the browser really is offline: the internet is unreachable from this page
        assert (
            await page.evaluate("fetch('https://cdnjs.cloudflare.com/').then(() => 'reached', () => 'blocked')")
            == "blocked"
        )
        assert f"{api}/docs/assets/swagger-ui-bundle.js" in page.requests
        assert only_local(page.requests) == ["https://cdnjs.cloudflare.com/"]  # only the probe above
    finally:
        await close(page)


async def test_graphiql_renders_offline(browser, api):
    page = await open_page(browser, f"{api}/graphql")
    try:
        await page.wait_for("document.querySelector('.graphiql-container .graphiql-query-editor .CodeMirror') !== null")
        # the page navigation, then GraphiQL's own introspection request to this API
        deadline = time.monotonic() + 120
        while page.requests.count(f"{api}/graphql") < 2:
            assert time.monotonic() < deadline, page.requests
            await asyncio.sleep(0.5)
        assert await page.evaluate("typeof GraphiQL") == "function"
        assert await page.evaluate("fetch('https://esm.sh/').then(() => 'reached', () => 'blocked')") == "blocked"
        assert f"{api}/graphql/assets/graphiql.min.js" in page.requests
        assert only_local(page.requests) == ["https://esm.sh/"]
    finally:
        await close(page)
