"""Developer mode: a real Home Assistant on localhost with simulated Sphero toys behind a simulated proxy.

``scripts/develop`` is the entry point; this module does the parts that are easier in Python
than in bash, as ``python -m bb8sim.devmode COMMAND``:

* ``domains``: every built-in integration developer mode loads, so its venv's setup
  (``scripts/_current_env.sh --develop``, or ``scripts/setup --frontend`` for the floor) installs
  their requirements up front (with Home Assistant's own constraints) and ``hass`` can run with
  ``--skip-pip``: nothing is installed, and nothing drifts, at run time.
* ``check-faults SPEC``: reject a bad ``--faults`` before Home Assistant starts.
* ``prepare``: write the throwaway configuration folder (``configuration.yaml``, the two custom
  integrations linked in, a private ``PYTHONPATH`` folder that makes :mod:`bb8sim` importable),
  and choose the simulated ESPHome node's port (printed, for ``bootstrap``).
* ``bootstrap``: wait for Home Assistant, complete onboarding through its REST API, add the
  simulated ESPHome node through Home Assistant's own ``esphome`` config flow (host and port, as a
  person does in Settings), optionally set up the discovered toys through the config flow, and
  print the URL and the login.

Two ways for the toys to reach Home Assistant (``--proxy``):

* ``esphome`` (the default): the companion starts a :class:`bb8sim.esphome.SimulatedESPHomeNode`
  (a native-API server on 127.0.0.1) inside Home Assistant's process, and Home Assistant's own
  ``esphome`` integration drives it through aioesphomeapi and bleak-esphome, as it drives a real
  ESP32 Bluetooth proxy.
* ``scanner``: the project's own remote scanner and bleak backend (:mod:`bb8sim.proxy`), which
  stand in for the proxy inside Home Assistant: fewer moving parts, no esphome integration.

The toys (``--toys``) are a BB-8, an R2-D2 and a Mini by default (``DEFAULT_LINEUP``), each
waiting to be added; a number asks for that many BB-8s instead, and a list of models for those
(``OFFERED_MODELS``: the v1 toys, the SPRK+ and the Ollie beside the BB-8, and the v2 ones, e.g.
``--toys bb8,sprk2,ollie`` or ``--toys bb8,mini,r2d2,bolt``).

The companion integration (``bb8sim/companion/bb8_simulator``) imports :func:`parse_fault_spec`,
:func:`parse_lineup` and :func:`toy_addresses` from here, so the script and Home Assistant agree.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import sys
from typing import TYPE_CHECKING, Any, Final

from .devmode_api import HomeAssistantApiError
from .faults import ConnectFailure, FaultPlan
from .v1models import V1_MODELS
from .v2.models import MODELS as V2_MODELS

if TYPE_CHECKING:
    from .toy import SimulatedBB8
    from .v2 import SimulatedV2Toy

READY_TEXT: Final = "Sphero developer mode is ready"
"""The banner's first words: ``scripts/screenshot`` and the end-to-end tests wait for them."""
DEV_USERNAME: Final = "dev"
DEV_PASSWORD: Final = "bb8-developer"  # a documented throwaway login on 127.0.0.1
DEV_NAME: Final = "Developer"
DEFAULT_PORT: Final = 8123
MAX_TOYS: Final = 8

MARKER_FILE: Final = ".bb8-developer-mode"
"""Present in every folder ``prepare`` made: ``--fresh`` wipes only such a folder."""
PYTHONPATH_DIR: Final = ".devmode-python"
"""Inside the config folder: holds a ``bb8sim`` link and nothing else, for ``hass``'s PYTHONPATH.

Putting the repository root itself on the path would also expose the repository's
``custom_components`` package, which (being a regular package) would shadow the config folder's
and hide the companion from Home Assistant's loader.
"""
HASS_PID_FILE: Final = ".devmode-hass.pid"
DISCOVERY_TIMEOUT: Final = 30.0
"""The simulator advertises at once and every 5 s; discovery takes well under a second."""
NODE_PORT_FILE: Final = ".devmode-esphome-port"
"""Inside the config folder: the simulated node's port last time, kept while it is free, so the
esphome entry made for it still points at it after a restart."""

