"""The joystick card in a real browser: headless Chromium drives the simulated BB-8.

Developer mode (``scripts/develop --configure``: today's release, then ``--ha floor``) runs a
real Home Assistant with its frontend and a simulated toy behind the simulated ESPHome proxy.
The card is put on a dashboard the way the dashboard editor saves it, and Debian's Chromium
opens the dashboard, logged in through the frontend's own OAuth callback. The test drives the
browser over the Chrome DevTools protocol (no driver): real mouse, touch and key events on the
card. What the toy did is read from the simulator (the companion's ``/api/bb8_simulator/toys``),
and what the card asked for from Home Assistant's ``call_service`` events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import itertools
import math
import os
from pathlib import Path
import re
import shutil
from typing import Any

import aiohttp
import pytest

from bb8sim.devmode import DEV_PASSWORD, DEV_USERNAME
from bb8sim.devmode_api import HomeAssistantApi
from bb8sim.devmode_card import CARD_MAX_SPEED, DASHBOARD_PATH, logged_in_url, put_card_on_dashboard

from .test_e2e_develop import (
    READY_TIMEOUT,
    SETUP_TIMEOUT,
    STEP_TIMEOUT,
    TOY_ADDRESS,
    Develop,
    _eventually,
    _free_port,
    _toy,
    run_develop,
)

pytestmark = pytest.mark.e2e

PAGE_TIMEOUT = 180.0
"""From opening the dashboard to the card showing the connected toy: a few seconds here, but a
cold browser profile loading the whole frontend, on two cores shared with Home Assistant and the
test suite, once took longer than 90 s."""
PAGE_STATE = """
(() => ({
  url: location.href.split("?")[0],
  title: document.title,
  card_defined: Boolean(customElements.get("bb8-joystick-card")),
  text: (document.body && document.body.innerText || "").slice(0, 200),
}))()
"""
"""What the page shows when the card does not: where it is, and whether the card's script ran."""
HELD_STILL = 3.0
"""How long the stick is held still: twice the card's timed roll (1.5 s), which it must renew."""

FIND_CARD = """
(() => {
  const deep = (selector, root) => {
    const found = root.querySelector(selector);
    if (found) return found;
    for (const element of root.querySelectorAll("*")) {
      const inner = element.shadowRoot && deep(selector, element.shadowRoot);
      if (inner) return inner;
    }
    return null;
  };
  const card = deep("bb8-joystick-card", document);
  const pad = card && card.shadowRoot.querySelector(".pad");
  if (!pad) return null;
  const box = pad.getBoundingClientRect();
  const same = window.__bb8Card === card;
  window.__bb8Card = card;
  return { x: box.left + box.width / 2, y: box.top + box.height / 2, radius: box.width / 2,
           status: card.shadowRoot.querySelector(".status").textContent, same };
})()
"""


HOME_ASSISTANT = 'document.querySelector("home-assistant")'
CARD = FIND_CARD.replace("const pad = card", "return card; const pad = card")
CARD_TYPE = "bb8-joystick-card"


def _centre_of(selector: str) -> str:
    """JavaScript for the viewport centre of an element in the card (to click it as a person)."""
    return (
        f"(() => {{ const box = {CARD}.shadowRoot.querySelector({selector!r}).getBoundingClientRect();"
        " return {x: box.left + box.width / 2, y: box.top + box.height / 2}; })()"
    )


KNOB_LEFT = FIND_CARD.replace(
    "const pad = card", "return card.shadowRoot.querySelector('.knob').style.left; const pad = card"
)


def _js_round(value: float) -> int:
    """JavaScript's Math.round (halves go up), which the card uses."""
    return math.floor(value + 0.5)


async def _ensure_chromium() -> str:
    """Debian's chromium, installed as root where it is missing (as scripts/screenshot does)."""
    if (found := shutil.which("chromium")) is not None:
        return found
    if os.geteuid() != 0:
        pytest.fail("chromium is missing; install it with: sudo apt-get install chromium")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        process = await asyncio.create_subprocess_exec(
            *command,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            stdout=asyncio.subprocess.DEVNULL,
        )
        assert await process.wait() == 0, f"{' '.join(command)} failed"
    found = shutil.which("chromium")
    assert found is not None
    return found


