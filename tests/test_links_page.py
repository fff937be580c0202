"""The respondent's chat page in a real headless browser (Debian's chromium
driven by Playwright; no browser is ever downloaded), through a real Envoy
and server: a whole interview with every widget type ending in the thank-you
and a `natural` completion, a reply shown piece by piece as it streams,
reload-and-resume, leaving mid-way (`respondent_left`, a keepalive request),
and a 375-px-wide screenshot that renders without sideways scrolling."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import Rest, make_tenant
from tests.helpers import wait_until
from tests.test_links_rest import new_link, published, token_of
from tests.test_studies_rest import headers

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (make install)"
)


@pytest.fixture
def project(rest: Rest) -> tuple[str, dict[str, Any]]:
    """A project's key and a published study of every question type."""
    tenant = rest.threaded.run(make_tenant(rest.threaded.database_url))
    return tenant.api_key, published(rest, tenant.api_key)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


def page_url(rest: Rest, link: dict[str, Any], query: str = "") -> str:
    return f"{rest.envoy.base_url}/i/{token_of(link)}{query}"


def interview(rest: Rest, key: str, interview_id: str) -> dict[str, Any]:
    response = rest.client.get(f"/api/v1/interviews/{interview_id}", headers=headers(key))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def stored_interview_id(page: Page) -> str:
    return str(
        await page.evaluate(
            "() => JSON.parse(sessionStorage.getItem(Object.keys(sessionStorage)[0])).interview_id"
        )
    )


async def answer_with(page: Page, legend: str, *labels: str) -> None:
    """Waits for the question's widget, picks `labels`, sends the answer."""
    form = page.locator("#widget form")
    await expect(form.locator("legend")).to_have_text(legend)
    for label in labels:
        await form.get_by_label(label, exact=True).check()
    await form.get_by_role("button", name="Send answer").click()


async def test_a_whole_interview_with_every_widget(rest: Rest, project, browser) -> None:  # type: ignore[no-untyped-def]
    key, study = project
    link = new_link(rest, key, study["study_id"])
    page = await browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    response = await page.goto(page_url(rest, link, "?rid=browser-1"))
    assert response is not None and response.status == 200
    await expect(page.locator("h1")).to_have_text(study["title"])

    await answer_with(page, "How likely are you to recommend us?", "8")
    await answer_with(page, "Which channel do you use most?", "Slack")
    await answer_with(page, "Which features do you use?", "Dashboards", "Alerts")
    # Ranking by keyboard: focus "Move Support up", press it twice.
    form = page.locator("#widget form")
    await expect(form.locator("legend")).to_have_text("Rank what matters most.")
    await form.get_by_role("button", name="Move Support up").focus()
    await page.keyboard.press("Enter")
    await page.keyboard.press("Enter")
    await expect(form.locator(".ranking li span")).to_have_text(["Support", "Price", "Speed"])
    await form.get_by_role("button", name="Send answer").click()
    await answer_with(page, "Have you contacted support this month?", "Yes")

    # The open-ended question and its follow-ups: typed, sent with Enter.
    thanks = page.locator("#thanks")
    replies = page.locator("li.interviewer")
    for said in ("Faster replies on Slack", "Last week a ticket waited two days", "That is all"):
        await expect(page.locator("#send")).to_be_enabled()
        if await thanks.is_visible():
            break
        before = await replies.count()
        await page.get_by_label("Your answer").fill(said)
        await page.get_by_label("Your answer").press("Enter")
        await expect(page.locator("li.respondent").last).to_have_text(said)
        await expect(replies).to_have_count(before + 1)
    await expect(thanks).to_be_visible()

    iid = await stored_interview_id(page)
    wait_until(lambda: interview(rest, key, iid)["status"] == "completed", "natural completion")
    done = interview(rest, key, iid)
    assert done["reason"] == "natural" and done["respondent"]["external_id"] == "browser-1"
    answers = {a["type"]: a for a in done["answers"]}
    assert answers["scale"]["scale_value"] == 8
    assert answers["single_choice"]["option_ids"] == ["o1"]
    assert answers["multiple_choice"]["option_ids"] == ["o1", "o2"]
    assert answers["ranking"]["option_ids"] == ["o3", "o1", "o2"]
    assert answers["yes_no"]["yes_no"] is True
    assert errors == []