PROXY_ESPHOME: Final = "esphome"
PROXY_SCANNER: Final = "scanner"
PROXY_KINDS: Final = (PROXY_ESPHOME, PROXY_SCANNER)
"""``--proxy``: Home Assistant's esphome integration and the simulated node (the default), or
the project's own remote scanner (:mod:`bb8sim.proxy`)."""
NODE_NAME: Final = "sphero-simulator-proxy"
NODE_FRIENDLY_NAME: Final = "Sphero simulator proxy"
"""The node's names (ESPHome's and the one Home Assistant shows): the toys behind it are the whole
family, not only BB-8s. An esphome entry made under older names follows them at the next start
(Home Assistant matches a node by its MAC and stores the name it answers with)."""
NODE_MAC: Final = "AC:0B:FB:00:BB:08"
"""The simulated node's Wi-Fi MAC: the esphome entry's unique id (its Bluetooth MAC is this + 2)."""

COMPANION_DOMAIN: Final = "bb8_simulator"
STATE_VIEW_URL: Final = "/api/bb8_simulator/toys"

# The integrations named in configuration.yaml (Home Assistant adds its default ones and every
# dependency). No default_config: it brings zeroconf, ssdp, dhcp, cloud and others that reach
# beyond localhost, and developer mode must not.
CONFIGURED_DOMAINS: Final = (
    "http",
    "frontend",
    "config",
    "bluetooth",
    "recorder",
    "history",
    "logbook",
    "logger",
)
ESPHOME_DOMAINS: Final = ("esphome",)
"""Set up through a config flow (not ``configuration.yaml``) when ``--proxy esphome``."""

_PRETTY_ADDRESSES: Final = (
    "F1:2C:3D:4E:B5:4A",
    "E8:11:22:33:C0:DE",
    "C4:5A:8B:0E:7A:11",
    "D9:3F:60:12:8B:8B",
)


V1_LINEUP: Final = ("bb8", "sprk2", "ollie")
OFFERED_MODELS: Final = (*V1_LINEUP, "r2d2", "r2q5", "bb9e", "mini", "bolt")
"""The models developer mode simulates, by the simulator's keys: those the integration drives
(``bb8sim.v1models``, then ``bb8sim.v2``'s)."""
DEFAULT_LINEUP: Final = "bb8,r2d2,mini"
"""``--toys`` by default: a BB-8, an R2-D2 and a Mini, the mixed household the bench and the soak run.

One toy of each kind a developer has to see: the v1 protocol (the SPRK+ and the Ollie speak the
BB-8's, with its entities but Center head), an R2 unit's droid parts, and a v2 toy with its own
battery percentage and LEDs. Three toys, because an ESP32 proxy often has
three connection slots, and so does the simulated node (the companion gives it one per toy when
there are more): a default of five would need a proxy few homes have, and every start (and the
end-to-end tests that run ``scripts/develop`` as the README does) would wait for two more
discoveries.
``--toys bb8,sprk2,ollie`` offers the v1 family.
"""


def parse_lineup(spec: str | int) -> list[str]:
    """Return the model of each toy for ``--toys``: a number of BB-8s, or models separated by commas."""
    text = str(spec).strip()
    keys = ["bb8"] * int(text) if text.isdigit() else [key.strip() for key in text.split(",")]
    if unknown := [key for key in keys if key not in OFFERED_MODELS]:
        raise ValueError(f"--toys: no model {unknown[0]!r}; the models are {', '.join(OFFERED_MODELS)}")
    toy_addresses(len(keys))  # refuses a count out of range
    return keys


def make_toy(address: str, model: str, **options: Any) -> SimulatedBB8 | SimulatedV2Toy:
    """Create the simulated toy of ``model`` at ``address``; ``options`` are the simulator's.

    A v2 toy keeps its own model's battery: ``battery_voltage`` is a v1 toy's two-cell pack.
    """
    from .toy import SimulatedBB8
    from .v2 import SimulatedV2Toy

    if model in V1_MODELS:
        return SimulatedBB8(address, toy_model=model, **options)
    options.pop("battery_voltage", None)
    return SimulatedV2Toy(address, model, **options)


def toy_name(address: str, model: str) -> str:
    """Return the name the toy of ``model`` at ``address`` advertises: its prefix, then the address."""
    if model in V2_MODELS:
        return V2_MODELS[model].default_name(address)
    return V1_MODELS[model].default_name(address)


