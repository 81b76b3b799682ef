"""End to end, the way a person uses Teams: ``make demo`` driven in a real browser.

The demo runs as ``python -m demo`` (the bot, the simulated Azure ML and Azure DevOps, the Agents
Playground), and Debian's Chromium, headless under Playwright, types into the Playground's Teams
and clicks the cards. One page stays open throughout: the Playground keeps its chats in the page.
On a failure, a screenshot and the demo's logs go to ``test-artifacts/e2e/``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from fakes.ports import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")
EDITOR = '[data-lexical-editor="true"][role="textbox"]'
CHANNEL = "My Team - General"
PERSONAL = "Personal Chat"
BOT_NAME = "Release Bot"
SOMEONE_ELSE = "00000000-0000-0000-0000-00000000beef"
"""An approver who is not the Playground's one user (Alex Wilber)."""
STEP_SECONDS = "1"
CARD_TIMEOUT_MS = 30_000
CHROMIUM_ARGUMENTS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # The page asks a CDN for its fonts: nothing may leave the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]


def demo_environment() -> dict[str, str]:
    """Ours, less AZUREML_CURRENT_CLOUD: azure-ai-ml keeps the cloud of its last client there, the
    loopback cloud of an earlier test, which the demo's client does not know and would fail on."""
    return {name: value for name, value in os.environ.items() if name != "AZUREML_CURRENT_CLOUD"}


class Demo:
    """``python -m demo`` in a process of its own, on free ports."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.log = data / "demo.log"
        self.control_port = free_port()
        with self.log.open("w") as output:  # a file, not a pipe: a full pipe would stall it
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "demo",
                    "--port", str(free_port()),
                    "--playground-port", str(free_port()),
                    "--control-port", str(self.control_port),
                    "--step", STEP_SECONDS,
                    "--data", str(data),
                    "--log-level", "INFO",
                ],
                cwd=ROOT,
                env=demo_environment(),
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
            )  # fmt: skip
        self.url = self._wait_for_url()

    @property
    def output(self) -> str:
        """All the demo printed and logged so far."""
        return self.log.read_text(errors="replace")

    def _wait_for_url(self, within: float = 90.0) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and self.process.poll() is None:
            found = re.search(r"^\s+(http://127\.0\.0\.1:\d+/)\s*$", self.output, re.MULTILINE)
            if found:
                return found[1]
            time.sleep(0.2)
        self.process.kill()
        raise AssertionError("the demo did not start:\n" + self.output[-4000:])

    def register(self, model: str, *, failing: bool = False) -> str:
        """``python -m demo register``, as a person would type it in a shell."""
        command = [sys.executable, "-m", "demo", "register", model]
        command += ["--control-port", str(self.control_port)] + (["--fail"] if failing else [])
        done = subprocess.run(
            command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()[-1]

    def stop(self) -> int:
        """Ctrl-C, as in a terminal; the exit code."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    running = Demo(tmp_path_factory.mktemp("demo"))
    yield running
    if running.process.poll() is None:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGUMENTS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page(browser: Browser, demo: Demo) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    context.route(re.compile(r"^(?!https?://(localhost|127\.0\.0\.1)[:/]).*"), lambda r: r.abort())
    opened = context.new_page()
    opened.goto(demo.url)
    opened.locator(EDITOR).first.wait_for()
    yield opened
    context.close()


