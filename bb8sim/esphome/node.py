"""A simulated ESPHome Bluetooth proxy node: the native API on 127.0.0.1, simulated toys behind it.

Home Assistant's own ``esphome`` integration (aioesphomeapi's ``APIClient``, bleak-esphome's
``ESPHomeClient``, habluetooth's slot accounting) drives it exactly as it drives an ESP32 running
ESPHome's ``bluetooth_proxy`` with active connections: nothing on the Home Assistant side is
simulated. Behind the node sit the toys of :mod:`bb8sim.registry` (:class:`~bb8sim.toy.SimulatedBB8`
and :class:`~bb8sim.v2.SimulatedV2Toy`, each served its own GATT table), reached through the same
:class:`~bb8sim.toy.ToyLink` interface the bleak backend uses.

What it does, and where that comes from (ESPHome's ``bluetooth_proxy`` and ``api`` components,
and the client side in aioesphomeapi and bleak-esphome):

* Hello (1 → 2) answers with the lower of the client's API version and :data:`API_VERSION`;
  Connect/Authentication (3 → 4) is answered with ``invalid_password=False`` (29.x waits for it,
  46.x does not); DeviceInfo (9 → 10) names the node, its MAC and the proxy's feature flags;
  ListEntities (11 → 19) lists nothing (the node has no entities of its own); Ping and
  Disconnect work both ways. Unknown messages are ignored, as the firmware ignores what it was
  not built with.
* Advertisements: after a subscription (66) every heard toy is sent as a raw advertisement (93:
  uint64 address, RSSI, address type 1 = random, AD bytes) at once and then every
  ``advertise_interval`` seconds, well inside habluetooth's 195 s stale limit; or, with
  ``advertise_interval=None``, only when :meth:`~SimulatedESPHomeNode.advertise_now` names the
  toys heard (a world that says when each toy advertises: the week soak). A client that does
  not ask for raw ones (flags 0) gets parsed ones (67).
* Connection slots: ``slots`` of them, reported on subscription (80 → 81 {free, limit,
  allocated}) and again after every change, as the firmware does: a slot is taken when a connect
  request arrives and given back when the link ends or the connect fails.
* Connect (68): with cache (the client has the services and MTU) the node reports connected
  (69 {connected, mtu}) as soon as the link opens; without cache it first discovers services. No
  free slot: 69 {connected: false}. A toy that does not answer: 69 with
  ``ESP_GATT_CONN_FAIL_ESTABLISH`` after ``establish_timeout``.
* GATT: services (70 → 71 per service, 72), reads (73/76 → 74), writes (75 → 83 only when a
  response was asked), descriptor writes (77 → 83), notify (78 → 84) and notifications (79).
  A notification leaves the toy only while the client both registered for it (78) and enabled the
  CCCD (0x2902) — with remote caching the client writes the CCCD itself, as bleak-esphome does.
  Errors are the ESP-IDF GATT status codes (82 {address, handle, error}; -1 = not connected).
* Disconnects: the central's (68 DISCONNECT → 69 with 0x16, local host), the toy's (0x13, peer
  user, when it sleeps; 0x08, supervision timeout, for a radio loss), and every link of an API
  connection dropped when that connection closes (the firmware disconnects all BLE clients when
  the API goes away).

Faults a test or developer mode can inject: :meth:`drop_api_connections` (Wi-Fi loss),
:meth:`reboot`, :attr:`slots_taken_by_others`, :meth:`fail_next_write` (a GATT error mid-write),
:attr:`stall_connects` (a connect that times out at the node).
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
import functools
import logging
from typing import Final

from google.protobuf.message import Message

from bb8sim import registry
from bb8sim.backend import DEFAULT_MTU
from bb8sim.toy import SimulatedBB8
from bb8sim.v2.toy import SimulatedV2Toy

from .api import (
    SUBSCRIPTION_RAW_ADVERTISEMENTS,
    MessageId,
    ProxyFeature,
    ScannerMode,
    ScannerState,
    knows,
    make,
)
from .connection import _ApiConnection
from .gatt import (
    GATT_ERROR,
    address_to_int,
    advertisement_bytes,
    int_to_address,
)
from .link import _BleConnection

_LOGGER = logging.getLogger(__name__)

# The API version the node reports. 1.10 is the lowest that carries both feature-flag fields
# (proxy 1.9, voice 1.10) and below 1.15, from which 46.x would ask DeviceCapabilities (149), a
# message 29.x does not have: one version both pinned clients handle the same way.
API_VERSION: Final = (1, 10)
# State-and-mode (64) came with ESPHome 2025.5: a proxy that reports it answers every advertisement
# subscription with its scanner's state (126) and takes mode changes (127). Reported only where
# the installed aioesphomeapi has those messages (46.x): 29.x knows neither, and its bleak-esphome
# never looks at the bit.
STATE_AND_MODE_SUPPORTED: Final = knows(MessageId.BLUETOOTH_SCANNER_STATE_RESPONSE)
DEFAULT_FEATURE_FLAGS: Final = (
    ProxyFeature.PASSIVE_SCAN
    | ProxyFeature.ACTIVE_CONNECTIONS
    | ProxyFeature.REMOTE_CACHING
    | ProxyFeature.PAIRING
    | ProxyFeature.CACHE_CLEARING
    | ProxyFeature.RAW_ADVERTISEMENTS
    | (ProxyFeature.STATE_AND_MODE if STATE_AND_MODE_SUPPORTED else 0)
)
DEFAULT_SLOTS: Final = 3  # ESPHome's default bluetooth_proxy connection_slots
DEFAULT_ADVERTISE_INTERVAL: Final = 10.0
RANDOM_ADDRESS_TYPE: Final = 1  # a BB-8 has a random static address


class SimulatedESPHomeNode:
    """An ESP32 running ESPHome's Bluetooth proxy, listening on 127.0.0.1 (plaintext API).

    ``await node.start()`` binds (``port=0`` picks a free port: read :attr:`port`);
    ``await node.stop()`` closes every connection and timer. The toys it hears are the registered
    ones (:mod:`bb8sim.registry`) not in :attr:`out_of_range`.
    """

    def __init__(
        self,
        *,
        name: str = "bb8-proxy",
        friendly_name: str = "BB-8 proxy",
        mac_address: str = "AC:0B:FB:00:BB:08",
        host: str = "127.0.0.1",
        port: int = 0,
        slots: int = DEFAULT_SLOTS,
        feature_flags: int = DEFAULT_FEATURE_FLAGS,
        api_version: tuple[int, int] = API_VERSION,
        advertise_interval: float | None = DEFAULT_ADVERTISE_INTERVAL,
        rssi: int = -60,
        mtu: int = DEFAULT_MTU,
        connect_latency: float = 0.0,
        establish_timeout: float = 1.0,
    ) -> None:
        """Describe the node; nothing listens before :meth:`start`."""
        self.name = name
        self.friendly_name = friendly_name
        self.mac_address = mac_address
        # An ESP32's Bluetooth MAC is its Wi-Fi MAC + 2; Home Assistant names the scanner by it.
        self.bluetooth_mac_address = int_to_address(address_to_int(mac_address) + 2)
        self.host = host
        self._port = port
        self.slots = slots
        self.feature_flags = int(feature_flags)
        self.api_version = api_version
        self.advertise_interval = advertise_interval
        """Seconds between the node's own rounds of advertisements; None: no rounds of its own,
        only what :meth:`advertise_now` is told (a world that says when each toy is heard)."""
        self.rssi = rssi
        self.mtu = mtu
        self.connect_latency = connect_latency
        self.establish_timeout = establish_timeout
        self.out_of_range: set[str] = set()
        """Addresses the node does not hear (no advertisements, connects fail to establish)."""
        self.toy_rssi: dict[str, int] = {}
        """The signal strength the node hears a toy at, by upper-case address (else :attr:`rssi`)."""
        self.stall_connects = False
        """Connect requests take a slot and never complete, as a radio that never gets through."""
        self.slots_taken_by_others = 0
        """Slots held by other devices near the node (they count in 81's ``allocated``)."""
        self.configured_scanner_mode = ScannerMode.ACTIVE
        """The mode the node was built with (``esp32_ble_tracker``'s ``active: true``, its default)."""
        self.scanner_mode = self.configured_scanner_mode
        """The mode the scanner runs in now (a client may switch it with 127)."""

        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._api_connections: set[_ApiConnection] = set()
        self._links: dict[int, _BleConnection] = {}
        self._advertiser: asyncio.TimerHandle | None = None
        self._write_errors: deque[int] = deque()
        self._no_api_connections = asyncio.Event()
        self._no_api_connections.set()

        # What happened, for tests and the bench.
        self.frames_received: Counter[int] = Counter()
        self.frames_sent: Counter[int] = Counter()
        self.api_connections_accepted = 0
        self.connect_requests = 0
        self.connect_requests_by_type: Counter[str] = Counter()
        self.connect_requests_by_address: Counter[str] = Counter()
        """Connect requests received per toy address (upper case), refused ones included."""
        self.connects_refused_no_slot = 0
        self.links_opened = 0
        self.service_discoveries = 0
        self.gatt_writes: Counter[str] = Counter()
        self.gatt_errors_sent = 0
        self.notifications_forwarded = 0
        self.notifications_dropped = 0
        self.advertisements_sent = 0
        self.reboots = 0

    def __repr__(self) -> str:
        """Name, where it listens and its slots."""
        return f"<SimulatedESPHomeNode {self.name} {self.host}:{self._port} slots {self.slots_free}/{self.slots}>"

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the node runs on (set by :meth:`start`)."""
        if self._loop is None:
            raise RuntimeError("the node is not started")
        return self._loop

    @property
    def port(self) -> int:
        """The TCP port the native API listens on."""
        return self._port

    @property
    def running(self) -> bool:
        """Whether the API listens."""
        return self._server is not None

    async def start(self) -> None:
        """Listen on ``host:port`` and start advertising to subscribers."""
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(
            functools.partial(_ApiConnection, self), self.host, self._port, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]
        self._schedule_advertising()

    async def stop(self) -> None:
        """Close the API and every connection: every BLE link drops, as at power-off."""
        if self._advertiser is not None:
            self._advertiser.cancel()
            self._advertiser = None
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for connection in list(self._api_connections):
            connection.close(abort=True)
        self._drop_links(list(self._links.values()))
        if server is not None:
            await server.wait_closed()
        # Let the aborted transports run connection_lost before the loop is checked for leftovers.
        await asyncio.sleep(0)

    async def wait_for_api_clients_to_leave(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait up to ``timeout`` s until no API client is connected; returns whether none is.

        For a clean stop: Home Assistant's esphome entry says goodbye (Disconnect 5 → 6) when it
        closes, and a node that stays powered lets it rather than resetting its connection.
        """
        try:
            async with asyncio.timeout(timeout):
                await self._no_api_connections.wait()
        except TimeoutError:
            return False
        return True

    async def reboot(
        self, downtime: float = 0.0, *, wait: Callable[[float], Awaitable[object]] = asyncio.sleep
    ) -> None:
        """Reboot: every API connection and link ends, and the node listens again after ``downtime``.

        ``wait`` lets the downtime pass: real time by default; a soak in simulated time passes its
        clock's ``advance``, since a loop whose clock is moved by hand would never end a long sleep.
        """
        self.reboots += 1
        await self.stop()
        self._write_errors.clear()
        if downtime > 0:
            await wait(downtime)
        await self.start()

    def drop_api_connections(self) -> int:
        """Drop every API connection without a goodbye (Wi-Fi loss); returns how many there were."""
        connections = list(self._api_connections)
        for connection in connections:
            connection.close(abort=True)
        return len(connections)

    # -- faults ---------------------------------------------------------------------------------

    def fail_next_write(self, error: int = GATT_ERROR, count: int = 1) -> None:
        """Make the next ``count`` characteristic writes fail at the node with GATT status ``error``."""
        self._write_errors.extend([error] * count)

    def _take_write_error(self) -> int | None:
        return self._write_errors.popleft() if self._write_errors else None

    def set_slots_taken_by_others(self, count: int) -> None:
        """Let other devices hold ``count`` slots (0 gives them back) and report the change."""
        self.slots_taken_by_others = count
        self.broadcast_connections_free()

    # -- slots ----------------------------------------------------------------------------------

    @property
    def slots_free(self) -> int:
        """Slots neither connecting, connected nor held by other devices."""
        return max(0, self.slots - len(self._links) - self.slots_taken_by_others)

    @property
    def api_connections_open(self) -> int:
        """Native-API connections open now (Home Assistant's entry holds one)."""
        return len(self._api_connections)

    @property
    def linked_addresses(self) -> frozenset[str]:
        """Addresses of the toys the node holds a link to now."""
        return frozenset(link.address_str for link in self._links.values() if link.connected)

    def _connections_free_message(self) -> Message:
        allocated = list(self._links)
        allocated += [0xC0FFEE000000 + index for index in range(self.slots_taken_by_others)]
        return make(
            MessageId.BLUETOOTH_CONNECTIONS_FREE_RESPONSE,
            free=self.slots_free,
            limit=self.slots,
            allocated=allocated[: self.slots],
        )

    def broadcast_connections_free(self) -> None:
        """Send 81 to every subscriber (after every slot change, as the firmware does)."""
        message = self._connections_free_message()
        for connection in self._api_connections:
            if connection.connections_free:
                connection.send(MessageId.BLUETOOTH_CONNECTIONS_FREE_RESPONSE, message)

    def _release(self, link: _BleConnection) -> None:
        if self._links.get(link.address) is link:
            del self._links[link.address]
        link.owner.links.pop(link.address, None)

    def _drop_links(self, links: Iterable[_BleConnection]) -> None:
        for link in links:
            link.drop_silently()

    def _api_connection_lost(self, connection: _ApiConnection) -> None:
        self._api_connections.discard(connection)
        if not self._api_connections:
            self._no_api_connections.set()
        if connection.links:
            _LOGGER.debug("%s: API connection lost; dropping its BLE links", self.name)
            self._drop_links(list(connection.links.values()))
            self.broadcast_connections_free()

    # -- scanner state and mode (46.x) ----------------------------------------------------------

    def _scanner_state_message(self) -> Message:
        return make(
            MessageId.BLUETOOTH_SCANNER_STATE_RESPONSE,
            state=ScannerState.RUNNING,
            mode=self.scanner_mode,
            configured_mode=self.configured_scanner_mode,
        )

    def _send_scanner_state(self, connection: _ApiConnection) -> None:
        """Tell one subscriber the scanner's state, when the node reports state-and-mode."""
        if self.feature_flags & ProxyFeature.STATE_AND_MODE and STATE_AND_MODE_SUPPORTED:
            connection.send(MessageId.BLUETOOTH_SCANNER_STATE_RESPONSE, self._scanner_state_message())

    def set_scanner_mode(self, mode: ScannerMode) -> None:
        """Switch the scanner to ``mode`` and push the new state to every advertisement subscriber."""
        self.scanner_mode = mode
        for connection in list(self._api_connections):
            if connection.advertisements is not None:
                self._send_scanner_state(connection)

    # -- advertising ----------------------------------------------------------------------------

    def hears(self, toy: SimulatedBB8 | SimulatedV2Toy) -> bool:
        """Whether the toy is in range of the node (and not in deep sleep, which silences its radio)."""
        return toy.address not in self.out_of_range and not toy.deep_asleep

    def rssi_of(self, toy: SimulatedBB8 | SimulatedV2Toy) -> int:
        """Return the signal strength the node reports for ``toy`` (a toy farther away reads lower)."""
        return self.toy_rssi.get(toy.address.upper(), self.rssi)

    def heard_toys(self) -> list[SimulatedBB8 | SimulatedV2Toy]:
        """Return the registered toys the node hears now."""
        return [toy for toy in registry.all_toys() if self.hears(toy)]

    def advertise_now(self, toys: Iterable[SimulatedBB8 | SimulatedV2Toy] | None = None) -> int:
        """Send every heard toy's advertisement (or only those of ``toys``) to every subscriber now.

        Returns how many subscribers it went to. The firmware passes an advertisement on as soon
        as it hears it; a world that models when each toy advertises (a toy holding a link is
        silent) names the toys it heard, instead of waiting for the node's own round.
        """
        only = None if toys is None else {toy.address.upper() for toy in toys}
        sent = 0
        for connection in list(self._api_connections):
            sent += self._advertise_to(connection, only)
        return sent

    def _schedule_advertising(self) -> None:
        if self.advertise_interval is None:
            return
        self._advertiser = self.loop.call_later(self.advertise_interval, self._advertise_tick)

    def _advertise_tick(self) -> None:
        self.advertise_now()
        self._schedule_advertising()

    def _advertise_to(self, connection: _ApiConnection, only: set[str] | None = None) -> int:
        flags = connection.advertisements
        if flags is None:
            return 0
        toys = [toy for toy in self.heard_toys() if only is None or toy.address.upper() in only]
        if not toys:
            return 0
        self.advertisements_sent += len(toys)
        if flags & SUBSCRIPTION_RAW_ADVERTISEMENTS:
            connection.send(
                MessageId.BLUETOOTH_LE_RAW_ADVERTISEMENTS_RESPONSE,
                make(
                    MessageId.BLUETOOTH_LE_RAW_ADVERTISEMENTS_RESPONSE,
                    advertisements=[
                        {
                            "address": address_to_int(toy.address),
                            "rssi": self.rssi_of(toy),
                            "address_type": RANDOM_ADDRESS_TYPE,
                            "data": advertisement_bytes(toy.advertisement),
                        }
                        for toy in toys
                    ],
                ),
            )
            return 1
        for toy in toys:
            advertisement = toy.advertisement
            connection.send(
                MessageId.BLUETOOTH_LE_ADVERTISEMENT_RESPONSE,
                make(
                    MessageId.BLUETOOTH_LE_ADVERTISEMENT_RESPONSE,
                    address=address_to_int(toy.address),
                    name=advertisement.local_name.encode(),
                    rssi=self.rssi_of(toy),
                    manufacturer_data=[
                        {"uuid": f"0x{company:04X}", "data": payload}
                        for company, payload in advertisement.manufacturer_data.items()
                    ],
                    address_type=RANDOM_ADDRESS_TYPE,
                ),
            )
        return 1