def toy_addresses(count: int) -> list[str]:
    """Addresses of the simulated toys: random static ones (top bits 11), stable across runs.

    Stable so that a second start finds the toys its config entries were made for.
    """
    if not 1 <= count <= MAX_TOYS:
        raise ValueError(f"toys must be between 1 and {MAX_TOYS}, not {count}")
    addresses = list(_PRETTY_ADDRESSES[:count])
    for index in range(len(addresses), count):
        addresses.append(f"C8:B8:08:00:00:{index:02X}")
    return addresses


# ---------------------------------------------------------------------------------------------
# --faults
# ---------------------------------------------------------------------------------------------


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError("a probability between 0 and 1")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError("a number of seconds >= 0")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("a whole number >= 0")
    return value


def _failure(text: str) -> ConnectFailure:
    return ConnectFailure(text)


@dataclass(frozen=True)
class _Knob:
    attribute: str
    parse: Callable[[str], object]
    help: str


FAULT_KNOBS: Final[dict[str, _Knob]] = {
    "drop": _Knob("drop_response_probability", _probability, "probability a response is lost"),
    "corrupt": _Knob("corrupt_probability", _probability, "probability a notification chunk is corrupted"),
    "corrupt_bytes": _Knob("corrupt_bytes", _count, "bytes flipped in a corrupted chunk"),
    "delay": _Knob("response_delay", _seconds, "seconds every response takes"),
    "write_latency": _Knob("write_latency", _seconds, "seconds every GATT write takes"),
    "connect_latency": _Knob("connect_latency", _seconds, "seconds every connect takes"),
    "refuse": _Knob("connect_failures", _count, "the next N connects fail"),
    "connect_failure": _Knob(
        "connect_failure", _failure, "how refused connects fail: error, timeout or out_of_slots"
    ),
    "seed": _Knob("seed", int, "seed of the fault plan's random source"),
}
"""``--faults`` names and the :class:`~bb8sim.faults.FaultPlan` attribute each one sets.

Two more are handled apart: ``pacing=S`` (drop commands closer than S seconds; 0 turns it off)
and ``disconnect_every=S`` (the companion drops every link every S seconds).
"""

_LONG_NAMES: Final = {knob.attribute: name for name, knob in FAULT_KNOBS.items()}


@dataclass(frozen=True)
class FaultSpec:
    """A parsed ``--faults`` value: fault plan attributes plus the periodic link loss."""

    plan_values: dict[str, object] = field(default_factory=dict)
    disconnect_every: float | None = None
    text: str = ""

    def make_plan(self, index: int = 0) -> FaultPlan:
        """Build a fresh plan for the ``index``-th toy (seeds differ, so toys do not fail in lockstep)."""
        plan = FaultPlan(seed=int(str(self.plan_values.get("seed", 0))) + index)
        self.apply(plan)
        return plan

    def apply(self, plan: FaultPlan) -> None:
        """Turn every fault of ``plan`` off, then set this spec's knobs (the seed is kept)."""
        plan.clear()
        for attribute, value in self.plan_values.items():
            if attribute != "seed":
                setattr(plan, attribute, value)

    def describe(self) -> str:
        """One line for the banner and the logs."""
        return self.text or "none"


def parse_fault_spec(spec: str | None) -> FaultSpec:
    """Parse ``drop=0.05,corrupt=0.01,disconnect_every=30`` into a :class:`FaultSpec`.

    Raises ``ValueError`` with the list of known names when a name or value is wrong, so the
    script can refuse a typo before Home Assistant starts.
    """
    values: dict[str, object] = {}
    disconnect_every: float | None = None
    items = [item.strip() for item in (spec or "").split(",") if item.strip()]
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip().lower()
        raw = raw.strip()
        if not sep or not raw:
            raise ValueError(f"fault {item!r} needs a value (name=value); {_known_faults()}")
        name = _LONG_NAMES.get(name, name)
        try:
            if name == "disconnect_every":
                seconds = _seconds(raw)
                if seconds < 1:
                    raise ValueError("at least 1 second")
                disconnect_every = seconds
            elif name == "pacing":
                interval = _seconds(raw)
                values["pacing"] = interval > 0
                if interval > 0:
                    values["min_interval"] = interval
            elif (knob := FAULT_KNOBS.get(name)) is not None:
                values[knob.attribute] = knob.parse(raw)
            else:
                raise KeyError(name)
        except KeyError:
            raise ValueError(f"unknown fault {name!r}; {_known_faults()}") from None
        except ValueError as err:
            raise ValueError(f"fault {name}={raw!r}: expected {err}") from None
    return FaultSpec(values, disconnect_every, ",".join(items))