@pytest.fixture(autouse=True)
def artifacts_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """A screenshot of the page and the demo's logs, for a test that failed."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is None or not report.failed:
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = request.node.name
    if "page" in request.fixturenames:
        request.getfixturevalue("page").screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
    demo: Demo = request.getfixturevalue("demo")
    for log in demo.data.glob("*.log"):
        shutil.copy(log, ARTIFACTS / f"{name}.{log.name}")


def say(page: Page, conversation: str, text: str) -> None:
    """Type ``text`` into a conversation, @mentioning the bot outside the personal chat."""
    page.click(f'button[aria-label="{conversation}"]')
    page.locator(EDITOR).first.click()
    if conversation != PERSONAL:
        page.keyboard.type("@" + BOT_NAME[:4])
        page.locator('[role="menuitem"]', has_text=BOT_NAME).click()
        page.keyboard.type(" ")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def card(page: Page, text: str) -> Locator:
    """The newest Adaptive Card showing ``text``."""
    found = page.locator(".ac-adaptiveCard", has_text=text).last
    found.wait_for(timeout=CARD_TIMEOUT_MS)
    return found


def my_view(page: Page, title: str) -> Locator:
    """The card titled ``title`` as its viewer's own: the Playground does not refresh a card by
    itself, so ask as a Teams client without refresh does ("Review and decide")."""
    card(page, title).get_by_role("button", name="Review and decide").click()
    mine = card(page, title)
    expect(mine.get_by_role("button", name="Review and decide")).to_have_count(0)
    return mine


def approve_and_follow(page: Page, version: str) -> Locator:
    """Approve the announcement of ``version`` and wait until its run has ended."""
    title = f"New version: fraud_model {version}"
    shown = card(page, title)
    mine = (
        my_view(page, title) if shown.get_by_role("button", name="Approve").count() == 0 else shown
    )
    mine.get_by_role("button", name="Approve").click()
    settled = page.locator(".ac-adaptiveCard", has_text=f"New version: fraud_model {version}")
    expect(settled.last).to_contain_text(re.compile(r"Run \d+"), timeout=CARD_TIMEOUT_MS)
    expect(settled.last).to_contain_text(
        re.compile(r"^(Deployed|Deployment failed)"), timeout=CARD_TIMEOUT_MS
    )
    return settled.last


def test_a_channel_subscribes_approves_and_sees_the_run_succeed(page: Page, demo: Demo) -> None:
    say(page, CHANNEL, "subscribe fraud_model")
    expect(card(page, "Subscribed")).to_contain_text("fraud_model")

    say(page, CHANNEL, "demo register fraud_model")
    announcement = card(page, "New version: fraud_model 3")
    expect(announcement).to_contain_text("accuracy")
    expect(announcement).to_contain_text("Grace Hopper")  # the event said not; the workspace did
    expect(announcement).to_contain_text("Waiting for approval")
    expect(announcement.get_by_role("button", name="Approve")).to_have_count(0)  # everyone's view
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    announcement.screenshot(path=ARTIFACTS / "demo-card.png")
    approvers_view = my_view(page, "New version: fraud_model 3")
    expect(approvers_view.get_by_role("button", name="Approve")).to_be_visible()
    expect(approvers_view.get_by_role("button", name="Reject")).to_be_visible()
    approvers_view.screenshot(path=ARTIFACTS / "demo-card-approver.png")

    settled = approve_and_follow(page, "3")

    expect(settled).to_contain_text(re.compile(r"^Deployed"))
    expect(settled).to_contain_text("Alex Wilber approved")
    expect(settled.get_by_role("button", name="Approve")).to_have_count(0)
    expect(card(page, "Result for fraud_model 3")).to_contain_text("Deployed")
    settled.screenshot(path=ARTIFACTS / "demo-card-deployed.png")


def test_history_shows_the_deployment(page: Page, demo: Demo) -> None:
    say(page, CHANNEL, "history fraud_model")

    history = card(page, "History of fraud_model")
    expect(history).to_contain_text("Version 3")
    expect(history).to_contain_text("approved by Alex Wilber")
    expect(history).to_contain_text("Deployed")


def opened_from(page: Page, link: Locator) -> Page:
    """The page a card's link button opens (the Playground opens a new tab), loaded."""
    with page.context.expect_page() as opening:
        link.click()
    opened = opening.value
    opened.wait_for_load_state()
    return opened


def more(page: Page, shown: Locator, name: str) -> Locator:
    """The link ``name`` in a card's overflow menu (the links past the first are there)."""
    shown.get_by_role("button", name="More options").click()
    return page.get_by_role("menu", name="More options").get_by_role("menuitem", name=name)


