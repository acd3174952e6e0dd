"""Developer mode only: simulated Sphero toys reaching Home Assistant through a simulated Bluetooth proxy.

``scripts/develop`` links this integration into its throwaway configuration folder and turns it
on with a ``bb8_simulator:`` block in ``configuration.yaml``. On start-up it creates the toys
(``toys:``, read as ``scripts/develop --toys``: a BB-8, an R2-D2 and a Mini by default, their
time driven by a :class:`bb8sim.RealtimeTicker`) and puts them behind a proxy, one of two
(``proxy:``):

* ``esphome`` (the default): a :class:`bb8sim.esphome.SimulatedESPHomeNode`, a native-API server
  on 127.0.0.1:``esphome_port``. ``scripts/develop`` adds it through Home Assistant's own
  ``esphome`` config flow, so Home Assistant's esphome integration, aioesphomeapi, bleak-esphome
  and habluetooth's slot accounting carry every advertisement and GATT operation, exactly as for
  a real ESP32 Bluetooth proxy. Nothing of this integration sits between Home Assistant and the
  node; the node only shares Home Assistant's process (and event loop) with it.
* ``scanner``: a :class:`bb8sim.proxy.SimProxy` registered with Home Assistant's Bluetooth
  manager, the project's own remote scanner whose connector's client is the simulator.

Either way the Sphero integration cannot tell the difference from a real toy behind a proxy:
discovery, the config flow, ``establish_connection``, Home Assistant's client wrapper and the
proxy's connection slots all run as in production. ``custom_components/bb8`` knows nothing of
this integration.

It also gives the developer (and the end-to-end test) a window on the toys: the view
``GET /api/bb8_simulator/toys`` returns every toy's snapshot, and the ``bb8_simulator.*`` actions
bump, charge, drain, put to sleep or disconnect a toy, or change the injected faults, live.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime, timedelta
import logging
from typing import Any, Final

from aiohttp import web
from homeassistant.const import EVENT_HOMEASSISTANT_CLOSE
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.helpers.typing import ConfigType
from homeassistant.util.hass_dict import HassKey
import voluptuous as vol

from bb8sim import RealtimeTicker, SimClock, SimulatedBB8, registry
from bb8sim.devmode import (
    COMPANION_DOMAIN,
    DEFAULT_LINEUP,
    NODE_FRIENDLY_NAME,
    NODE_MAC,
    NODE_NAME,
    PROXY_ESPHOME,
    PROXY_KINDS,
    PROXY_SCANNER,
    STATE_VIEW_URL,
    FaultSpec,
    make_toy,
    parse_fault_spec,
    parse_lineup,
    toy_addresses,
)
from bb8sim.esphome import SimulatedESPHomeNode
from bb8sim.proxy import SimProxy
from bb8sim.toy import FLOOR_VOLTAGE, FULL_VOLTAGE
from bb8sim.v2 import SimulatedV2Toy
from bb8sim.v2.models import MODELS as V2_MODELS

DOMAIN: Final = COMPANION_DOMAIN
_LOGGER = logging.getLogger(__name__)

CONF_TOYS: Final = "toys"
CONF_FAULTS: Final = "faults"
CONF_ADVERTISE_INTERVAL: Final = "advertise_interval"
CONF_BATTERY_VOLTAGE: Final = "battery_voltage"
CONF_PROXY: Final = "proxy"
CONF_ESPHOME_PORT: Final = "esphome_port"

ATTR_ADDRESS: Final = "address"
ATTR_MAGNITUDE: Final = "magnitude"
ATTR_CHARGING: Final = "charging"
ATTR_VOLTAGE: Final = "voltage"
ATTR_FAULTS: Final = "faults"

DATA: HassKey[Simulator] = HassKey(DOMAIN)
NODE_GOODBYE_TIMEOUT: Final = 3.0
"""At close, how long the simulated node waits for its API clients to disconnect before it stops."""


def _fault_spec(value: Any) -> str:
    """Validate a ``--faults`` string with the same parser the script uses."""
    text = cv.string(value) if value is not None else ""
    try:
        parse_fault_spec(text)
    except ValueError as err:
        raise vol.Invalid(str(err)) from err
    return text


def _lineup(value: Any) -> list[str]:
    """Validate ``toys:`` (a number of BB-8s, or models separated by commas) as the script does."""
    try:
        return parse_lineup(value)
    except ValueError as err:
        raise vol.Invalid(str(err)) from err


CONFIG_SCHEMA: Final = vol.Schema(
    {
        DOMAIN: vol.Schema(
            {
                vol.Optional(CONF_TOYS, default=DEFAULT_LINEUP): _lineup,
                vol.Optional(CONF_FAULTS, default=""): vol.Any(None, _fault_spec),
                vol.Optional(CONF_ADVERTISE_INTERVAL, default=5.0): vol.All(
                    vol.Coerce(float), vol.Range(min=0.5, max=60)
                ),
                vol.Optional(CONF_BATTERY_VOLTAGE, default=8.1): vol.All(
                    vol.Coerce(float), vol.Range(min=6.0, max=8.4)
                ),
                vol.Optional(CONF_PROXY, default=PROXY_ESPHOME): vol.In(PROXY_KINDS),
                vol.Optional(CONF_ESPHOME_PORT, default=0): vol.All(
                    vol.Coerce(int), vol.Range(min=0, max=65535)
                ),
            }
        )
    },
    extra=vol.ALLOW_EXTRA,
)

_ADDRESS_FIELD: Final[dict[vol.Marker, Any]] = {vol.Optional(ATTR_ADDRESS): cv.string}
LOWEST_VOLTAGE: Final = min(FLOOR_VOLTAGE, *(model.battery_empty for model in V2_MODELS.values()))
"""The lowest voltage ``set_battery_voltage`` takes: a one-cell toy's empty pack (a Mini's 3.5 V)."""


def battery_range(toy: SimulatedBB8 | SimulatedV2Toy) -> tuple[float, float]:
    """Return the voltages ``toy``'s pack can show, as its simulator keeps them.

    A v2 toy's are its model's (two cells for the R2 units and the BB-9E, one for the Mini and
    the BOLT); a v1 toy's are the simulator's two-cell floor and full charge.
    """
    if isinstance(toy, SimulatedV2Toy):
        return toy.model.battery_empty, toy.model.battery_full
    return FLOOR_VOLTAGE, FULL_VOLTAGE


@dataclass
class Simulator:
    """Everything developer mode's simulation owns, torn down together at shutdown."""

    clock: SimClock
    ticker: RealtimeTicker
    proxy: SimProxy | None
    """The project's own remote scanner (``proxy: scanner``), else None."""
    node: SimulatedESPHomeNode | None
    """The simulated ESPHome node (``proxy: esphome``), else None."""
    toys: list[SimulatedBB8]
    faults: FaultSpec
    _undo: list[CALLBACK_TYPE] = field(default_factory=list)
    _link_dropper: CALLBACK_TYPE | None = None

    def find(self, address: str | None) -> list[SimulatedBB8]:
        """Return the toy at ``address``, or every toy when ``address`` is empty."""
        if not address:
            return list(self.toys)
        if (toy := registry.get(address)) is None or toy not in self.toys:
            raise ServiceValidationError(
                f"No simulated toy at {address}; the simulated toys are "
                + ", ".join(toy.address for toy in self.toys)
            )
        return [toy]

    @callback
    def set_faults(self, hass: HomeAssistant, spec: FaultSpec) -> None:
        """Apply ``spec`` to every toy's fault plan and (re)start the periodic link loss."""
        self.faults = spec
        for toy in self.toys:
            spec.apply(toy.faults)
        if self._link_dropper is not None:
            self._link_dropper()
            self._link_dropper = None
        if spec.disconnect_every:
            self._link_dropper = async_track_time_interval(
                hass,
                self._drop_links,
                timedelta(seconds=spec.disconnect_every),
                name="bb8_simulator periodic link loss",
                cancel_on_shutdown=True,
            )
        _LOGGER.info("Simulated faults: %s", spec.describe())

    @callback
    def _drop_links(self, _now: datetime) -> None:
        for toy in self.toys:
            if toy.disconnect_now("fault: disconnect_every"):
                _LOGGER.info("%s: link dropped by the simulator (disconnect_every)", toy.name)

    async def async_close(self) -> None:
        """Stop advertising and ticking; nothing of the simulator keeps running afterwards."""
        if self._link_dropper is not None:
            self._link_dropper()
            self._link_dropper = None
        while self._undo:
            self._undo.pop()()
        if self.node is not None:
            # Home Assistant's esphome entry says goodbye (Disconnect 5 → 6) at the same close
            # event: let it, rather than reset its connection under it.
            await self.node.wait_for_api_clients_to_leave(NODE_GOODBYE_TIMEOUT)
            await self.node.stop()
        await self.ticker.stop()
        for toy in self.toys:
            registry.unregister(toy.address)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Create the toys, register the proxy, start advertising (only with a ``bb8_simulator:`` block)."""
    if (conf := config.get(DOMAIN)) is None:
        return True
    spec = parse_fault_spec(conf[CONF_FAULTS])
    clock = SimClock()
    toys = [
        registry.register(
            make_toy(
                address,
                model,
                clock=clock,
                faults=spec.make_plan(index),
                battery_voltage=conf[CONF_BATTERY_VOLTAGE],
            )
        )
        for index, (address, model) in enumerate(
            zip(toy_addresses(len(conf[CONF_TOYS])), conf[CONF_TOYS], strict=True)
        )
    ]
    # One slot per toy at least (a real ESPHome proxy has three), so every toy can stay connected.
    slots = max(3, len(toys))
    proxy: SimProxy | None = None
    node: SimulatedESPHomeNode | None = None
    if conf[CONF_PROXY] == PROXY_ESPHOME:
        node = SimulatedESPHomeNode(
            name=NODE_NAME,
            friendly_name=NODE_FRIENDLY_NAME,
            mac_address=NODE_MAC,
            port=conf[CONF_ESPHOME_PORT],
            slots=slots,
            advertise_interval=conf[CONF_ADVERTISE_INTERVAL],
        )
    else:
        proxy = SimProxy(hass, name=NODE_FRIENDLY_NAME, slots=slots)
    simulator = Simulator(clock, RealtimeTicker(clock), proxy, node, toys, spec)
    hass.data[DATA] = simulator

    if node is not None:
        # Listening before Home Assistant's esphome entry connects (on a restart both set up in
        # the same stage; a first refused connect is retried by aioesphomeapi after a second).
        await node.start()
    else:
        assert proxy is not None
        simulator._undo.append(proxy.async_setup())
        # Advertise at once, so the toys are known before their entries set up on a restart.
        proxy.advertise_all()
        proxy.start_advertising(conf[CONF_ADVERTISE_INTERVAL])
    await simulator.ticker.start()
    simulator.set_faults(hass, spec)

    hass.http.register_view(SimulatorStateView())
    _register_services(hass)

    async def _async_close(_event: Event) -> None:
        await simulator.async_close()

    # At close, not at stop: the Sphero integration disconnects at stop and the toys must still
    # be there to see it go.
    hass.bus.async_listen_once(EVENT_HOMEASSISTANT_CLOSE, _async_close)
    names = ", ".join(f"{toy.name} ({toy.address})" for toy in toys)
    if node is not None:
        _LOGGER.info(
            "Simulating %s behind the ESPHome Bluetooth proxy %r (native API on 127.0.0.1:%d, "
            "Bluetooth MAC %s, %d connection slots)",
            names,
            node.friendly_name,
            node.port,
            node.bluetooth_mac_address,
            node.slots,
        )
    else:
        assert proxy is not None
        _LOGGER.info(
            "Simulating %s behind the Bluetooth proxy %r (%s, %d connection slots)",
            names,
            proxy.scanner.name,
            proxy.source,
            proxy.slots,
        )
    return True


def snapshot(simulator: Simulator) -> dict[str, Any]:
    """Plain JSON data: the proxy, the faults and every toy's :meth:`SimulatedBB8.snapshot`."""
    if (node := simulator.node) is not None:
        proxy: dict[str, Any] = {
            "kind": PROXY_ESPHOME,
            "source": node.bluetooth_mac_address,
            "name": node.friendly_name,
            "port": node.port,
            "slots": node.slots,
            "slots_in_use": node.slots - node.slots_free,
            "api_connections": node.api_connections_open,
            "frames_received": sum(node.frames_received.values()),
            "frames_sent": sum(node.frames_sent.values()),
            "gatt_writes": dict(node.gatt_writes),
        }
    else:
        assert simulator.proxy is not None
        proxy = {
            "kind": PROXY_SCANNER,
            "source": simulator.proxy.source,
            "name": simulator.proxy.scanner.name,
            "slots": simulator.proxy.slots,
            "slots_in_use": simulator.proxy.slots_in_use,
        }
    return {
        "proxy": proxy,
        "faults": simulator.faults.describe(),
        "clock": simulator.clock.now(),
        "toys": [_plain(toy.snapshot()) for toy in simulator.toys],
    }