def _known_faults() -> str:
    names = [*FAULT_KNOBS, "pacing", "disconnect_every"]
    return "known: " + ", ".join(names)


def fault_help() -> str:
    """Describe the ``--faults`` names (``scripts/develop --help`` shows it)."""
    lines = [f"  {name}={_example(knob)}: {knob.help}" for name, knob in FAULT_KNOBS.items()]
    lines.append("  pacing=0.05: drop commands that come sooner than this after the last one")
    lines.append("  disconnect_every=30: drop every toy's link every N seconds (watch reconnects)")
    return "\n".join(lines)


def _example(knob: _Knob) -> str:
    examples = {
        _probability: "0.05",
        _seconds: "0.2",
        _count: "3",
        _failure: "timeout",
        int: "1",
    }
    return examples.get(knob.parse, "?")


# ---------------------------------------------------------------------------------------------
# The simulated ESPHome node's port
# ---------------------------------------------------------------------------------------------


def _port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        # As the node binds (reuse_address): last run's connections in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def choose_node_port(config_dir: Path) -> int:
    """Choose the simulated node's port: last start's if it is still free, else a free one.

    Several developer modes (and their end-to-end test) may run side by side, so no fixed port
    (ESPHome's own is 6053). Keeping last start's port keeps the esphome entry right; when it
    has to change, ``bootstrap``'s esphome config flow moves the entry to the new one (the flow
    updates host and port of a node it already knows, as it does for a real node's new address).
    """
    import socket

    stored = config_dir / NODE_PORT_FILE
    try:
        port = int(stored.read_text().strip())
    except (OSError, ValueError):
        port = 0
    if not 1024 <= port <= 65535 or not _port_is_free(port):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    return port


# ---------------------------------------------------------------------------------------------
# The configuration folder
# ---------------------------------------------------------------------------------------------

CONFIGURATION_TEMPLATE: Final = """\
# Written by scripts/develop on every start: edit the script's options, not this file.
# Developer mode only. The toys are simulated (bb8sim) and reach Home Assistant through a
# simulated ESPHome Bluetooth proxy that the bb8_simulator integration runs: {proxy_text}.
homeassistant:
  name: Sphero developer mode
  # Fixed so that onboarding's location step, and anything that would look the location up on
  # the internet, is never needed. The values are Home Assistant's own defaults.
  latitude: 32.87336
  longitude: -117.22743
  elevation: 0
  unit_system: metric
  time_zone: UTC
  country: US
  currency: USD
  language: en
  internal_url: "http://127.0.0.1:{port}"

# Only what the UI and the integration need, all local: no default_config (zeroconf, ssdp,
# dhcp, cloud, ... reach beyond this machine).
{http}frontend:
config:
bluetooth:
recorder:
  purge_keep_days: 1
history:
logbook:

logger:
  default: warning
  logs:
    custom_components.bb8: info
    custom_components.bb8_simulator: info
    bb8sim: info
    # PyTurboJPEG is installed, the libturbojpeg system library is not; only cameras use it.
    homeassistant.components.camera.img_util: critical
    # Likewise ha-ffmpeg without the ffmpeg program (2026.x sets up ffmpeg for voice and camera
    # streams, and logs a traceback when the program is missing); nothing here uses either.
    haffmpeg: critical

bb8_simulator:
  toys: "{toys}"
  faults: "{faults}"
  proxy: {proxy}
  esphome_port: {esphome_port}
"""

PROXY_TEXT: Final = {
    PROXY_ESPHOME: "a native-API node on 127.0.0.1 that Home Assistant's esphome integration drives",
    PROXY_SCANNER: "the project's own remote scanner registered with Home Assistant's Bluetooth manager",
}

ONBOARDING_STORE: Final = {
    "version": 4,
    "minor_version": 1,
    "key": "onboarding",
    "data": {"done": ["core_config"]},
}
"""Onboarding's location step, marked done before the first start.

Its REST endpoint (``/api/onboarding/core_config``) does nothing but mark itself done and then
start the met.no weather, Radio Browser and Google Translate integrations, which would reach the
internet. The location it stands for is in ``configuration.yaml``. The other three steps go
through the REST API like the frontend's own onboarding.
"""

