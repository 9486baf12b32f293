"""The dashboard in real headless Chromium (Debian's ``chromium``, driven by Playwright
through its ``executable_path``: no browser download), against devnet nodes started as a
person would, ``zion run --plugin jsonrpc --plugin stratum --plugin dashboard``.

- Stock XMRig mines through the pool with a login address while the miner page of that
  address is open: the page goes from "no shares yet" to the shares and the hash rate of
  the worker, live over the WebSocket stream and without a reload. Screenshots of the
  miner page and the overview are checked (PNG of the viewport's size, not blank). The
  overview then shows the pool's statistics and how to connect. No console error, page
  error or failed request meanwhile. Once the node stops, the page says it is
  reconnecting; once it is back (on the same port), the page is live again and has read
  the new pool's figures, still without a reload.
- A node without a pool: the page says so, still shows the network live, refuses a
  malformed address before asking the node, and fits a phone's screen, light and dark.

Chromium is installed with apt-get when missing (as ``./dev test`` does); XMRig runs only
against loopback with the safe flags (tools/xmrig.py), on one thread, for well under a
minute.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_testkit import (
    CHROMIUM_ARGS,
    ChromiumUnavailableError,
    NodeProcess,
    ensure_chromium,
    ink,
    png_pixels,
    png_size,
)
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from zion_core.chain.keys import WalletKeys

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.xmrig import XmrigUnavailableError, ensure_xmrig, run_xmrig, xmrig_command  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]

POOL_ADDRESS = str(WalletKeys.from_seed(bytes([7]) * 32).address("devnet"))
MINER_ADDRESS = str(WalletKeys.from_seed(bytes([9]) * 32).address("devnet"))
WORKER = "browser"
VIEWPORT = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
NODE_ARGS = [
    "run",
    "--network",
    "devnet",
    "--set",
    "rpc.bind=127.0.0.1:0",
    "--set",
    "randomx.threads=1",
]
POOL_ARGS = [
    "--plugin",
    "jsonrpc",
    "--plugin",
    "stratum",
    "--plugin",
    "dashboard",
    *(
        arg
        for item in (
            "stratum.bind=127.0.0.1:0",
            f"stratum.pool_address={POOL_ADDRESS}",
            "chain.initial_difficulty=300",
            "stratum.start_difficulty=30",
            "stratum.min_difficulty=10",
            "stratum.target_share_seconds=1",
            "stratum.stats_interval_seconds=1",
        )
        for arg in ("--set", item)
    ),
]
"""Shares every second or so from XMRig on one light-mode thread, statistics published
every second."""
RPC_LISTENING = r"JSON-RPC listening on http://127\.0\.0\.1:(\d+)/"
STRATUM_LISTENING = r"Stratum pool listening on 127\.0\.0\.1:(\d+)"
LIVE_LIMIT_MS = 45_000
XMRIG_MAX_S = 90
RECONNECT_LIMIT_MS = 40_000
"""The node restarts in a few seconds; the page retries after 1, 2, 4, 8, then 15 s."""

MINER_IS_LIVE = """() => {
  const value = (name) => Number(document.querySelector(`[data-field="${name}"]`)?.dataset.value);
  return value("miner-shares") > 0 && value("miner-hashrate") > 0;
}"""
POOL_IS_LIVE = """() => {
  const value = (name) => Number(document.querySelector(`[data-field="${name}"]`)?.dataset.value);
  return value("pool-shares-accepted") > 0 && value("pool-hashrate") > 0
    && value("pool-miners") >= 1 && value("network-height") >= 0;
}"""

POOL_IS_NEW = """() => {
  const shares = document.querySelector('[data-field="pool-shares-accepted"]');
  return shares?.dataset.value === "0";
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        executable = ensure_chromium()
    except ChromiumUnavailableError as exc:
        pytest.fail(f"Chromium unavailable: {exc}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page with every console error, page error and failed request recorded."""

    def __init__(self, browser: Browser, **options: Any) -> None:
        self.context: BrowserContext = browser.new_context(device_scale_factor=1, **options)
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on(
            "console",
            lambda message: (
                self.problems.append(f"console {message.type}: {message.text}")
                if message.type == "error"
                else None
            ),
        )
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on(
            "requestfailed",
            lambda request: self.problems.append(
                f"request failed: {request.method} {request.url} ({request.failure})"
            ),
        )

    def field(self, name: str) -> str:
        """The text of a figure (its value, without the hint under it)."""
        text: str = self.page.evaluate(
            """(name) => {
              const el = document.querySelector(`[data-field="${name}"]`);
              return el ? (el.querySelector(".value") || el).textContent : null;
            }""",
            name,
        )
        assert text is not None, f"no field {name!r} on the page"
        return text

    def close(self) -> None:
        self.context.close()


def check_screenshot(path: Path, size: dict[str, int]) -> None:
    data = path.read_bytes()
    assert png_size(data) == (size["width"], size["height"]), png_size(data)


def check_not_blank(png: bytes) -> None:
    width, height, pixels = png_pixels(png)
    assert width * height == len(pixels) > 0
    colours, share = ink(pixels)
    assert colours > 20 and share > 0.02, f"{colours} colours, {share:.1%} ink: blank?"


def start_node(tmp_path: Path, *args: str) -> NodeProcess:
    return NodeProcess(
        [*NODE_ARGS, "--data-dir", str(tmp_path / "node"), *args], home=tmp_path / "home"
    )


def tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def test_the_miner_page_shows_xmrigs_shares_live(
    browser: Browser, tmp_path: Path, backend_name: str
) -> None:
    try:
        binary = ensure_xmrig()
    except XmrigUnavailableError as exc:
        pytest.fail(f"XMRig unavailable (tools/xmrig.py fetches it with npm): {exc}")
    backend = ("--set", f"runtime.async_backend={backend_name}")
    node = start_node(tmp_path, *POOL_ARGS, *backend)
    watched = Watched(browser, viewport=VIEWPORT, color_scheme="light")
    page = watched.page
    try:
        rpc_port = int(node.wait_for(RPC_LISTENING).group(1))
        stratum_port = int(node.wait_for(STRATUM_LISTENING).group(1))
        base = f"http://127.0.0.1:{rpc_port}/dashboard/"

        page.goto(f"{base}#/miner/{MINER_ADDRESS}")
        page.wait_for_selector('[data-field="miner-unknown"]', timeout=30_000)
        page.wait_for_selector('#connection[data-state="live"]', timeout=30_000)
        assert page.get_by_role("heading", name="Miner", exact=True).is_visible()
        assert "No shares from this address yet" in page.locator("main").inner_text()
        page.evaluate("() => { window.loadedOnce = 'yes'; }")

        log = tmp_path / "xmrig.log"
        workdir = tmp_path / "xmrig"
        workdir.mkdir()
        argv = xmrig_command(
            binary,
            url=f"127.0.0.1:{stratum_port}",
            user=f"{MINER_ADDRESS}.{WORKER}",
            threads=1,
            extra=["--randomx-mode=light", f"--log-file={log}"],
            print_time=5,
        )
        with run_xmrig(
            argv, workdir=workdir, output=workdir / "stdout.txt", max_seconds=XMRIG_MAX_S
        ):
            try:
                page.wait_for_function(MINER_IS_LIVE, timeout=LIVE_LIMIT_MS)
            except PlaywrightTimeoutError:
                pytest.fail(
                    f"no live shares on the miner page within {LIVE_LIMIT_MS / 1000} s\n"
                    f"page: {page.locator('main').inner_text()}\n"
                    f"xmrig:\n{tail(log)}\nnode:\n{node.tail()}"
                )
            assert page.evaluate("() => window.loadedOnce") == "yes", "the page was reloaded"
            assert page.locator('[data-field="miner-unknown"]').count() == 0
            worker = page.locator('[data-field="workers-table"] tbody tr').first
            assert WORKER in worker.inner_text() and "Online" in worker.inner_text()
            assert "H/s" in watched.field("miner-hashrate")

            shot = tmp_path / "miner.png"
            page.screenshot(path=shot)
            check_screenshot(shot, VIEWPORT)
            check_not_blank(page.locator("main dl.stats").first.screenshot())

            page.get_by_role("link", name="Overview").click()
            page.wait_for_function(POOL_IS_LIVE, timeout=LIVE_LIMIT_MS)
            assert page.evaluate("() => window.loadedOnce") == "yes"
            assert page.get_by_role("heading", name="Pool overview").is_visible()
            command = watched.field("xmrig-command")
            assert f"127.0.0.1:{stratum_port} -u {MINER_ADDRESS}.rig1" in command
            assert watched.field("pool-fee") == "1 %"
            overview = tmp_path / "overview.png"
            page.screenshot(path=overview, full_page=True)
            assert png_size(overview.read_bytes())[0] == VIEWPORT["width"]
        text = log.read_text(errors="replace")
        assert "accepted" in text, tail(log)
        for line in text.splitlines():
            if "use pool" in line:
                assert "127.0.0.1" in line, line
        assert watched.problems == []

        # the node goes away: the page says so and keeps trying
        assert node.stop() == 0, node.tail()
        page.wait_for_selector('#connection[data-state="reconnecting"]', timeout=30_000)
        assert "reconnecting" in page.locator("#connection").inner_text()
        # it comes back on the same port: the page reconnects and reads everything again
        # (the new pool's counters start from zero)
        node = start_node(tmp_path, *POOL_ARGS, "--set", f"rpc.bind=127.0.0.1:{rpc_port}", *backend)
        node.wait_for(STRATUM_LISTENING)
        page.wait_for_selector('#connection[data-state="live"]', timeout=RECONNECT_LIMIT_MS)
        page.wait_for_function(POOL_IS_NEW, timeout=RECONNECT_LIMIT_MS)
        assert page.evaluate("() => window.loadedOnce") == "yes"
    finally:
        node.stop()
        watched.close()


def test_a_node_without_a_pool_says_so_on_a_phone(browser: Browser, tmp_path: Path) -> None:
    node = start_node(tmp_path, "--plugin", "jsonrpc", "--plugin", "dashboard")
    light = Watched(browser, viewport=PHONE, color_scheme="light", is_mobile=True)
    dark = Watched(browser, viewport=PHONE, color_scheme="dark", is_mobile=True)
    try:
        rpc_port = int(node.wait_for(RPC_LISTENING).group(1))
        base = f"http://127.0.0.1:{rpc_port}/dashboard/"
        page = light.page
        page.goto(base)
        page.wait_for_selector("text=No pool on this node", timeout=30_000)
        page.wait_for_selector('#connection[data-state="live"]', timeout=30_000)
        assert light.field("network-height") == "0"
        assert light.field("network") == "devnet"
        assert page.locator('[data-field="xmrig-command"]').count() == 0
        assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
        shot = tmp_path / "phone-light.png"
        page.screenshot(path=shot)
        check_screenshot(shot, PHONE)

        # a malformed address is refused before the node is asked
        page.get_by_label("Miner address").fill("ZDeTypo")
        page.get_by_role("button", name="Look up").click()
        page.wait_for_selector("text=Not an address of this network")
        assert "98 characters" in page.locator("main").inner_text()
        # a well-formed one, on a node without a pool
        page.get_by_label("Miner address").fill(MINER_ADDRESS)
        page.get_by_role("button", name="Look up").click()
        page.wait_for_function("() => !document.querySelector('main [aria-busy=true]')")
        page.wait_for_selector("main >> text=No pool on this node")
        assert page.evaluate("() => location.hash") == f"#/miner/{MINER_ADDRESS}"
        assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")

        dark.page.goto(f"{base}#/blocks")
        dark.page.wait_for_selector("text=No pool on this node", timeout=30_000)
        background = dark.page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        channels = [int(part) for part in background[background.index("(") + 1 : -1].split(",")]
        assert sum(channels[:3]) < 3 * 64, background
        shot = tmp_path / "phone-dark.png"
        dark.page.screenshot(path=shot)
        check_screenshot(shot, PHONE)
        assert light.problems == [] and dark.problems == []
    finally:
        node.stop()
        light.close()
        dark.close()
