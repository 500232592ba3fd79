"""The web viewer in a real browser: Debian's Chromium driven by Playwright,
against a real `sessiontrail serve` on an SQLite file.

Without Playwright or Chromium these tests are skipped, except where
SESSIONTRAIL_REQUIRE_BROWSER=1 (CI sets it): there a missing browser fails them.
Screenshots go to $SESSIONTRAIL_SCREENSHOTS when set (docs/img for the docs).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.http import TOKENS, Served, serve

import sessiontrail
from sessiontrail.domain.qa_values import SessionTraceStep

CHROMIUM = os.environ.get("SESSIONTRAIL_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
MESSAGES = 305
WORD_OF_THE_300TH = "Zanzibar"


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (scripts/ensure-chromium.sh installs it)"
    return None


MISSING = _browser_missing()
if MISSING and os.environ.get("SESSIONTRAIL_REQUIRE_BROWSER") == "1":
    pytest.fail(f"the browser tests must run here: {MISSING}", pytrace=False)
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

from playwright.sync_api import (  # noqa: E402
    Browser,
    Page,
    Response,
    Route,
    expect,
    sync_playwright,
)


def fill_log(url: str) -> None:
    """Ann's long trip session (a word only in its 300th message, Q&A, a trace
    step), a LangGraph thread's session of hers, and Bob's private one."""
    with sessiontrail.connect(url) as trail:
        graph = trail.sessions.load_or_create("langgraph/chat%2F1", user_id="ann")
        graph.edit_title("A LangGraph thread")  # its id holds / and %, as threads' do
        graph.append_message(role="user", content="hello from a graph")
        trail.sessions.save(graph)
        trip = trail.sessions.load_or_create("trip", model="gpt-4o", user_id="ann")
        trip.edit_title("Trip to Portugal")
        for number in range(1, MESSAGES + 1):
            word = f" {WORD_OF_THE_300TH}" if number == 300 else ""
            role = "user" if number % 2 else "assistant"
            trip.append_message(role=role, content=f"message {number}{word}")
        trail.sessions.save(trip)
        trail.qa.create_qa_entry("trip", "Best month?", "May.", user_id="ann")
        step = SessionTraceStep(
            trace_id="t1", origin_function="plan", status="ok", memory_query="portugal"
        )
        trail.qa.append_agent_trace_step("ann", "trip", step)
        secret = trail.sessions.load_or_create("bob-secret", user_id="bob")
        secret.append_message(role="user", content="private")
        trail.sessions.save(secret)
        old = trail.sessions.load_or_create("old-chat", user_id="ann")
        old.append_message(role="user", content="forget this")
        trail.sessions.save(old)
        trail.sessions.purge("old-chat", actor="dpo", reason="user request")


@pytest.fixture(scope="module")
def log_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('log') / 'trail.db'}"
    fill_log(url)
    return url


@pytest.fixture(scope="module")
def served(log_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(log_url, tmp_path_factory.mktemp("serve")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, served: Served) -> Iterator[Page]:
    context = browser.new_context(viewport=WIDE)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(f"http://127.0.0.1:{served.port}/")
    yield opened
    context.close()
    assert errors == [], errors


def shot(page: Page, name: str) -> None:
    folder = os.environ.get("SESSIONTRAIL_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"viewer-{name}.png"))


def sign_in(page: Page, token: str = TOKENS["ann"]) -> None:
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def open_trip(page: Page) -> None:
    sign_in(page)
    page.goto(page.url.split("#")[0] + "#/sessions/trip")
    expect(page.get_by_role("heading", name="Trip to Portugal")).to_be_visible()


def test_a_bad_token_shows_a_clear_message(page: Page):
    sign_in(page, "not-a-token")

    expect(page.get_by_role("alert")).to_contain_text("not accepted")
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    shot(page, "sign-in-error")


def test_search_finds_a_session_by_a_word_in_its_300th_message(page: Page):
    sign_in(page)
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    shot(page, "list")

    page.get_by_label("Words").fill(WORD_OF_THE_300TH)
    page.get_by_role("button", name="Search").click()

    expect(page.locator("mark").first).to_have_text(WORD_OF_THE_300TH)
    expect(page.locator(".session")).to_have_count(1)
    expect(page.get_by_role("button", name="More sessions")).to_be_hidden()
    shot(page, "search")
    page.get_by_role("link", name="Trip to Portugal").click()
    expect(page.locator(".message.matched")).to_contain_text("message 300")


def test_the_version_slider_shows_the_transcript_as_it_was(page: Page):
    open_trip(page)
    shot(page, "session")

    page.get_by_label("Version").fill("3")

    expect(page.locator(".notice")).to_contain_text("version 3")
    expect(page.locator(".message")).to_have_count(1)
    expect(page.locator(".message")).to_contain_text("message 1")
    shot(page, "version-3")


def test_a_diff_between_two_versions(page: Page):
    open_trip(page)
    page.get_by_role("tab", name="Diff").click()

    page.get_by_label("From version").fill("3")
    page.get_by_label("To version").fill("10")
    page.get_by_role("button", name="Compare").click()

    expect(page.locator(".diff h3")).to_have_text("From v3 to v10")
    expect(page.locator(".diff li.added")).to_have_count(7)
    shot(page, "diff")


def test_a_page_opened_while_signing_in_is_not_shown_again_when_it_ends(
    page: Page,
):
    held: list[Route] = []

    def hold(route: Route) -> None:  # the sign-in check answers late
        held.append(route)

    page.route("**/v1/me", hold)
    sign_in(page)
    page.goto(page.url.split("#")[0] + "#/sessions/trip?tab=diff")
    page.get_by_label("From version").fill("3")

    held.pop().continue_()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.get_by_label("To version").fill("10")
    page.get_by_role("button", name="Compare").click()

    expect(page.locator(".diff h3")).to_have_text("From v3 to v10")


def test_the_timeline_qa_and_trace_tabs(page: Page):
    open_trip(page)

    page.get_by_role("tab", name="Timeline").click()
    expect(page.locator(".timeline tbody tr").first).to_contain_text("Started")
    shot(page, "timeline")
    page.get_by_role("tab", name="Q&A").click()
    expect(page.get_by_text("Best month?")).to_be_visible()
    page.get_by_role("tab", name="Trace").click()
    expect(page.locator(".steps")).to_contain_text("memory query: portugal")


def test_fork_at_version_3_and_find_the_fork_in_the_list(page: Page):
    open_trip(page)
    page.get_by_label("Version").fill("3")

    page.get_by_role("button", name="Fork at v3").click()

    expect(page.locator("#status")).to_contain_text("Forked trip at v3")
    expect(page.locator(".message")).to_have_count(1)
    page.get_by_role("link", name="Sessions").click()
    expect(page.locator(".session").first).to_contain_text("Trip to Portugal")
    expect(page.locator(".session")).to_have_count(3)  # the fork, trip, the thread


def test_a_message_another_process_appends_appears_without_reloading(
    page: Page, log_url: str
):
    open_trip(page)
    expect(page.locator(".live")).to_have_text("● live")

    append_elsewhere(log_url, "appended by another process")

    expect(page.get_by_text("appended by another process")).to_be_visible()


def shows_trip(response: Response) -> bool:
    """Whether `response` answers the usage request each showing of trip makes."""
    return response.url.endswith("/v1/sessions/trip/usage")


def open_trips_diff(page: Page) -> None:
    open_trip(page)
    with page.expect_response(shows_trip):
        page.get_by_role("tab", name="Diff").click()


def test_a_live_update_keeps_the_versions_typed_in_the_diff_form(
    page: Page, log_url: str
):
    open_trips_diff(page)
    page.get_by_label("From version").fill("3")

    with page.expect_response(shows_trip):  # the page was shown again, live
        append_elsewhere(log_url, "written while comparing")
    page.get_by_label("To version").fill("10")
    page.get_by_role("button", name="Compare").click()

    expect(page.locator(".diff h3")).to_have_text("From v3 to v10")


def test_the_diff_form_reaches_a_version_written_while_it_is_open(
    page: Page, log_url: str
):
    open_trips_diff(page)
    latest = int(page.get_by_label("To version").get_attribute("max") or "0")

    with page.expect_response(shows_trip):  # the page was shown again, live
        append_elsewhere(log_url, "written while the diff form is open")
    expect(page.get_by_label("To version")).to_have_attribute("max", str(latest + 1))
    page.get_by_label("From version").fill(str(latest))
    page.get_by_label("To version").fill(str(latest + 1))
    page.get_by_role("button", name="Compare").click()

    expect(page.locator(".diff h3")).to_have_text(f"From v{latest} to v{latest + 1}")


def append_elsewhere(url: str, text: str) -> None:
    code = (
        "import sessiontrail, sys\n"
        "with sessiontrail.connect(sys.argv[1]) as trail:\n"
        "    s = trail.sessions.load('trip', user_id='ann')\n"
        "    s.append_message(role='assistant', content=sys.argv[2])\n"
        "    trail.sessions.save(s)\n"
    )
    subprocess.run([sys.executable, "-c", code, url, text], check=True)


def test_a_langgraph_threads_session_opens_from_the_list(page: Page):
    sign_in(page)
    page.get_by_role("link", name="A LangGraph thread").click()

    expect(page.get_by_role("heading", name="A LangGraph thread")).to_be_visible()
    expect(page.get_by_text("hello from a graph")).to_be_visible()


def test_another_users_session_is_a_not_found_page(page: Page):
    sign_in(page)
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()

    page.goto(page.url.split("#")[0] + "#/sessions/bob-secret")

    expect(page.get_by_role("heading", name="Session not found")).to_be_visible()
    expect(page.get_by_text("private")).to_have_count(0)
    shot(page, "not-found")


def test_a_purged_session_is_a_tombstone_in_its_audit_timeline(page: Page):
    sign_in(page)
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()

    page.goto(page.url.split("#")[0] + "#/sessions/old-chat")

    expect(page.get_by_role("heading", name="Session purged")).to_be_visible()
    row = page.locator(".tombstone tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("SessionPurged")
    expect(row).to_contain_text("dpo")
    expect(row).to_contain_text("reason: user request")
    expect(page.get_by_text("forget this")).to_have_count(0)
    shot(page, "purged")


def test_another_users_purged_session_is_a_not_found_page(page: Page):
    sign_in(page, TOKENS["bob"])
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()

    page.goto(page.url.split("#")[0] + "#/sessions/old-chat")

    expect(page.get_by_role("heading", name="Session not found")).to_be_visible()


def test_readable_at_phone_width(page: Page):
    page.set_viewport_size(NARROW)
    open_trip(page)

    width: Any = page.evaluate("document.documentElement.scrollWidth")

    assert width <= NARROW["width"]
    shot(page, "session-390")