HTTP_YAML: Final = """\
http:
  server_host: 127.0.0.1
  server_port: {port}
"""
"""The HTTP server's settings where Home Assistant reads them from ``configuration.yaml`` (2025.4)."""


def http_settings_store(port: int) -> dict[str, Any] | None:
    """Return the ``.storage/http`` file that binds the server to 127.0.0.1:``port``, if one is used.

    Newer releases keep the HTTP settings in that store: they import an ``http:`` YAML block
    once, as a *pending* trial that the UI asks to confirm and that reverts to the defaults (port
    8123 on every interface) after five minutes, and ignore the block from then on. So developer
    mode writes the settings as the confirmed (``stable``) ones on every start, through Home
    Assistant's own schema, and leaves ``http:`` out of ``configuration.yaml``. ``None`` (the
    release has no such store: 2025.4) means the YAML block. Chosen by capability, not version.
    """
    from datetime import UTC, datetime
    import importlib

    try:
        http_config = importlib.import_module("homeassistant.components.http.config")
    except ImportError:
        return None

    stable = dict(http_config.HTTP_STORAGE_SCHEMA({"server_host": ["127.0.0.1"], "server_port": port}))
    stable.update(created_at=datetime.now(UTC).isoformat(), error=None, error_message=None)
    return {
        "version": http_config.STORAGE_VERSION,
        "minor_version": http_config.STORAGE_MINOR_VERSION,
        "key": http_config.STORAGE_KEY,
        "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
    }


def prepare_config(
    config_dir: Path,
    repo_root: Path,
    *,
    port: int,
    toys: int | str,
    faults: str,
    http_store: dict[str, Any] | None = None,
    proxy: str = PROXY_ESPHOME,
    esphome_port: int = 0,
) -> None:
    """Create or refresh the throwaway configuration folder for developer mode.

    Refuses a non-empty folder that developer mode did not make, so a mistyped ``--config``
    cannot overwrite a real Home Assistant configuration. ``http_store`` comes from
    :func:`http_settings_store`; without one the HTTP settings go into ``configuration.yaml``.
    ``proxy`` and ``esphome_port`` say how the toys reach Home Assistant (see the module's
    docstring); the port is :func:`choose_node_port`'s.
    """
    parse_fault_spec(faults)  # a bad spec fails here, not inside Home Assistant
    lineup = ",".join(parse_lineup(toys))
    if proxy not in PROXY_KINDS:
        raise ValueError(f"--proxy must be one of {', '.join(PROXY_KINDS)}, not {proxy!r}")
    if config_dir.exists() and any(config_dir.iterdir()) and not (config_dir / MARKER_FILE).exists():
        raise SystemExit(
            f"develop: {config_dir} is not empty and was not made by developer mode; "
            "pick another --config folder"
        )
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / MARKER_FILE).write_text("made by scripts/develop; --fresh may delete this folder\n")
    if esphome_port:
        (config_dir / NODE_PORT_FILE).write_text(f"{esphome_port}\n")
    (config_dir / "configuration.yaml").write_text(
        CONFIGURATION_TEMPLATE.format(
            port=port,
            toys=lineup,
            faults=faults.replace('"', ""),
            http="" if http_store is not None else HTTP_YAML.format(port=port),
            proxy=proxy,
            proxy_text=PROXY_TEXT[proxy],
            esphome_port=esphome_port,
        )
    )
    components = config_dir / "custom_components"
    components.mkdir(exist_ok=True)
    # Links, not copies: an edit in the repository is live after a restart of developer mode.
    _link(components / "bb8", repo_root / "custom_components" / "bb8")
    _link(components / COMPANION_DOMAIN, repo_root / "bb8sim" / "companion" / COMPANION_DOMAIN)
    python_dir = config_dir / PYTHONPATH_DIR
    python_dir.mkdir(exist_ok=True)
    _link(python_dir / "bb8sim", repo_root / "bb8sim")
    store = config_dir / ".storage" / "onboarding"
    if not store.exists():
        store.parent.mkdir(exist_ok=True)
        store.write_text(json.dumps(ONBOARDING_STORE, indent=2))
        store.chmod(0o600)
    if http_store is not None:
        store = config_dir / ".storage" / "http"
        store.parent.mkdir(exist_ok=True)
        store.write_text(json.dumps(http_store, indent=2))
        store.chmod(0o600)