class DevTools:
    """One Chrome DevTools protocol connection (a page's or the browser's), commands in turn."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        """Send commands over ``socket``; events that arrive meanwhile are dropped."""
        self._socket = socket
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Run one command and return its result (raising on a protocol error)."""
        command_id = next(self._ids)
        await self._socket.send_json({"id": command_id, "method": method, "params": params})
        async with asyncio.timeout(STEP_TIMEOUT):
            while True:
                message = await self._socket.receive_json()
                if message.get("id") == command_id:
                    if "error" in message:
                        raise AssertionError(f"{method}: {message['error']}")
                    result: dict[str, Any] = message.get("result", {})
                    return result

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def mouse(self, kind: str, x: float, y: float) -> None:
        """A left-button mouse event (pressed, moved while pressed, released) at (x, y)."""
        await self.send(
            "Input.dispatchMouseEvent",
            type=kind,
            x=x,
            y=y,
            button="left",
            buttons=0 if kind == "mouseReleased" else 1,
            clickCount=1,
        )

    async def click(self, point: dict[str, float]) -> None:
        """A left click at ``point`` (``{"x": ..., "y": ...}``)."""
        await self.mouse("mousePressed", point["x"], point["y"])
        await self.mouse("mouseReleased", point["x"], point["y"])

    async def key(self, kind: str, key: str, code: int) -> None:
        """A key going down (keyDown) or up (keyUp), as a keyboard sends it."""
        await self.send(
            "Input.dispatchKeyEvent",
            type=kind,
            key=key,
            code=key,
            windowsVirtualKeyCode=code,
            nativeVirtualKeyCode=code,
        )

    async def touch(self, kind: str, x: float | None = None, y: float | None = None) -> None:
        """One finger: touchStart or touchMove at (x, y), or touchEnd."""
        points = [] if x is None or y is None else [{"x": x, "y": y}]
        await self.send("Input.dispatchTouchEvent", type=kind, touchPoints=points)


@dataclass
class Chromium:
    """Headless Chromium with a DevTools port, its browser connection and one page."""

    http: aiohttp.ClientSession
    port: int
    browser: DevTools
    lines: list[str] = field(default_factory=list)
    sockets: list[aiohttp.ClientWebSocketResponse] = field(default_factory=list)

    async def page(self) -> DevTools:
        """The first tab, as a DevTools connection."""
        async with self.http.get(f"http://127.0.0.1:{self.port}/json/list") as response:
            targets = await response.json()
        page = next(target for target in targets if target["type"] == "page")
        socket = await self.http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        self.sockets.append(socket)
        return DevTools(socket)


