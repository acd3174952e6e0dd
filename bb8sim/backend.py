"""A bleak client backend whose peripheral is a :class:`~bb8sim.toy.SimulatedBB8`.

:class:`SimBleakBackend` implements ``bleak.backends.client.BaseBleakClient`` so it can sit
where a platform backend (BlueZ, an ESPHome proxy) sits:

* Home Assistant: an ``HaBluetoothConnector(client=SimBleakBackend, ...)`` on a remote scanner;
  habluetooth then builds it as ``SimBleakBackend(ble_device, disconnected_callback=...,
  timeout=...)`` and Home Assistant's client wrapper, slot accounting and
  bleak-retry-connector run unchanged on top.
* Without Home Assistant: ``bleak.BleakClient(ble_device, backend=SimBleakBackend)``.

The toy is found in :mod:`bb8sim.registry` by address. Notifications and a toy-side disconnect
reach the client from the event loop, never from inside the caller's own ``await``, and in the
order the toy sent them (a delayed response holds back what follows it, as on a real link).

Written for bleak 0.22.3 (what Home Assistant 2025.4.4 pins) and defensively for bleak 2.x:
``connect`` takes bleak 2's ``pair`` argument, reads and descriptor calls accept a handle,
UUID or object, and the GATT objects are built through whichever constructor the installed
bleak has (abstract base classes in 0.22, concrete classes in 2.x).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
import functools
import inspect
import logging
from typing import Any, Final
import uuid as uuid_module

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakCharacteristicNotFoundError, BleakDeviceNotFoundError, BleakError

from . import registry
from .protocol import (
    ANTI_DOS_CHAR,
    COMMANDS_CHAR,
    CSR_OTA_SERVICE,
    DEVICE_INFORMATION_SERVICE,
    MAX_CHUNK,
    RADIO_SERVICE,
    RESPONSE_CHAR,
    ROBOT_CONTROL_SERVICE,
    TX_POWER_CHAR,
    WAKE_CHAR,
    csr_uuid,
    sig_uuid,
    sphero_uuid,
)
from .toy import SimulatedBB8
from .v2.toy import SimulatedV2Toy

type SimToy = SimulatedBB8 | SimulatedV2Toy
type GattLayout = tuple[tuple[str, int, tuple[tuple[str, int, tuple[str, ...], bool], ...]], ...]

_LOGGER = logging.getLogger(__name__)

CCCD_UUID: Final = "00002902-0000-1000-8000-00805f9b34fb"
# A BLE 4.0 link without MTU exchange: 23-byte ATT MTU, 20-byte payloads.
DEFAULT_MTU: Final = 23

type NotifyCallback = Callable[[bytearray], None]

_W = "write"
_WNR = "write-without-response"
_READ = "read"
_NOTIFY = "notify"

# A real BB-8's services, characteristics and properties, from a published dump
# (tests/captures/bb8_gatt.py). The dump has no handles: these are the simulator's, one per
# characteristic value with a CCCD after each notifying one. The dump wins over what drivers
# assume: TX power and anti-DoS are write-only, wake is readable and takes writes without response.
# (service uuid, service handle, [(characteristic uuid, handle, properties, has CCCD)])
GATT_LAYOUT: Final[tuple[tuple[str, int, tuple[tuple[str, int, tuple[str, ...], bool], ...]], ...]] = (
    (
        ROBOT_CONTROL_SERVICE,
        0x0010,
        (
            (COMMANDS_CHAR, 0x0012, (_WNR, _W), False),
            (RESPONSE_CHAR, 0x0014, (_NOTIFY,), True),
        ),
    ),
    (
        RADIO_SERVICE,
        0x0020,
        (
            (sphero_uuid("2bb1"), 0x0022, (_READ, _W), False),
            (TX_POWER_CHAR, 0x0024, (_W,), False),
            (sphero_uuid("2bb6"), 0x0026, (_READ, _WNR, _W, _NOTIFY), True),
            (sphero_uuid("2bb7"), 0x0029, (_READ, _WNR, _W), False),
            (sphero_uuid("2bb8"), 0x002B, (_READ,), False),
            (sphero_uuid("2bb9"), 0x002D, (_READ,), False),
            (sphero_uuid("2bba"), 0x002F, (_READ,), False),
            (ANTI_DOS_CHAR, 0x0031, (_WNR, _W), False),
            (sphero_uuid("2bbe"), 0x0033, (_READ, _W), False),
            (WAKE_CHAR, 0x0035, (_READ, _WNR, _W), False),
            ("22bb746f-3bba-7554-2d6f-726568705327", 0x0037, (_READ, _WNR, _W), False),
        ),
    ),
    (
        CSR_OTA_SERVICE,
        0x0040,
        (
            (csr_uuid("1013"), 0x0042, (_READ, _W), False),
            (csr_uuid("1017"), 0x0044, (_W,), False),
            (csr_uuid("1014"), 0x0046, (_READ, _NOTIFY), True),
        ),
    ),
    (
        DEVICE_INFORMATION_SERVICE,
        0x0050,
        (
            (sig_uuid("2a27"), 0x0052, (_READ,), False),
            (sig_uuid("2a25"), 0x0054, (_READ,), False),
            (sig_uuid("2a24"), 0x0056, (_READ,), False),
            (sig_uuid("2a29"), 0x0058, (_READ,), False),
            (sig_uuid("2a26"), 0x005A, (_READ,), False),
        ),
    ),
)

_ABSTRACT_GATT: Final = inspect.isabstract(BleakGATTService)
# bleak >= 1.0 builds these concrete classes with handle and UUID in the constructor; typed as Any
# so the same source type-checks against bleak 0.22, whose constructors differ.
_service_class: Any = BleakGATTService
_characteristic_class: Any = BleakGATTCharacteristic
_descriptor_class: Any = BleakGATTDescriptor


class _SimService(BleakGATTService):
    """bleak 0.22's abstract service, made concrete (bleak 2.x's class is used as is)."""

    def __init__(self, handle: int, uuid: str) -> None:
        super().__init__(None)
        self._sim_handle = handle
        self._sim_uuid = uuid
        self._sim_characteristics: list[BleakGATTCharacteristic] = []

    @property
    def handle(self) -> int:
        return self._sim_handle

    @property
    def uuid(self) -> str:
        return self._sim_uuid

    @property
    def characteristics(self) -> list[BleakGATTCharacteristic]:
        return self._sim_characteristics

    def add_characteristic(self, characteristic: BleakGATTCharacteristic) -> None:
        self._sim_characteristics.append(characteristic)


class _SimCharacteristic(BleakGATTCharacteristic):
    """bleak 0.22's abstract characteristic, made concrete."""

    def __init__(self, service: BleakGATTService, handle: int, uuid: str, properties: list[str]) -> None:
        super().__init__(None, MAX_CHUNK)  # type: ignore[arg-type]  # bleak accepts an int here
        self._sim_service = service
        self._sim_handle = handle
        self._sim_uuid = uuid
        self._sim_properties = properties
        self._sim_descriptors: list[BleakGATTDescriptor] = []

    @property
    def service_uuid(self) -> str:
        return self._sim_service.uuid

    @property
    def service_handle(self) -> int:
        return self._sim_service.handle

    @property
    def handle(self) -> int:
        return self._sim_handle

    @property
    def uuid(self) -> str:
        return self._sim_uuid

    @property
    def properties(self) -> list[str]:
        return self._sim_properties

    @property
    def descriptors(self) -> list[BleakGATTDescriptor]:
        return self._sim_descriptors

    def get_descriptor(self, specifier: int | str | uuid_module.UUID) -> BleakGATTDescriptor | None:
        for descriptor in self._sim_descriptors:
            if descriptor.handle == specifier or descriptor.uuid == str(specifier).lower():
                return descriptor
        return None

    def add_descriptor(self, descriptor: BleakGATTDescriptor) -> None:
        self._sim_descriptors.append(descriptor)