def refuse_newer_config(config_dir: Path) -> None:
    """Refuse a folder that a newer Home Assistant has run (``--ha floor`` after the current one).

    Home Assistant migrates its ``.storage`` files forward only, and ``.HA_VERSION`` names the
    release that last ran the folder, so an older one would fail on what it finds there.
    """
    from awesomeversion import AwesomeVersion
    from homeassistant.const import __version__

    made_by = config_dir / ".HA_VERSION"
    if not made_by.is_file():
        return
    last = made_by.read_text().strip()
    if AwesomeVersion(last) > AwesomeVersion(__version__):
        raise SystemExit(
            f"develop: Home Assistant {last} last ran {config_dir}; {__version__} cannot read what it "
            "stored there. Use another --config folder, or --fresh to start over"
        )


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        raise SystemExit(f"develop: {link} is a folder, expected a link to {target}; use --fresh")
    link.symlink_to(target.resolve(), target_is_directory=True)


# ---------------------------------------------------------------------------------------------
# Home Assistant's requirements for developer mode
# ---------------------------------------------------------------------------------------------


def developer_mode_domains() -> list[str]:
    """Every built-in integration developer mode sets up (their dependencies come with them).

    The venv's setup (``scripts/_current_env.sh --develop``; ``scripts/setup --frontend`` for the
    floor) hands them to ``scripts/_ha_requirements.py``, which reads
    their pinned requirements from Home Assistant's manifests, so they are installed up front
    and ``hass`` runs with ``--skip-pip``: nothing is installed, and nothing drifts, at run time.
    """
    from homeassistant.bootstrap import CORE_INTEGRATIONS, DEFAULT_INTEGRATIONS

    return sorted({*CORE_INTEGRATIONS, *DEFAULT_INTEGRATIONS, *CONFIGURED_DOMAINS, *ESPHOME_DOMAINS})


# ---------------------------------------------------------------------------------------------
# bootstrap: onboarding and (optionally) the config flows, through the REST API
# ---------------------------------------------------------------------------------------------


async def bootstrap(
    url: str,
    *,
    toys: int | str,
    configure: bool,
    timeout: float,  # noqa: ASYNC109 - a deadline for each stage
    hass_pid: int | None = None,
    proxy: str = PROXY_ESPHOME,
    esphome_port: int | None = None,
) -> dict[str, Any]:
    """Make a fresh or existing instance usable; returns what the banner shows.

    Waits until Home Assistant answers and has started, completes whichever onboarding steps
    are not done (the user step creates ``dev`` / ``bb8-developer``), adds the simulated ESPHome
    node through the esphome config flow (``proxy`` ``esphome``), and waits until every
    simulated toy is discovered or set up. With ``configure`` it then confirms the discovery
    flow of every toy that is not set up yet, as the "Add" button on a discovered card does.
    """
    import aiohttp

    from .devmode_api import HomeAssistantApi

    lineup = parse_lineup(toys)
    expected = toy_addresses(len(lineup))
    async with aiohttp.ClientSession() as http:
        api = HomeAssistantApi(http, url)
        await api.wait_until_up(timeout, alive=None if hass_pid is None else lambda: _alive(hass_pid))
        await api.onboard(DEV_NAME, DEV_USERNAME, DEV_PASSWORD)
        await api.login(DEV_USERNAME, DEV_PASSWORD)
        await api.wait_until_running(timeout)
        node: dict[str, Any] | None = None
        if proxy == PROXY_ESPHOME:
            if esphome_port is None:
                raise ValueError("--proxy esphome needs the node's --esphome-port")
            result = await api.add_esphome_node("127.0.0.1", esphome_port)
            node = {
                "port": esphome_port,
                "added": result.get("type") == "create_entry",
                "title": result.get("title") or NODE_FRIENDLY_NAME,
            }
        configured = await api.configured_addresses()
        for address in expected:
            if address not in configured:
                try:
                    await api.wait_for_discovery(address, DISCOVERY_TIMEOUT)
                except TimeoutError as err:
                    if configure:
                        raise
                    print(f"develop: {err}", file=sys.stderr)
        if configure:
            for address in expected:
                if address not in configured:
                    await api.confirm_discovered_toy(address, timeout)
                    await api.wait_for_device(address, timeout)
            configured = await api.configured_addresses()
            await api.dismiss_stale_discovery_notification()
        discovered = await api.discovered_addresses()
    return {
        "proxy": proxy,
        "node": node,
        "toys": [
            {
                "address": address,
                "name": toy_name(address, model),
                "configured": address in configured,
                "discovered": address in discovered,
            }
            for address, model in zip(expected, lineup, strict=True)
        ],
    }