@contextlib.asynccontextmanager
async def chromium(http: aiohttp.ClientSession, profile: Path) -> AsyncIterator[Chromium]:
    """Start headless Chromium on 127.0.0.1 only; it is ended whatever the test did."""
    executable = await _ensure_chromium()
    process = await asyncio.create_subprocess_exec(
        executable,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(STEP_TIMEOUT):
            while not (match := re.search(r"DevTools listening on (ws://\S+)", lines[-1] if lines else "")):
                raw = await process.stderr.readline()
                if not raw:
                    pytest.fail("chromium exited before it listened:\n" + "\n".join(lines))
                lines.append(raw.decode(errors="replace").rstrip())
        browser_url = match.group(1)
        port = int(re.search(r":(\d+)/", browser_url).group(1))  # type: ignore[union-attr]
        # Keep reading its output, so a full pipe never blocks it.
        drain = asyncio.create_task(_drain(process.stderr, lines))
        socket = await http.ws_connect(browser_url, max_msg_size=0)
        running = Chromium(http, port, DevTools(socket), lines, [socket])
        try:
            yield running
        finally:
            for open_socket in running.sockets:
                await open_socket.close()
            process.terminate()
            await process.wait()
            await drain
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _drain(stream: asyncio.StreamReader, lines: list[str]) -> None:
    while raw := await stream.readline():
        lines.append(raw.decode(errors="replace").rstrip())


@dataclass
class ServiceCalls:
    """Every action call Home Assistant runs, from its ``call_service`` events."""

    calls: list[tuple[float, str, str, dict[str, Any]]] = field(default_factory=list)

    def of(self, service: str, since: float = 0.0) -> list[dict[str, Any]]:
        """The data of each ``bb8.<service>`` call since ``since`` (loop time)."""
        return [
            data
            for at, domain, name, data in self.calls
            if domain == "bb8" and name == service and at >= since
        ]


@contextlib.asynccontextmanager
async def service_calls(api: HomeAssistantApi) -> AsyncIterator[ServiceCalls]:
    """Record the ``call_service`` events over one WebSocket subscription."""
    found = ServiceCalls()
    socket = await api.http.ws_connect(f"{api.base_url}/api/websocket")
    await socket.receive_json()
    await socket.send_json({"type": "auth", "access_token": api.access_token})
    assert (await socket.receive_json())["type"] == "auth_ok"
    await socket.send_json({"id": 1, "type": "subscribe_events", "event_type": "call_service"})
    assert (await socket.receive_json())["success"]

    async def read() -> None:
        loop = asyncio.get_running_loop()
        async for message in socket:
            event = message.json().get("event", {}).get("data", {})
            if event:
                found.calls.append((loop.time(), event["domain"], event["service"], event["service_data"]))

    reader = asyncio.create_task(read())
    try:
        yield found
    finally:
        await socket.close()
        await reader


async def _until[T](
    probe: Callable[[], Awaitable[T]],
    check: Callable[[T], bool],
    what: str,
    limit: float,
    page: Any = None,
) -> T:
    """Poll ``probe`` until ``check`` holds, for up to ``limit`` seconds.

    With ``page``, a failure also says what the page showed (``PAGE_STATE``).
    """
    deadline = asyncio.get_running_loop().time() + limit
    while not check(value := await probe()):
        if asyncio.get_running_loop().time() > deadline:
            shown = "" if page is None else f"; the page: {await page.evaluate(PAGE_STATE)!r}"
            pytest.fail(f"{what} within {limit:.0f} s; last seen: {value!r}{shown}")
        await asyncio.sleep(0.5)
    return value


async def _stopped(api: HomeAssistantApi, develop: Develop, what: str) -> None:
    await _eventually(lambda: _toy(api), lambda toy: toy["speed"] == 0, what, develop)


async def _rolling(api: HomeAssistantApi, develop: Develop, speed: int, heading: int, what: str) -> None:
    await _eventually(
        lambda: _toy(api),
        lambda toy: (toy["speed"], toy["heading"], toy["roll_mode"]) == (speed, heading, 1),
        what,
        develop,
    )


@pytest.mark.parametrize(
    "release",
    [
        pytest.param((), id="current"),
        pytest.param(("--ha", "floor"), id="floor"),
    ],
)
async def test_joystick_card_in_headless_chromium_rolls_on_drag_and_stops_on_release_hidden_page_and_drop(
    socket_enabled: None, tmp_path: Path, release: tuple[str, ...]
) -> None:
    """Mouse and touch drags roll the simulated toy; release, a hidden page, a dropped connection stop it.

    Against today's Home Assistant (``scripts/develop`` as the README runs it) and the floor.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    options = (*release, "--configure")
    async with (
        run_develop(tmp_path / "config", port, options) as develop,
        aiohttp.ClientSession() as http,
    ):
        await develop.wait_for_output("Sphero developer mode is ready", SETUP_TIMEOUT + READY_TIMEOUT)
        api = HomeAssistantApi(http, url)
        await api.login(DEV_USERNAME, DEV_PASSWORD)
        device = await put_card_on_dashboard(api, TOY_ADDRESS, STEP_TIMEOUT)
        await _eventually(
            lambda: _toy(api), lambda toy: toy["handshake_complete"], "the toy was not connected", develop
        )
        page_url = await logged_in_url(api, DASHBOARD_PATH)
        loop = asyncio.get_running_loop()

        async with service_calls(api) as calls, chromium(http, tmp_path / "chromium") as browser:
            page = await browser.page()
            await page.send("Page.navigate", url=page_url)
            # Settled: the same card element, in the same place, on two looks a second apart
            # (the dashboard may build its cards again while it loads).
            last: list[Any] = [None]

            async def look() -> Any:
                await asyncio.sleep(1)
                previous, last[0] = last[0], await page.evaluate(FIND_CARD)
                return previous, last[0]

            _, stick = await _until(
                look,
                lambda looks: bool(looks[1])
                and looks[1]["same"]
                and "Connected" in looks[1]["status"]
                and looks[0] is not None
                and (looks[0]["x"], looks[0]["y"]) == (looks[1]["x"], looks[1]["y"]),
                "the card did not show the connected toy on the dashboard",
                PAGE_TIMEOUT,
                page,
            )
            x, y, radius = stick["x"], stick["y"], stick["radius"]

            # A mouse drag up, past the rim: forward (heading 0) at the card's max speed.
            started = loop.time()
            await page.mouse("mousePressed", x, y)
            for step in range(1, 6):
                await page.mouse("mouseMoved", x, y - 1.5 * radius * step / 5)
            await _rolling(api, develop, CARD_MAX_SPEED, 0, "a mouse drag up did not roll the toy forward")
            rolls = calls.of("roll", since=started)
            assert rolls[-1] == {
                "device_id": device["id"],
                "heading": 0,
                "speed": CARD_MAX_SPEED,
                "duration": 1.5,
            }
            # Held still for twice its timed roll, the toy keeps rolling: the card renews it.
            await asyncio.sleep(HELD_STILL)
            toy = await _toy(api)
            assert (toy["speed"], toy["heading"]) == (CARD_MAX_SPEED, 0), "a stick held still stopped rolling"
            held = loop.time() - started
            rolls = calls.of("roll", since=started)
            assert len(rolls) <= 10 * held + 1, f"{len(rolls)} rolls in {held:.1f} s: more than ten a second"
            assert not calls.of("stop", since=started)
            released = loop.time()
            await page.mouse("mouseReleased", x, y - 1.5 * radius)
            await _stopped(api, develop, "releasing the mouse did not stop the toy")
            assert calls.of("stop", since=released) == [{"device_id": device["id"]}]

            # An emulated touch drag to the right, half way to the rim: heading 90, half speed.
            started = loop.time()
            await page.touch("touchStart", x, y)
            for step in range(1, 4):
                await page.touch("touchMove", x + radius / 2 * step / 3, y)
            await _rolling(
                api,
                develop,
                _js_round(CARD_MAX_SPEED / 2),
                90,
                "a touch drag to the right did not roll the toy at heading 90",
            )
            released = loop.time()
            await page.touch("touchEnd")
            await _stopped(api, develop, "lifting the finger did not stop the toy")
            assert calls.of("stop", since=released), "lifting the finger sent no bb8.stop"

            # A touch the browser cancels (pointercancel) stops it too.
            await page.touch("touchStart", x, y)
            await page.touch("touchMove", x + radius / 2, y)
            await _rolling(
                api, develop, _js_round(CARD_MAX_SPEED / 2), 90, "a second touch drag did not roll"
            )
            cancelled = loop.time()
            await page.touch("touchCancel")
            await _stopped(api, develop, "a cancelled touch did not stop the toy")
            assert calls.of("stop", since=cancelled), "a cancelled touch sent no bb8.stop"

            # The arrow keys, once the stick has the keyboard focus: right is heading 90.
            await page.click({"x": x, "y": y})
            await page.key("keyDown", "ArrowRight", 39)
            await _rolling(api, develop, CARD_MAX_SPEED, 90, "the right arrow key did not roll the toy")
            released = loop.time()
            await page.key("keyUp", "ArrowRight", 39)
            await _stopped(api, develop, "letting go of the arrow key did not stop the toy")
            assert calls.of("stop", since=released), "letting go of the arrow key sent no bb8.stop"

            # The card picker lists it with a preview; a new card gets the toy; the editor chooses it.
            picker = await page.evaluate(
                f"JSON.stringify(window.customCards.find((card) => card.type === {CARD_TYPE!r}))"
            )
            assert picker is not None, "the card is not in the card picker"
            assert '"preview":true' in picker, picker
            stub = await page.evaluate(
                f"JSON.stringify(customElements.get({CARD_TYPE!r}).getStubConfig({HOME_ASSISTANT}.hass))"
            )
            assert f'"device_id":"{device["id"]}"' in stub, stub
            editor_fields = await _until(
                lambda: page.evaluate(
                    "(() => { const editor = window.__bb8Editor ||= (() => {"
                    f" const element = customElements.get({CARD_TYPE!r}).getConfigElement();"
                    f" element.hass = {HOME_ASSISTANT}.hass; element.setConfig({{type: 'custom:{CARD_TYPE}'}});"
                    " document.body.appendChild(element); return element; })();"
                    " const form = editor.querySelector('ha-form');"
                    " return form && form.shadowRoot && form.shadowRoot.innerHTML.length > 0"
                    " ? form.schema.map((field) => field.name).join(',') : null; })()"
                ),
                bool,
                "the card's editor did not render its form",
                STEP_TIMEOUT,
            )
            assert editor_fields == "device_id,max_speed,name"
            await page.evaluate("window.__bb8Editor.remove()")

            # The main LED's colour, from the card's colour picker.
            await page.evaluate(
                f"(() => {{ const input = {CARD}.shadowRoot.querySelector('.led'); input.value = '#00ff00';"
                " input.dispatchEvent(new Event('change')); })()"
            )
            await _eventually(
                lambda: _toy(api),
                lambda toy: toy["main_led"] == [0, 255, 0],
                "the LED did not turn green",
                develop,
            )

            # Aim: drag to turn the toy in place (tail light on), release to make that its forward.
            await page.click(await page.evaluate(_centre_of(".aim")))
            await page.mouse("mousePressed", x, y)
            await page.mouse("mouseMoved", x + radius, y)
            await _eventually(
                lambda: _toy(api),
                lambda toy: (toy["speed"], toy["heading"], toy["back_led"]) == (0, 90, 255),
                "aiming did not turn the toy to 90 with its tail light on",
                develop,
            )
            aimed = loop.time()
            await page.mouse("mouseReleased", x + radius, y)
            await _eventually(
                lambda: asyncio.sleep(0, calls.of("aim", since=aimed)),
                lambda aims: {"device_id": device["id"], "heading": 90, "set_as_forward": True} in aims,
                "releasing the aimed stick did not make that direction forward",
                develop,
            )
            await _eventually(
                lambda: _toy(api),
                lambda toy: toy["back_led"] == 0,
                "the tail light stayed on after aiming",
                develop,
            )

            # A drag down (heading 180), then the page goes to the background (another tab).
            await page.mouse("mousePressed", x, y)
            await page.mouse("mouseMoved", x, y + 1.5 * radius)
            await _rolling(api, develop, CARD_MAX_SPEED, 180, "a mouse drag down did not roll the toy back")
            hidden = loop.time()
            other_tab = await browser.browser.send("Target.createTarget", url="about:blank")
            await _stopped(api, develop, "hiding the page did not stop the toy")
            assert await page.evaluate("document.visibilityState") == "hidden"
            # The card's own stop, not the end of its timed roll: that is the integration's.
            assert calls.of("stop", since=hidden), "hiding the page sent no bb8.stop"
            await page.mouse("mouseReleased", x, y + 1.5 * radius)

            # Back to the dashboard: a drag left (heading 270), then the connection to Home
            # Assistant drops (the frontend reconnects by itself at once).
            await browser.browser.send("Target.closeTarget", targetId=other_tab["targetId"])
            await _eventually(
                lambda: page.evaluate("document.visibilityState"),
                lambda state: state == "visible",
                "the dashboard did not come back to the foreground",
                develop,
            )
            await page.mouse("mousePressed", x, y)
            await page.mouse("mouseMoved", x - 1.5 * radius, y)
            await _rolling(api, develop, CARD_MAX_SPEED, 270, "a mouse drag left did not roll the toy")
            # The connection drops and cannot come back yet (its URL blocked in the browser).
            await page.send("Network.enable")
            await page.send("Network.setBlockedURLs", urls=["*/api/websocket*"])
            await page.evaluate(f"{HOME_ASSISTANT}.hass.connection.socket.close()")
            # The card lets go: its stick springs back to the centre and it stops renewing its
            # timed roll, which the integration then ends (a stop sent now would be lost).
            await _eventually(
                lambda: page.evaluate(KNOB_LEFT),
                lambda left: left in ("", "50%", "calc(50%)", "calc(50% + 0%)"),
                "the stick did not spring back when the connection dropped",
                develop,
            )
            await _stopped(api, develop, "the dropped connection did not stop the toy")
            await page.send("Network.setBlockedURLs", urls=[])
            await _until(
                lambda: page.evaluate(f"{HOME_ASSISTANT}.hass.connection.connected"),
                bool,
                "the dashboard did not reconnect",
                PAGE_TIMEOUT,
            )
            # Nothing rolls it again once the connection is back, though the mouse is still down.
            reconnected = loop.time()
            await asyncio.sleep(HELD_STILL)
            assert (await _toy(api))["speed"] == 0, "the card rolled the toy again after reconnecting"
            assert calls.of("roll", since=reconnected) == []
            await page.mouse("mouseReleased", x - 1.5 * radius, y)

            # Sleep and Wake.
            await page.click(await page.evaluate(_centre_of(".sleep")))
            await _eventually(
                lambda: _toy(api), lambda toy: not toy["awake"], "Sleep did not put it to sleep", develop
            )
            await page.click(await page.evaluate(_centre_of(".wake")))
            await _eventually(lambda: _toy(api), lambda toy: toy["awake"], "Wake did not wake it", develop)
            await page.mouse("mouseReleased", x - 1.5 * radius, y)
