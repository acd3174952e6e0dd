"""A simulated ESPHome-style Bluetooth proxy that presents simulated BB-8s to Home Assistant.

It is a real ``habluetooth.BaseHaRemoteScanner`` registered with Home Assistant's Bluetooth
manager, with an ``HaBluetoothConnector`` whose client is the simulator's bleak backend. So
discovery, ``async_ble_device_from_address``, bleak-retry-connector's ``establish_connection``,
Home Assistant's client wrapper and its connection-slot accounting all run exactly as they do
with a real toy behind a real proxy. Used by the tests and by developer mode; the integration
never imports it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from bluetooth_data_tools import monotonic_time_coarse
from habluetooth import BaseHaRemoteScanner, HaBluetoothConnector
from homeassistant.components import bluetooth
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from . import registry
from .backend import SimBleakBackend
from .toy import SimulatedBB8

DEFAULT_SOURCE = "AA:BB:CC:00:BB:08"


class SimProxyScanner(BaseHaRemoteScanner):
    """The proxy's scanner: advertisements arrive when the simulator says so."""


class SimProxy:
    """A proxy with a number of connection slots, advertising registered simulated toys."""

    def __init__(
        self,
        hass: HomeAssistant,
        *,
        source: str = DEFAULT_SOURCE,
        name: str = "Sphero simulator proxy",
        slots: int = 3,
        connectable: bool = True,
    ) -> None:
        """Prepare the proxy; ``async_setup`` registers it with Home Assistant.

        ``connectable`` False is a passive proxy (ESPHome's ``active: false``): it passes
        advertisements on but makes no connections.
        """
        self.hass = hass
        self.source = source
        self.name = name
        self.slots = slots
        self.online = True
        # Connects that reached this proxy (Home Assistant chose it), whatever their outcome.
        self.connect_attempts = 0
        self.connect_attempts_by_address: Counter[str] = Counter()
        """The same connects, per toy address (the week soak counts them per toy)."""
        self._links: set[SimBleakBackend] = set()
        self.backend_class = self._make_backend_class()
        self.connector = HaBluetoothConnector(
            client=self.backend_class, source=source, can_connect=self.can_connect
        )
        self.scanner = SimProxyScanner(source, name, self.connector, connectable)
        self._undo: list[CALLBACK_TYPE] = []
        self._advertiser: asyncio.Task[None] | None = None

    @property
    def slots_in_use(self) -> int:
        """Links currently held through this proxy."""
        self._links = {link for link in self._links if link.is_connected}
        return len(self._links)

    @property
    def linked_addresses(self) -> frozenset[str]:
        """Addresses of the toys whose links this proxy carries now."""
        return frozenset(link.address.upper() for link in self._links if link.is_connected)

    def can_connect(self) -> bool:
        """Answer whether a slot is free (Home Assistant asks before it picks this proxy)."""
        return self.online and self.slots_in_use < self.slots

    def _make_backend_class(self) -> type[SimBleakBackend]:
        proxy = self

        class ProxyBackend(SimBleakBackend):
            """The simulator's backend, counting the proxy's connection slots."""

            async def connect(self, *args: Any, **kwargs: Any) -> bool:
                proxy.connect_attempts += 1
                proxy.connect_attempts_by_address[self.address.upper()] += 1
                if not proxy.online:
                    raise BleakError(f"{proxy.name} is offline")
                connected = await super().connect(*args, **kwargs)
                if connected:
                    proxy._links.add(self)
                return connected

            async def disconnect(self) -> bool:
                proxy._links.discard(self)
                return await super().disconnect()

        return ProxyBackend

    @callback
    def async_setup(self) -> CALLBACK_TYPE:
        """Register the scanner with Home Assistant; returns the undo."""
        self._undo.append(
            bluetooth.async_register_scanner(self.hass, self.scanner, connection_slots=self.slots)
        )
        self._undo.append(self.scanner.async_setup())
        return self.async_teardown

    @callback
    def async_teardown(self) -> None:
        """Unregister the scanner and stop advertising."""
        if self._advertiser is not None:
            self._advertiser.cancel()
            self._advertiser = None
        while self._undo:
            self._undo.pop()()

    async def async_go_offline(self) -> None:
        """Go away, as a proxy that reboots or drops off Wi-Fi: its links drop, its scanner leaves.

        As with a real ESPHome proxy, the toy's side of each link just ends (the toy stays as it
        was), the central's client hears a disconnect, and Home Assistant's Bluetooth manager
        loses the scanner: it no longer offers this path, and its next availability check calls
        a toy that no other scanner hears gone.
        """
        self.online = False
        links, self._links = list(self._links), set()
        for link in links:
            await link.disconnect()
        self.async_teardown()

    @callback
    def async_come_back(self) -> None:
        """Come back: a new scanner registers, as the ESPHome integration makes a new one.

        It has heard nothing yet; call :meth:`advertise` for the toys it hears.
        """
        self.scanner = SimProxyScanner(self.source, self.name, self.connector, True)
        self.online = True
        self.async_setup()

    @callback
    def advertise(self, toy: SimulatedBB8, rssi: int = -60) -> None:
        """Send one advertisement of ``toy``, as the proxy would on hearing it (not while offline)."""
        registry.register(toy)
        if not self.online:
            return
        # The fields a real BB-8 sends (its local name, manufacturer 0x3033 with no payload, its
        # TX power, no service UUID: tests/captures/bb8_gatt.py).
        advertisement = toy.advertisement
        self.scanner._async_on_advertisement(
            toy.address,
            rssi,
            advertisement.local_name,
            list(advertisement.service_uuids),
            {},
            dict(advertisement.manufacturer_data),
            advertisement.tx_power,
            {"address_type": 1},
            monotonic_time_coarse(),
        )

    @callback
    def advertise_all(self, rssi: int = -60) -> None:
        """Advertise every registered toy once (a connected toy keeps advertising here)."""
        for toy in registry.all_toys():
            self.advertise(toy, rssi)

    def start_advertising(self, interval: float = 5.0) -> None:
        """Advertise every registered toy every ``interval`` seconds (developer mode)."""

        async def _loop() -> None:
            while True:
                self.advertise_all()
                await asyncio.sleep(interval)

        self._advertiser = self.hass.async_create_background_task(_loop(), "bb8sim proxy advertiser")

    def ble_device(self, toy: SimulatedBB8) -> BLEDevice | None:
        """Return the ``BLEDevice`` Home Assistant would hand out for ``toy`` through this proxy."""
        return bluetooth.async_ble_device_from_address(self.hass, toy.address, connectable=True)
