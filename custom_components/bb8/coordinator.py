"""The coordinator: owns one toy's session, polls its battery, pushes its notifications.

Like Home Assistant core's led_ble, the library object (``BB8Session``) owns the link and the
state; this class only schedules polls, maps the library's errors to ``UpdateFailed``, follows
advertisements (fresh ``BLEDevice`` and RSSI), decides availability and keeps what outlives a
restart (whether the toy sleeps) in Home Assistant's storage.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
import logging
from typing import Any, Final

from homeassistant.components import bluetooth
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import DOMAIN
from .sphero.catalog import CatalogEntry
from .sphero.errors import BB8Error, NotConnectedError, SessionClosedError
from .sphero.session import BB8Session

_LOGGER = logging.getLogger(__name__)

type BB8ConfigEntry = ConfigEntry[BB8Coordinator]

STORAGE_VERSION: Final = 1
SAVE_DELAY: Final = 1.0
"""Seconds before a change of the toy's sleep is written (unload and stop write at once)."""


def storage_key(entry_id: str) -> str:
    """Return the storage key of one toy's entry (its file is ``.storage/bb8.<entry id>``)."""
    return f"{DOMAIN}.{entry_id}"


class BB8Coordinator(DataUpdateCoordinator[None]):
    """Schedules battery polls and relays the session's pushes to the entities."""

    config_entry: BB8ConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: BB8ConfigEntry,
        session: BB8Session,
        model: CatalogEntry,
        address: str,
        poll_interval: float,
        store: Store[dict[str, Any]],
    ) -> None:
        """Keep the session; polling starts with the first refresh.

        ``store`` keeps whether the toy sleeps across reloads and restarts (sleep is the
        person's decision, or the toy's own, and only use undoes it) and the sleep time last
        written to the toy.
        """
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=session.name,
            update_interval=timedelta(seconds=poll_interval),
        )
        self.session = session
        self.model = model
        """The toy's model: which entities it gets, and its device page's model."""
        self.address = address
        # Always connected, nothing connects to a toy nobody hears (it costs a connect timeout
        # and a proxy's slot). Asked of the scanners themselves, each time: a scanner forgets a
        # silent device before the manager's periodic check calls it gone, and a connect then
        # fails as if every slot were taken.
        session.is_heard = lambda: bool(
            bluetooth.async_scanner_devices_by_address(hass, address, connectable=True)
        )
        self._store = store
        self._saved = self._stored()
        self._was_available = True
        self._firmware_recorded: str | None = None

    @property
    def available(self) -> bool:
        """Available while the link is up or Home Assistant's Bluetooth stack hears the toy.

        A connected toy may stop advertising, and Home Assistant's Bluetooth stack then calls
        it gone after about 195 s even though the link is fine; the link wins. Whether it is
        heard is asked of the stack each time rather than kept from callbacks: after the toy was
        called gone, the stack may file its return through one proxy without a callback and then
        count the other proxies' advertisements as unchanged, so a flag set by callbacks would
        keep a toy that every proxy hears unavailable (and actions would skip it).
        """
        return self.session.is_connected or bluetooth.async_address_present(
            self.hass, self.address, connectable=True
        )

    @property
    def rssi(self) -> int | None:
        """Signal strength of the toy's latest advertisement; None while none is recent.

        Read from Home Assistant's Bluetooth history, not kept from the advertisement callback:
        the callback only runs when the advertisement's content changes, and a toy's never
        does, so a kept value would stay at the first one seen.
        """
        info = bluetooth.async_last_service_info(self.hass, self.address, connectable=True)
        return None if info is None else info.rssi

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Follow advertisements and the session's pushes; returns the undo for unload."""
        undo: list[Callable[[], None]] = [
            bluetooth.async_register_callback(
                self.hass,
                self._async_advertisement,
                bluetooth.BluetoothCallbackMatcher(address=self.address, connectable=True),
                bluetooth.BluetoothScanningMode.PASSIVE,
            ),
            bluetooth.async_track_unavailable(
                self.hass, self._async_unavailable, self.address, connectable=True
            ),
            self.session.toy.add_update_listener(self._async_session_update),
        ]

        @callback
        def _stop() -> None:
            for cancel in undo:
                cancel()

        return _stop

    async def _async_update_data(self) -> None:
        """Poll the battery, only over a link that is already up.

        What is read is the toy's model's: a v1 toy's power state, a v2 toy's voltage, and its
        percentage or charger state where it reports one. All of it is the battery's, so a
        failure says "Reading the battery failed" whatever the model (``poll_failed``).

        Connecting wakes a sleeping toy, so the session's poll never connects: the battery is
        also read right after every connect (and a v1 toy pushes its power state every 10 s
        while connected). No link, or one that went away or was closed while the poll waited,
        leaves nothing to read and nothing wrong to report.
        """
        try:
            await self.session.poll()
        except (NotConnectedError, SessionClosedError) as err:
            _LOGGER.debug("%s: no battery read: %s", self.session.name, err)
        except BB8Error as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="poll_failed",
                translation_placeholders={"error": str(err)},
            ) from err

    @callback
    def _async_advertisement(
        self, service_info: bluetooth.BluetoothServiceInfoBleak, change: bluetooth.BluetoothChange
    ) -> None:
        """Keep the freshest path to the toy and its signal strength (no connection made)."""
        self.session.set_ble_device(service_info.device)
        self._async_session_update()

    @callback
    def _async_unavailable(self, service_info: bluetooth.BluetoothServiceInfoBleak) -> None:
        self._async_session_update()

    @callback
    def _async_session_update(self) -> None:
        """Push the session's news to the entities, logging availability once each way.

        An unreachable toy raises no repairs issue: a toy sleeps most of the day out of sight,
        there is nothing for a person to fix, and the entities' availability already shows it.
        """
        available = self.available
        if available != self._was_available:
            self._was_available = available
            if available:
                _LOGGER.info("%s is available again", self.session.name)
                # Reachable again after being gone (a proxy back, a toy back in range): an
                # always-connected reconnect need not wait out the rest of its backoff.
                self.session.reachable_again()
            else:
                _LOGGER.info("%s is unavailable (no link and no advertisement)", self.session.name)
        self._record_firmware()
        if (stored := self._stored()) != self._saved:
            self._saved = stored
            self._store.async_delay_save(self._stored, SAVE_DELAY)
        self.async_update_listeners()

    def _stored(self) -> dict[str, Any]:
        return {
            "asleep": self.session.toy.asleep,
            "inactivity_timeout_on_toy": self.session.toy.inactivity_timeout_on_toy,
        }

    def _record_firmware(self) -> None:
        """Put the firmware version the toy reported on its device page."""
        versions = self.session.toy.versions
        if versions is None or versions.firmware == self._firmware_recorded:
            return
        # The entry's own device: looked up through the entry, which every supported release
        # offers without a deprecation (a lookup by connection changed name in 2026.x).
        registry = dr.async_get(self.hass)
        for device in dr.async_entries_for_config_entry(registry, self.config_entry.entry_id):
            registry.async_update_device(device.id, sw_version=versions.firmware)
            self._firmware_recorded = versions.firmware

    async def async_close(self) -> None:
        """Close the session (unload and Home Assistant stop) and write what outlives it."""
        await self.session.close()
        await self._store.async_save(self._stored())