async def test_a_reply_is_shown_in_pieces_as_it_streams(rest: Rest, project, browser) -> None:  # type: ignore[no-untyped-def]
    key, study = project
    link = new_link(rest, key, study["study_id"])
    page = await browser.new_page()
    await page.goto(page_url(rest, link))
    await expect(page.locator("#widget legend")).to_have_text("How likely are you to recommend us?")
    # Every state of the reply's bubble: each piece replaces its text node
    # (a removed node keeps its text for the observer to read).
    await page.evaluate(
        """() => {
          window.seen = [];
          new MutationObserver(records => records.forEach(r => r.addedNodes.forEach(n => {
            if (n.nodeType === 3 && r.target.matches('li.interviewer')) window.seen.push(n.data);
          }))).observe(document.getElementById('conversation'), {childList: true, subtree: true});
        }"""
    )
    await page.get_by_label("Your answer").fill("I would say 9")
    await page.get_by_label("Your answer").press("Enter")
    await expect(page.locator("#widget legend")).to_have_text("Which channel do you use most?")
    seen: list[str] = await page.evaluate("window.seen")
    final = await page.locator("li.interviewer").last.inner_text()
    assert seen[-1] == final
    partial = [text for text in seen if text != final]
    assert len(partial) >= 2, seen  # the reply grew piece by piece
    assert all(final.startswith(text) and len(text) < len(final) for text in partial), seen
    assert [len(text) for text in partial] == sorted({len(text) for text in partial})


async def test_reload_resumes_the_same_interview(rest: Rest, project, browser) -> None:  # type: ignore[no-untyped-def]
    key, study = project
    link = new_link(rest, key, study["study_id"])
    page = await browser.new_page()
    await page.goto(page_url(rest, link))
    await answer_with(page, "How likely are you to recommend us?", "7")
    await expect(page.locator("#widget legend")).to_have_text("Which channel do you use most?")
    before = await stored_interview_id(page)
    await page.reload()
    await expect(page.locator("#widget legend")).to_have_text("Which channel do you use most?")
    await expect(page.locator("#conversation li")).to_have_count(3)
    assert await stored_interview_id(page) == before
    await answer_with(page, "Which channel do you use most?", "Email")
    await expect(page.locator("#widget legend")).to_have_text("Which features do you use?")
    listed = rest.client.get(f"/api/v1/studies/{study['study_id']}/links", headers=headers(key))
    assert listed.json()["links"][0]["interview_count"] == 1  # no second interview
    assert len(interview(rest, key, before)["transcript"]) == 5


async def test_leaving_mid_way_completes_as_respondent_left(rest: Rest, project, browser) -> None:  # type: ignore[no-untyped-def]
    key, study = project
    link = new_link(rest, key, study["study_id"])
    page = await browser.new_page()
    await page.goto(page_url(rest, link))
    await answer_with(page, "How likely are you to recommend us?", "3")
    await expect(page.locator("#widget legend")).to_have_text("Which channel do you use most?")
    iid = await stored_interview_id(page)
    await page.get_by_role("button", name="Leave the interview").click()
    await page.goto("about:blank")  # the keepalive request outlives the page
    wait_until(lambda: interview(rest, key, iid)["status"] == "completed", "respondent_left")
    assert interview(rest, key, iid)["reason"] == "respondent_left"


def png_size_and_colours(png: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct pixels of an 8-bit RGB(A) PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    position, data = 8, b""
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        if png[position + 4 : position + 8] == b"IDAT":
            data += png[position + 8 : position + 8 + length]
        position += 12 + length
    raw = zlib.decompress(data)
    channels = {2: 3, 6: 4}[colour]
    stride = width * channels
    # Unfiltered scanlines are enough to count colours roughly: filter bytes
    # other than 0 change values, not their variety.
    pixels = {
        raw[row * (stride + 1) + 1 + x : row * (stride + 1) + 1 + x + channels]
        for row in range(0, height, 4)
        for x in range(0, stride, channels * 4)
    }
    assert depth == 8
    return width, height, len(pixels)


async def test_a_375_px_phone_screen_renders(rest: Rest, project, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    key, study = project
    link = new_link(rest, key, study["study_id"])
    page = await browser.new_page(viewport={"width": 375, "height": 740})
    await page.goto(page_url(rest, link))
    await expect(page.locator("#widget legend")).to_have_text("How likely are you to recommend us?")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    for control in ("#text", "#send", "#widget button"):
        box = await page.locator(control).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, control
    shot = await page.screenshot(path=str(tmp_path / "phone.png"))
    width, height, colours = png_size_and_colours(shot)
    assert (width, height) == (375, 740)
    assert colours > 10  # text, bubbles and buttons: not a blank page