def _plain(value: Any) -> Any:
    """Make a snapshot JSON-friendly (its collision config is a dataclass, colours are tuples)."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


class SimulatorStateView(HomeAssistantView):
    """``GET /api/bb8_simulator/toys``: what the simulated toys are doing (authenticated)."""

    url = STATE_VIEW_URL
    name = "api:bb8_simulator:toys"

    async def get(self, request: web.Request) -> web.Response:
        """Return the snapshot."""
        return self.json(snapshot(request.app[KEY_HASS].data[DATA]))


def _register_services(hass: HomeAssistant) -> None:
    """Register the developer's levers on the simulated world (Developer tools > Actions)."""

    def _simulator() -> Simulator:
        return hass.data[DATA]

    @callback
    def _collide(call: ServiceCall) -> None:
        for toy in _simulator().find(call.data.get(ATTR_ADDRESS)):
            magnitude = call.data[ATTR_MAGNITUDE]
            # A v2 toy reports its bump's power on another scale: the BB-8's default 512 is its 200.
            bumped = (
                toy.trigger_collision(x_power=min(255, magnitude * 200 // 512))
                if isinstance(toy, SimulatedV2Toy)
                else toy.trigger_collision(x_magnitude=magnitude)
            )
            if not bumped:
                _LOGGER.info("%s: no collision reported (asleep, not connected or below threshold)", toy.name)

    @callback
    def _set_charging(call: ServiceCall) -> None:
        for toy in _simulator().find(call.data.get(ATTR_ADDRESS)):
            if call.data[ATTR_CHARGING]:
                toy.wake_by_charger()
            else:
                toy.set_charging(False)

    @callback
    def _set_battery_voltage(call: ServiceCall) -> None:
        # A voltage one of the toys' packs cannot hold changes no toy: a Mini at 7.2 V would
        # show a percentage no Mini reports.
        volts = call.data[ATTR_VOLTAGE]
        toys = _simulator().find(call.data.get(ATTR_ADDRESS))
        for toy in toys:
            low, high = battery_range(toy)
            if not low <= volts <= high:
                raise ServiceValidationError(
                    f"{toy.name}'s battery holds {low:.2f} to {high:.2f} V, not {volts:.2f} V; "
                    "nothing was changed"
                )
        for toy in toys:
            toy.set_battery_voltage(volts)

    @callback
    def _drop_link(call: ServiceCall) -> None:
        for toy in _simulator().find(call.data.get(ATTR_ADDRESS)):
            toy.disconnect_now("developer asked (bb8_simulator.drop_link)")

    @callback
    def _sleep(call: ServiceCall) -> None:
        for toy in _simulator().find(call.data.get(ATTR_ADDRESS)):
            toy.sleep_now()

    @callback
    def _set_faults(call: ServiceCall) -> None:
        try:
            spec = parse_fault_spec(call.data.get(ATTR_FAULTS) or "")
        except ValueError as err:
            raise ServiceValidationError(str(err)) from err
        _simulator().set_faults(hass, spec)

    address_only = vol.Schema(_ADDRESS_FIELD)
    hass.services.async_register(
        DOMAIN,
        "collide",
        _collide,
        schema=vol.Schema(
            {
                **_ADDRESS_FIELD,
                vol.Optional(ATTR_MAGNITUDE, default=512): vol.All(vol.Coerce(int), vol.Range(0, 2000)),
            }
        ),
    )
    hass.services.async_register(
        DOMAIN,
        "set_charging",
        _set_charging,
        schema=vol.Schema({**_ADDRESS_FIELD, vol.Required(ATTR_CHARGING): cv.boolean}),
    )
    hass.services.async_register(
        DOMAIN,
        "set_battery_voltage",
        _set_battery_voltage,
        schema=vol.Schema(
            {
                **_ADDRESS_FIELD,
                vol.Required(ATTR_VOLTAGE): vol.All(
                    vol.Coerce(float), vol.Range(LOWEST_VOLTAGE, FULL_VOLTAGE)
                ),
            }
        ),
    )
    hass.services.async_register(DOMAIN, "drop_link", _drop_link, schema=address_only)
    hass.services.async_register(DOMAIN, "sleep", _sleep, schema=address_only)
    hass.services.async_register(
        DOMAIN,
        "set_faults",
        _set_faults,
        schema=vol.Schema({vol.Optional(ATTR_FAULTS, default=""): cv.string}),
    )