SCREENSHOT_LED: Final = (255, 120, 0)
"""An orange, so the screenshot shows the toy's LEDs on with a colour."""


SCREENSHOT_PAGES: Final = ("device", "esphome", "bluetooth")
"""What ``screenshot-url`` can open: the toy's device page, the ESPHome node's device page, or
Home Assistant's Bluetooth connection monitor (each link, the scanner it runs through)."""


async def screenshot_url(url: str, address: str, timeout: float, page: str = "device") -> str:  # noqa: ASYNC109
    """Light the toy up and return ``page``'s URL (see ``SCREENSHOT_PAGES``), logged in through an auth callback.

    The frontend logs itself in when it opens with ``?auth_callback=1&code=...&state=...``
    (what the login page redirects to), so headless Chromium needs no driver: the code comes
    from the same login flow the login page runs, and ``state`` names the URL and client id.
    """
    import base64
    from urllib.parse import urlencode

    import aiohttp

    from .devmode_api import HomeAssistantApi

    async with aiohttp.ClientSession() as http:
        api = HomeAssistantApi(http, url)
        await api.login(DEV_USERNAME, DEV_PASSWORD)
        device = await api.wait_for_device(address, timeout)
        # This toy's entities: developer mode's other toys have lights of the same names.
        entities = (await api.render(f"{{{{ device_entities('{device['id']}') | join(',') }}}}")).split(",")
        # Every light the toy has, on: the BB-8's main LED and tail light, an R2-D2's four parts.
        for entity in entities:
            if entity.endswith(("_main_led", "_front_led", "_back_led")):
                await api.call("light", "turn_on", {"entity_id": entity, "rgb_color": list(SCREENSHOT_LED)})
            elif entity.endswith(("_tail_light", "_logic_displays", "_holo_projector")):
                await api.call("light", "turn_on", {"entity_id": entity, "brightness": 255})
            elif entity.endswith("_dome"):  # an R2-D2's dome and legs, so they show a state
                await api.call("number", "set_value", {"entity_id": entity, "value": 0})
            elif entity.endswith("_stance"):
                await api.call("select", "select_option", {"entity_id": entity, "option": "bipod"})
        if page == "esphome":
            path = f"/config/devices/device/{(await _esphome_device(api))['id']}"
        elif page == "bluetooth":
            path = "/config/bluetooth/connection-monitor"
        else:
            path = f"/config/devices/device/{device['id']}"
        code = await api.authorization_code(DEV_USERNAME, DEV_PASSWORD)
        state = json.dumps({"hassUrl": api.base_url, "clientId": api.client_id})
        query = urlencode(
            {"auth_callback": "1", "code": code, "state": base64.b64encode(state.encode()).decode()}
        )
        return f"{api.base_url}{path}?{query}"


