"""Developer mode end to end: ``scripts/develop`` as a person runs it, driven over HTTP.

A real Home Assistant starts as a subprocess on a free port with a throwaway config folder. By
default the simulated BB-8 reaches it through the real proxy stack: a simulated ESPHome Bluetooth
proxy node (``bb8sim.esphome``, a native-API server on 127.0.0.1) that developer mode adds through
Home Assistant's own esphome config flow, so aioesphomeapi, bleak-esphome and habluetooth carry
every advertisement and GATT operation. Everything is done the way the frontend does it: log in
through the login flow, confirm the discovered toy through the config flow REST API, turn the
main LED on and roll through the action REST API, then read the toy itself (and the node's
counters) through the companion's ``/api/bb8_simulator/toys`` view. The subprocess's output is
kept, and every failure shows its tail, because a Home Assistant that fails to start says why
only there.

It runs three times: ``scripts/develop`` exactly as the README says (today's Home Assistant on
Python 3.14; on a host without python3.14 inside the current leg's Debian forky root, which this
builds or reuses, and where developer mode forwards Ctrl-C across), ``scripts/develop --ha floor``
(Home Assistant 2025.4.4 in ``.venv``), both through the ESPHome node, and ``--ha floor --proxy
scanner``, the project's own remote scanner that developer mode used before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
import contextlib
from dataclasses import dataclass, field
import os
from pathlib import Path
import re
import signal
import socket
from typing import Any

import aiohttp
import pytest

from bb8sim.devmode import DEV_PASSWORD, DEV_USERNAME, HASS_PID_FILE, NODE_FRIENDLY_NAME, STATE_VIEW_URL
from bb8sim.devmode_api import HomeAssistantApi
from bb8sim.toy import default_name

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[1]
TOY_ADDRESS = "F1:2C:3D:4E:B5:4A"  # developer mode's first simulated toy (bb8sim.devmode)

SETUP_TIMEOUT = 900.0
"""The first run on a new machine installs developer mode's venv (the floor: the frontend; the
current release: the Debian root, about two minutes, then Home Assistant, its frontend and the
requirements of what developer mode loads, about one and a half)."""
READY_TIMEOUT = 60.0
"""From ``hass`` starting to onboarding done (about 15 s here)."""
STEP_TIMEOUT = 20.0
STOP_TIMEOUT = 30.0
"""The bound on a clean stop after SIGINT (about 5 s here)."""


@dataclass
class Develop:
    """``scripts/develop`` running as a subprocess, with everything it printed so far."""

    process: asyncio.subprocess.Process
    config_dir: Path
    lines: list[str] = field(default_factory=list)

    def tail(self, count: int = 60) -> str:
        """The last lines of output, for failure messages."""
        return "\n".join(self.lines[-count:]) or "(no output)"

    def printed(self, text: str) -> bool:
        """Whether any line so far contains ``text``."""
        return any(text in line for line in self.lines)

    async def wait_for_output(self, text: str, timeout: float) -> None:  # noqa: ASYNC109
        """Wait for a line containing ``text``; fail with the output if the script ends first."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.printed(text):
            if self.process.returncode is not None:
                pytest.fail(
                    f"scripts/develop exited ({self.process.returncode}) before {text!r}:\n{self.tail()}"
                )
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"no {text!r} from scripts/develop within {timeout:.0f} s:\n{self.tail()}")
            await asyncio.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _subprocess_env() -> dict[str, str]:
    """The test's environment minus pytest-cov's: its .pth hook would trace Home Assistant too."""
    return {key: value for key, value in os.environ.items() if not key.startswith("COV_CORE_")}


async def _collect(stream: asyncio.StreamReader, lines: list[str]) -> None:
    while raw := await stream.readline():
        lines.append(raw.decode(errors="replace").rstrip())