class _SimDescriptor(BleakGATTDescriptor):
    """bleak 0.22's abstract descriptor, made concrete."""

    def __init__(self, characteristic: BleakGATTCharacteristic, handle: int, uuid: str) -> None:
        super().__init__(None)
        self._sim_characteristic = characteristic
        self._sim_handle = handle
        self._sim_uuid = uuid

    @property
    def characteristic_uuid(self) -> str:
        return self._sim_characteristic.uuid

    @property
    def characteristic_handle(self) -> int:
        return self._sim_characteristic.handle

    @property
    def uuid(self) -> str:
        return self._sim_uuid

    @property
    def handle(self) -> int:
        return self._sim_handle


def build_services(layout: GattLayout = GATT_LAYOUT) -> BleakGATTServiceCollection:
    """Build a GATT table (the BB-8's unless another toy's ``layout`` is given) as a real bleak service collection."""
    collection = BleakGATTServiceCollection()
    for service_uuid, service_handle, characteristics in layout:
        service: BleakGATTService
        if _ABSTRACT_GATT:
            service = _SimService(service_handle, service_uuid)
        else:  # bleak >= 1.0: concrete classes with the handle and UUID in the constructor
            service = _service_class(None, service_handle, service_uuid)
        collection.add_service(service)
        for char_uuid, char_handle, properties, has_cccd in characteristics:
            characteristic: BleakGATTCharacteristic
            if _ABSTRACT_GATT:
                characteristic = _SimCharacteristic(service, char_handle, char_uuid, list(properties))
            else:
                characteristic = _characteristic_class(
                    None, char_handle, char_uuid, list(properties), lambda: MAX_CHUNK, service
                )
            collection.add_characteristic(characteristic)
            if has_cccd:
                descriptor: BleakGATTDescriptor
                if _ABSTRACT_GATT:
                    descriptor = _SimDescriptor(characteristic, char_handle + 1, CCCD_UUID)
                else:
                    descriptor = _descriptor_class(None, char_handle + 1, CCCD_UUID, characteristic)
                collection.add_descriptor(descriptor)
    return collection