async def _esphome_device(api: Any) -> dict[str, Any]:
    """Return the device of the esphome entry (the simulated node developer mode added)."""
    entries = await api.get("/api/config/config_entries/entry?domain=esphome")
    entry_ids = {entry["entry_id"] for entry in entries}
    devices = await api.websocket_command({"type": "config/device_registry/list"})
    for device in devices:
        if entry_ids.intersection(device["config_entries"]):
            return dict(device)
    raise TimeoutError("no ESPHome device: developer mode runs with --proxy esphome (the default)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def banner(url: str, config_dir: str, result: dict[str, Any], faults: str) -> str:
    """Compose what the developer reads once Home Assistant is ready."""
    rule = "=" * 78
    lines = [
        rule,
        f" {READY_TEXT}: {url}",
        f" Log in as {DEV_USERNAME!r} with password {DEV_PASSWORD!r}.",
    ]
    if (node := result.get("node")) is not None:
        lines += [
            f" Simulated ESPHome Bluetooth proxy {NODE_FRIENDLY_NAME!r}: 127.0.0.1:{node['port']}, set up",
            "   through Home Assistant's esphome integration (Settings > Devices & services > ESPHome)",
            f" Simulated toys (behind {NODE_FRIENDLY_NAME!r}, reached through aioesphomeapi and bleak-esphome):",
        ]
    else:
        lines.append(
            f" Simulated toys (behind the project's own remote scanner {NODE_FRIENDLY_NAME!r}; --proxy scanner):"
        )
    for toy in result["toys"]:
        if toy["configured"]:
            status = "set up"
        elif toy["discovered"]:
            status = "discovered: Settings > Devices & services > Discovered > Add"
        else:
            status = "advertising (discovery pending)"
        lines.append(f"   {toy['name']} ({toy['address']}): {status}")
    lines += [
        f" Faults: {parse_fault_spec(faults).describe()}",
        f" Simulator state: GET {url}{STATE_VIEW_URL} (with a token); actions bb8_simulator.*",
        f" Config folder: {config_dir} (home-assistant.log inside; --fresh starts over)",
        " Ctrl-C stops Home Assistant and the simulator.",
        rule,
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bb8sim.devmode", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("domains", help="print the built-in integrations developer mode sets up")
    check = commands.add_parser("check-faults", help="validate a --faults value")
    check.add_argument("spec")
    commands.add_parser("fault-help", help="describe the --faults names")
    prepare = commands.add_parser("prepare", help="write the configuration folder")
    prepare.add_argument("--config", required=True, type=Path)
    prepare.add_argument("--repo", required=True, type=Path)
    prepare.add_argument("--port", type=int, default=DEFAULT_PORT)
    prepare.add_argument("--toys", default=DEFAULT_LINEUP)
    prepare.add_argument("--faults", default="")
    prepare.add_argument("--proxy", choices=PROXY_KINDS, default=PROXY_ESPHOME)
    boot = commands.add_parser("bootstrap", help="onboard (and configure) a running instance")
    boot.add_argument("--url", required=True)
    boot.add_argument("--config", required=True)
    boot.add_argument("--toys", default=DEFAULT_LINEUP)
    boot.add_argument("--faults", default="")
    boot.add_argument("--configure", action="store_true")
    boot.add_argument("--timeout", type=float, default=120.0)
    boot.add_argument("--hass-pid", type=int)
    boot.add_argument("--proxy", choices=PROXY_KINDS, default=PROXY_ESPHOME)
    boot.add_argument("--esphome-port", type=int)
    shot = commands.add_parser("screenshot-url", help="light the toy, print its logged-in device page URL")
    shot.add_argument("--url", required=True)
    shot.add_argument("--timeout", type=float, default=60.0)
    shot.add_argument("--page", choices=SCREENSHOT_PAGES, default="device")
    shot.add_argument("--toys", default=DEFAULT_LINEUP, help="the lineup developer mode runs")
    shot.add_argument("--model", default="bb8", help="whose device page: the lineup's first toy of it")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors a person can fix are printed without a traceback."""
    args = _parser().parse_args(argv)
    try:
        match args.command:
            case "domains":
                print("\n".join(developer_mode_domains()))
            case "check-faults":
                parse_fault_spec(args.spec)
            case "fault-help":
                print(fault_help())
            case "prepare":
                refuse_newer_config(args.config)
                esphome_port = choose_node_port(args.config) if args.proxy == PROXY_ESPHOME else 0
                prepare_config(
                    args.config,
                    args.repo,
                    port=args.port,
                    toys=args.toys,
                    faults=args.faults,
                    http_store=http_settings_store(args.port),
                    proxy=args.proxy,
                    esphome_port=esphome_port,
                )
                print(esphome_port)  # for bootstrap (scripts/_develop_run.sh reads it)
            case "screenshot-url":
                lineup = parse_lineup(args.toys)
                address = toy_addresses(len(lineup))[lineup.index(args.model)]
                print(asyncio.run(screenshot_url(args.url, address, args.timeout, args.page)))
            case "bootstrap":
                result = asyncio.run(
                    bootstrap(
                        args.url,
                        toys=args.toys,
                        configure=args.configure,
                        timeout=args.timeout,
                        hass_pid=args.hass_pid,
                        proxy=args.proxy,
                        esphome_port=args.esphome_port,
                    )
                )
                print(banner(args.url, args.config, result, args.faults), flush=True)
    except ValueError as err:
        print(f"develop: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except (TimeoutError, HomeAssistantApiError) as err:
        print(f"develop: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