@contextlib.contextmanager
def _children_hear_ctrl_c() -> Iterator[None]:
    """Let a process started meanwhile stop on SIGINT, even if this run was started ignoring it.

    A shell starts a background job (``cmd &``) with SIGINT ignored, and an ignored signal stays
    ignored across ``exec``: developer mode started from such a run would never hear the Ctrl-C
    this test sends. A handled signal is reset to its default in the child, so handling it here
    while the child starts gives developer mode the Ctrl-C a person's terminal gives it.
    """
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.asynccontextmanager
async def run_develop(config_dir: Path, port: int, options: tuple[str, ...]) -> AsyncIterator[Develop]:
    """Start developer mode; on exit stop it with SIGINT (Ctrl-C) and require a clean, bounded stop.

    The script runs in its own session, so nothing it starts can outlive the test: if the clean
    stop fails, the script's process group and Home Assistant (whose pid it writes down) are
    killed before the test fails.
    """
    with _children_hear_ctrl_c():
        process = await asyncio.create_subprocess_exec(
            "bash",
            str(REPO_ROOT / "scripts" / "develop"),
            *options,
            "--config",
            str(config_dir),
            "--port",
            str(port),
            cwd=REPO_ROOT,
            env=_subprocess_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    assert process.stdout is not None
    develop = Develop(process, config_dir)
    reader = asyncio.create_task(_collect(process.stdout, develop.lines))
    clean_stop = False
    try:
        yield develop
    finally:
        try:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
            async with asyncio.timeout(STOP_TIMEOUT):
                await process.wait()
                await reader
            clean_stop = True
        except TimeoutError:
            _kill_everything(develop)
            await process.wait()
            await reader
    if not clean_stop:
        pytest.fail(f"developer mode did not stop within {STOP_TIMEOUT:.0f} s of SIGINT:\n{develop.tail()}")
    assert process.returncode == 0, f"scripts/develop exited {process.returncode}:\n{develop.tail()}"
    assert develop.printed("develop: Home Assistant stopped"), develop.tail()


def _kill_everything(develop: Develop) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(develop.process.pid, signal.SIGKILL)
    pid_file = develop.config_dir / HASS_PID_FILE
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)