def test_the_run_links_open_the_simulated_run_page(page: Page, demo: Demo) -> None:
    settled = card(page, "New version: fraud_model 3")

    run = opened_from(page, settled.get_by_role("link", name="Open the run"))
    logs = opened_from(page, more(page, settled, "Logs"))

    expect(run.locator("h1")).to_have_text(re.compile(r"^Run deploy-"))
    for shown in ("deploy-fraud-model", "completed", "succeeded", "fraud_model"):
        expect(run.locator("dl")).to_contain_text(shown)
    expect(run.locator("#logs")).to_contain_text("Deploying fraud_model:3")
    expect(logs.locator("h1")).to_have_text(re.compile(r"^Logs of run deploy-"))
    expect(logs.locator("#logs")).to_contain_text("Finishing: succeeded")
    run.close()
    logs.close()


def test_the_studio_link_opens_a_local_page(page: Page, demo: Demo) -> None:
    studio = opened_from(
        page, more(page, card(page, "New version: fraud_model 3"), "Open in Azure ML")
    )

    assert re.match(r"^http://127\.0\.0\.1:\d+/studio/", studio.url), studio.url
    expect(studio.locator("h1")).to_have_text("fraud_model:3")
    expect(studio.locator("dl")).to_contain_text("Grace Hopper")
    studio.close()


def test_pending_lists_a_version_waiting_with_its_registration_time(page: Page, demo: Demo) -> None:
    today = page.evaluate(
        "new Date().toLocaleDateString('en-US',"
        " {weekday: 'short', month: 'short', day: 'numeric', year: 'numeric'})"
    )
    say(page, CHANNEL, "demo register fraud_model")
    announcement = card(page, "New version: fraud_model 4")
    expect(announcement).to_contain_text(re.compile(f"Registered\\s*{re.escape(today)}"))

    say(page, CHANNEL, "pending")

    expect(card(page, "Waiting for approval here: 1")).to_contain_text("fraud_model")
    approve_and_follow(page, "4")


def test_rollback_after_two_deployments_asks_for_the_earlier_version(
    page: Page, demo: Demo
) -> None:
    say(page, CHANNEL, "rollback fraud_model")

    # Whoever asked for a deployment may not approve it (another approver does): their own
    # view says so, and offers only Reject (to withdraw).
    requesters_view = my_view(page, "Rollback request: fraud_model back to 3")
    expect(requesters_view).to_contain_text(
        "You asked for this deployment, so someone else must approve it"
    )
    expect(requesters_view.get_by_role("button", name="Approve")).to_have_count(0)
    expect(requesters_view.get_by_role("button", name="Reject")).to_be_visible()


def test_someone_the_policy_does_not_name_sees_no_buttons_and_why(page: Page, demo: Demo) -> None:
    say(page, CHANNEL, f"subscribe churn_model approvers={SOMEONE_ELSE}")
    expect(card(page, "Subscribed (#2)")).to_contain_text("churn_model")
    say(page, CHANNEL, "demo register churn_model")

    bystanders_view = my_view(page, "New version: churn_model 1")

    expect(bystanders_view).to_contain_text("You are not one of the approvers for this model.")
    expect(bystanders_view.get_by_role("button")).to_have_count(0)


def test_a_failed_run_shows_failed(page: Page, demo: Demo) -> None:
    version = demo.register("fraud_model", failing=True)

    settled = approve_and_follow(page, version)

    expect(settled).to_contain_text(re.compile(r"^Deployment failed"))
    expect(card(page, f"Result for fraud_model {version}")).to_contain_text("failed")


def test_the_personal_chat_subscribes_too(page: Page, demo: Demo) -> None:
    say(page, PERSONAL, "subscribe churn_*")

    expect(card(page, "churn_*")).to_contain_text("Subscribed")


def test_ctrl_c_stops_the_demo_cleanly(demo: Demo) -> None:
    assert demo.stop() == 0
    assert "The demo stopped." in demo.output
    assert "Traceback" not in demo.output