def _layout_of(toy: SimToy) -> GattLayout:
    """Return the toy's own GATT table: a v2 toy carries its model's, a v1 toy serves the BB-8's."""
    return toy.gatt_layout if isinstance(toy, SimulatedV2Toy) else GATT_LAYOUT


class _BackendLink:
    """The toy's view of one connection through a backend; inert once that connection ends."""

    __slots__ = ("_backend", "active")

    def __init__(self, backend: SimBleakBackend) -> None:
        self._backend = backend
        self.active = True

    def deliver(self, char_uuid: str, chunk: bytes, delay: float) -> None:
        if self.active:
            self._backend._enqueue(delay, functools.partial(self._backend._deliver, self, char_uuid, chunk))

    def lost(self, reason: str) -> None:
        if self.active:
            self._backend._enqueue(0.0, functools.partial(self._backend._toy_dropped, self, reason))


class SimBleakBackend(BaseBleakClient):
    """bleak client backend talking to the simulated toy (a BB-8 or a v2 toy) registered at the device's address."""

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        """Build as habluetooth and ``BleakClient`` do; connecting happens in :meth:`connect`."""
        kwargs.setdefault("timeout", 10.0)  # bleak 2.x's base class reads kwargs["timeout"]
        super().__init__(address_or_ble_device, **kwargs)
        self._device_name = (
            address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._toy: SimToy | None = None
        self._link: _BackendLink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._callbacks: dict[str, NotifyCallback] = {}
        self._cccd: dict[int, bytes] = {}
        self._outbox: deque[tuple[float, Callable[[], None]]] = deque()
        self._pump_handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self.notifications_delivered = 0
        self.notifications_unsubscribed = 0

    def __repr__(self) -> str:
        """Address and link state."""
        return f"<SimBleakBackend {self.address} connected={self.is_connected}>"

    # -- properties --------------------------------------------------------------------------

    @property
    def toy(self) -> SimToy | None:
        """The toy this backend is connected to (None before connect)."""
        return self._toy

    @property
    def name(self) -> str:
        """The toy's name (bleak 2.x asks backends for it)."""
        if self._toy is not None:
            return self._toy.name
        toy = registry.get(self.address)
        return toy.name if toy is not None else (self._device_name or self.address)

    @property
    def mtu_size(self) -> int:
        """The ATT MTU of a BLE 4.0 link that never negotiated a bigger one."""
        return DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        """Whether the link is up as far as this client has been told."""
        return self._link is not None

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """The UUIDs of the characteristics whose notifications this backend hands to a callback.

        A read-only view for leak checks: a client that subscribes once per link has at most one.
        """
        return tuple(self._callbacks)

    @property
    def holds_resources(self) -> bool:
        """Whether this backend still has a link, a notification callback or a pending delivery."""
        return self._link is not None or bool(self._callbacks) or self._pump_handle is not None

    # -- connection --------------------------------------------------------------------------

    async def connect(self, pair: bool = False, **kwargs: Any) -> bool:
        """Connect to the registered toy, honouring the fault plan; ``pair`` is ignored (no pairing)."""
        if self._link is not None:
            return True
        toy = registry.get(self.address)
        if toy is None:
            raise BleakDeviceNotFoundError(self.address, f"Device with address {self.address} was not found")
        if (unexpected := toy.faults.take_unexpected_connect_error()) is not None:
            raise unexpected
        timeout = float(kwargs.get("timeout", self._timeout))
        latency = toy.faults.connect_latency
        if latency > 0:
            await asyncio.sleep(min(latency, timeout))
            if latency > timeout:
                raise TimeoutError(f"Timed out after {timeout} s connecting to simulated BB-8 {self.address}")
        self._loop = asyncio.get_running_loop()
        link = _BackendLink(self)
        toy.open_link(link)
        self._toy = toy
        self._link = link
        self.services = build_services(_layout_of(toy))
        return True

    async def disconnect(self) -> bool:
        """Disconnect; idempotent. The disconnected callback fires, as BlueZ's backend does."""
        link = self._link
        if link is None:
            return True
        toy = self._toy
        self._teardown()
        if toy is not None:
            toy.close_link("central disconnected", link=link)
        self._fire_disconnected()
        return True

    async def pair(self, *args: Any, **kwargs: Any) -> bool:
        """Accept and do nothing: the BB-8 needs no pairing."""
        return True

    async def unpair(self) -> bool:
        """Nothing to unpair."""
        return True

    async def clear_cache(self) -> bool:
        """No GATT cache to clear (Home Assistant's wrapper asks backends that have one)."""
        return True

    async def get_services(self, **kwargs: Any) -> BleakGATTServiceCollection:
        """Return the toy's GATT table (bleak 0.22's abstract method; bleak 2.x reads ``services``)."""
        if self.services is None:
            if self._link is None or self._toy is None:
                raise BleakError("Not connected")
            self.services = build_services(_layout_of(self._toy))
        return self.services

    # -- I/O ---------------------------------------------------------------------------------

    async def read_gatt_char(
        self, char_specifier: BleakGATTCharacteristic | int | str | uuid_module.UUID, **kwargs: Any
    ) -> bytearray:
        """Read a characteristic (the radio ones echo what this connection wrote)."""
        characteristic = self._resolve(char_specifier)
        if "read" not in characteristic.properties:
            raise BleakError(f"Characteristic {characteristic.uuid} does not support read")
        return bytearray(self._require_toy().read(characteristic.uuid))

    async def read_gatt_descriptor(self, handle: int | BleakGATTDescriptor, **kwargs: Any) -> bytearray:
        """Read a descriptor: only the response characteristic's CCCD exists."""
        self._require_toy()
        handle_number = self._descriptor_handle(handle)
        return bytearray(self._cccd.get(handle_number, b"\x00\x00"))

    async def write_gatt_char(
        self,
        characteristic: BleakGATTCharacteristic | int | str | uuid_module.UUID,
        data: Any,
        response: bool = True,
    ) -> None:
        """Hand the bytes to the toy, after the fault plan's write latency."""
        resolved = self._resolve(characteristic)
        properties = resolved.properties
        if "write" not in properties and "write-without-response" not in properties:
            raise BleakError(f"Characteristic {resolved.uuid} does not support write")
        toy = self._require_toy()
        if toy.faults.write_latency > 0:
            await asyncio.sleep(toy.faults.write_latency)
            toy = self._require_toy()
        assert self._loop is not None
        toy.write(resolved.uuid, bytes(data), now=self._loop.time())

    async def write_gatt_descriptor(self, handle: int | BleakGATTDescriptor, data: Any) -> None:
        """Write a descriptor (the CCCD value is stored and read back; it does not subscribe)."""
        self._require_toy()
        self._cccd[self._descriptor_handle(handle)] = bytes(data)

    async def start_notify(
        self,
        characteristic: BleakGATTCharacteristic | int | str | uuid_module.UUID,
        callback: NotifyCallback,
        **kwargs: Any,
    ) -> None:
        """Subscribe: ``callback(data: bytearray)`` gets each notification (BleakClient wraps it)."""
        resolved = self._resolve(characteristic)
        if "notify" not in resolved.properties and "indicate" not in resolved.properties:
            raise BleakError(f"Characteristic {resolved.uuid} does not support notify")
        self._require_toy()
        self._callbacks[resolved.uuid] = callback
        for descriptor in resolved.descriptors:
            self._cccd[descriptor.handle] = b"\x01\x00"

    async def stop_notify(
        self, char_specifier: BleakGATTCharacteristic | int | str | uuid_module.UUID
    ) -> None:
        """Unsubscribe."""
        resolved = self._resolve(char_specifier)
        self._require_toy()
        self._callbacks.pop(resolved.uuid, None)
        for descriptor in resolved.descriptors:
            self._cccd[descriptor.handle] = b"\x00\x00"

    # -- helpers -----------------------------------------------------------------------------

    def _require_toy(self) -> SimToy:
        if self._link is None or self._toy is None:
            raise BleakError("Not connected")
        return self._toy

    def _resolve(
        self, specifier: BleakGATTCharacteristic | int | str | uuid_module.UUID
    ) -> BleakGATTCharacteristic:
        if isinstance(specifier, BleakGATTCharacteristic):
            return specifier
        if self.services is None:
            raise BleakError("Service Discovery has not been performed yet")
        characteristic = self.services.get_characteristic(specifier)
        if characteristic is None:
            raise BleakCharacteristicNotFoundError(specifier)
        return characteristic

    def _descriptor_handle(self, handle: int | BleakGATTDescriptor) -> int:
        number = handle if isinstance(handle, int) else handle.handle
        if self.services is None or self.services.get_descriptor(number) is None:
            raise BleakError(f"Descriptor {number} was not found")
        return number

    def _enqueue(self, delay: float, action: Callable[[], None]) -> None:
        """Queue an action for the event loop, keeping the toy's sending order."""
        loop = self._loop
        if loop is None:
            return
        due = loop.time() + max(0.0, delay)
        if self._outbox:
            due = max(due, self._outbox[-1][0])
        self._outbox.append((due, action))
        self._schedule_pump()

    def _schedule_pump(self) -> None:
        if self._pump_handle is not None or not self._outbox or self._loop is None:
            return
        due = self._outbox[0][0]
        if due <= self._loop.time():
            self._pump_handle = self._loop.call_soon(self._pump)
        else:
            self._pump_handle = self._loop.call_at(due, self._pump)

    def _pump(self) -> None:
        self._pump_handle = None
        assert self._loop is not None
        now = self._loop.time()
        while self._outbox and self._outbox[0][0] <= now:
            _, action = self._outbox.popleft()
            action()
        self._schedule_pump()

    def _deliver(self, link: _BackendLink, char_uuid: str, chunk: bytes) -> None:
        if link is not self._link:
            return
        callback = self._callbacks.get(char_uuid)
        if callback is None:
            self.notifications_unsubscribed += 1
            return
        self.notifications_delivered += 1
        try:
            callback(bytearray(chunk))  # a fresh buffer each time: receivers may consume it
        except Exception:
            _LOGGER.exception("%s: notification callback failed", self.address)

    def _toy_dropped(self, link: _BackendLink, reason: str) -> None:
        if link is not self._link:
            return
        _LOGGER.debug("%s: link dropped by the toy (%s)", self.address, reason)
        self._teardown()
        self._fire_disconnected()

    def _teardown(self) -> None:
        if self._link is not None:
            self._link.active = False
        self._link = None
        self._callbacks.clear()
        self._cccd.clear()
        self._outbox.clear()
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None

    def _fire_disconnected(self) -> None:
        callback = self._disconnected_callback
        if callback is None:
            return
        try:
            callback()
        except Exception:
            _LOGGER.exception("%s: disconnected callback failed", self.address)
