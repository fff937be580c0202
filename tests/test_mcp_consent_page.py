"""The OAuth consent page in a real headless browser (Debian's chromium,
driven by Playwright; no browser is ever downloaded): it renders, names the
client and the scopes, loads nothing from elsewhere, and its form takes the
person back to the client with a code."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from playwright.async_api import async_playwright

from tests.conftest import ThreadedServer, make_tenant
from tests.mcp_stack import McpProcess
from tests.test_mcp_oauth import REDIRECT, authorize_fields, pkce, register

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip
VIEWPORT = {"width": 900, "height": 700}


def png_pixels(png: bytes) -> tuple[int, int, bytes]:
    """Width, height and the raw (filtered) scanlines of a PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    position, data = 8, b""
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        if kind == b"IDAT":
            data += png[position + 8 : position + 8 + length]
        position += 12 + length
    return width, height, zlib.decompress(data)


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (make install)"
)
async def test_consent_page_renders_names_client_and_scopes_and_its_form_works(
    threaded_server: ThreadedServer, mcp_stack: McpProcess, tmp_path: Path
) -> None:
    tenant = threaded_server.run(make_tenant(threaded_server.database_url))
    client_id = register(mcp_stack.base_url, name="Research Assistant").json()["client_id"]
    _, challenge = pkce()
    fields = authorize_fields(client_id, challenge, "read:studies read:interviews")
    url = f"{mcp_stack.base_url}/oauth/authorize?{urlencode(fields)}"
    requested: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = await browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
            page.on("request", lambda request: requested.append(request.url))
            # The client's redirect URI: answered here, as the client would.
            await page.route(f"{REDIRECT}*", lambda route: route.fulfill(body="signed in"))
            response = await page.goto(url)
            assert response is not None and response.status == 200
            heading = await page.inner_text("h1")
            assert "Research Assistant" in heading
            scopes = await page.inner_text("ul")
            assert "read:studies" in scopes and "read:interviews" in scopes
            assert "write:studies" not in scopes
            shot = tmp_path / "consent.png"
            await page.screenshot(path=str(shot), full_page=False)
            assert requested == [url]  # no stylesheet, font or script from anywhere

            await page.fill("#api_key", tenant.api_key)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{REDIRECT}**", timeout=30_000)
            landed = urlparse(page.url)
            assert parse_qs(landed.query)["state"] == ["st-123"]
            assert parse_qs(landed.query)["code"][0].startswith("koji_ac_")
        finally:
            await browser.close()

    width, height, scanlines = png_pixels(shot.read_bytes())
    assert (width, height) == (VIEWPORT["width"], VIEWPORT["height"])
    # Rendered text and a coloured button, not a blank page: many distinct
    # byte values, and rows that differ from the first (background) row.
    row = len(scanlines) // height
    rows = {scanlines[i * row : (i + 1) * row] for i in range(height)}
    assert len(set(scanlines)) > 50
    assert len(rows) > 100