async def _eventually[T](
    probe: Callable[[], Awaitable[T]],
    check: Callable[[T], bool],
    what: str,
    develop: Develop,
) -> T:
    """Poll ``probe`` until ``check`` holds; fail with the last value and the output otherwise."""
    deadline = asyncio.get_running_loop().time() + STEP_TIMEOUT
    while True:
        value = await probe()
        if check(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{what} within {STEP_TIMEOUT:.0f} s; last seen: {value!r}\n{develop.tail()}")
        await asyncio.sleep(0.2)


async def _toy(api: HomeAssistantApi) -> dict[str, Any]:
    snapshot = await api.get(STATE_VIEW_URL)
    toys: dict[str, dict[str, Any]] = {toy["address"]: toy for toy in snapshot["toys"]}
    return toys[TOY_ADDRESS]


def _home_assistant_version(develop: Develop) -> tuple[int, int]:
    """The release developer mode says it runs ("develop: Home Assistant 2026.10.4 on Python ...")."""
    for line in develop.lines:
        if match := re.match(r"develop: Home Assistant (\d+)\.(\d+)\.\S+ on Python ", line):
            return int(match.group(1)), int(match.group(2))
    pytest.fail(f"scripts/develop did not say which Home Assistant it runs:\n{develop.tail()}")


@pytest.mark.parametrize(
    ("options", "expected", "proxy"),
    [
        pytest.param((), "current", "esphome", id="default-current"),
        pytest.param(("--ha", "floor"), "floor", "esphome", id="floor"),
        pytest.param(("--ha", "floor", "--proxy", "scanner"), "floor", "scanner", id="floor-scanner"),
    ],
)
async def test_developer_mode_end_to_end(
    socket_enabled: None, tmp_path: Path, options: tuple[str, ...], expected: str, proxy: str
) -> None:
    """Discover, set up, light and roll the simulated BB-8 through a real Home Assistant."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    async with run_develop(tmp_path / "config", port, options) as develop, aiohttp.ClientSession() as http:
        await develop.wait_for_output("develop: starting Home Assistant", SETUP_TIMEOUT)
        version = _home_assistant_version(develop)
        if expected == "current":
            # What users run today: every release since 2026.3 needs Python >= 3.14.2.
            assert version >= (2026, 3), f"not today's Home Assistant:\n{develop.tail()}"
            assert develop.printed(" on Python 3.14."), develop.tail()
        else:
            assert version == (2025, 4), develop.tail()
        await develop.wait_for_output("Sphero developer mode is ready", READY_TIMEOUT)
        assert develop.printed(f"Log in as {DEV_USERNAME!r} with password {DEV_PASSWORD!r}")

        api = HomeAssistantApi(http, url)
        await api.login(DEV_USERNAME, DEV_PASSWORD)  # the login flow, then /auth/token
        snapshot = await api.get(STATE_VIEW_URL)
        assert snapshot["proxy"]["kind"] == proxy, snapshot["proxy"]
        esphome_entries = await api.esphome_entries()
        if proxy == "esphome":
            # The node was added through Home Assistant's own esphome config flow, and that
            # entry holds the one API connection the node has.
            assert develop.printed("through Home Assistant's esphome integration"), develop.tail()
            assert [(e["title"], e["state"]) for e in esphome_entries] == [(NODE_FRIENDLY_NAME, "loaded")]
            assert snapshot["proxy"]["api_connections"] == 1, snapshot["proxy"]
        else:
            assert esphome_entries == []

        # Discovered through the simulated proxy, shown as "Discovered"; confirm it as the UI does.
        flow = await api.wait_for_discovery(TOY_ADDRESS, STEP_TIMEOUT)
        assert flow["step_id"] == "bluetooth_confirm"
        result = await api.post(f"/api/config/config_entries/flow/{flow['flow_id']}", {})
        assert result["type"] == "create_entry", result
        assert result["title"] == default_name(TOY_ADDRESS)
        device = await api.wait_for_device(TOY_ADDRESS, STEP_TIMEOUT)
        await _eventually(
            _toy_probe(api), lambda toy: toy["handshake_complete"], "the toy was not connected", develop
        )

        entities = await api.render("{{ integration_entities('bb8') | join(',') }}")
        main_led = next(entity for entity in entities.split(",") if entity.endswith("_main_led"))
        await _eventually(
            lambda: api.state(main_led),
            lambda state: state["state"] != "unavailable",
            f"{main_led} did not become available",
            develop,
        )

        await api.call("light", "turn_on", {"entity_id": main_led, "rgb_color": [255, 0, 0]})
        await _eventually(
            _toy_probe(api),
            lambda toy: toy["main_led"] == [255, 0, 0],
            "the toy's LED did not turn red",
            develop,
        )
        state = await _eventually(
            lambda: api.state(main_led),
            lambda state: state["state"] == "on",
            f"{main_led} did not turn on",
            develop,
        )
        assert state["attributes"]["rgb_color"] == [255, 0, 0]

        await api.call("bb8", "roll", {"device_id": device["id"], "heading": 90, "speed": 80})
        toy = await _eventually(
            _toy_probe(api), lambda toy: toy["speed"] == 80, "the toy did not roll", develop
        )
        assert toy["heading"] == 90
        assert toy["roll_mode"] == 1
        await api.call("bb8", "stop", {"device_id": device["id"]})
        await _eventually(_toy_probe(api), lambda toy: toy["speed"] == 0, "the toy did not stop", develop)
        if proxy == "esphome":
            # Every command went over the node's native API as a GATT write (75).
            node = (await api.get(STATE_VIEW_URL))["proxy"]
            assert sum(node["gatt_writes"].values()) >= 4, node
            assert node["slots_in_use"] == 1, node


def _toy_probe(api: HomeAssistantApi) -> Callable[[], Awaitable[dict[str, Any]]]:
    return lambda: _toy(api)
