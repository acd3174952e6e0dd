"""The shared base entity: one device per toy, availability by link or advertisement."""

from __future__ import annotations

from collections.abc import Awaitable

from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.device_registry import CONNECTION_BLUETOOTH, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MANUFACTURER, MODEL
from .coordinator import BB8Coordinator
from .sphero.errors import (
    BB8ConnectionError,
    BB8Error,
    CommandRejectedError,
    CommandTimeoutError,
    NotConnectedError,
    SessionClosedError,
)
from .sphero.policy import FailureReason


class BB8Entity(CoordinatorEntity[BB8Coordinator]):
    """Base for every BB-8 entity: naming, device, availability, error translation."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: BB8Coordinator, description: EntityDescription) -> None:
        """Bind the entity to its toy; the unique id is the address plus the entity's key."""
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.address}_{description.key}"
        self._attr_device_info = DeviceInfo(
            connections={(CONNECTION_BLUETOOTH, coordinator.address)},
            name=coordinator.session.name,
            manufacturer=MANUFACTURER,
            model=MODEL,
            sw_version=(coordinator.session.versions.firmware if coordinator.session.versions else None),
        )

    @property
    def available(self) -> bool:
        """Follow the link or recent advertisements, not the last poll's outcome."""
        return self.coordinator.available

    async def _async_follow_wish(self, slot: str) -> None:
        """Write this entity's state whenever the session's wish for ``slot`` changes.

        Wishes are pushed only to the entities that show them (not through the coordinator,
        which would rewrite every entity of the toy for each colour change).
        """

        @callback
        def _changed(changed_slot: str) -> None:
            if changed_slot == slot:
                self._handle_coordinator_update()

        self.async_on_remove(self.coordinator.session.add_wish_listener(_changed))

    async def _run(self, action: Awaitable[object]) -> None:
        """Await a session call, turning its errors into messages a person can act on."""
        await run_translated(action, self.coordinator.session.name)


async def run_translated(action: Awaitable[object], name: str) -> None:
    """Await ``action``; map the session's typed errors to translated Home Assistant errors."""
    try:
        await action
    except SessionClosedError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="session_closed",
            translation_placeholders={"name": name},
        ) from err
    except NotConnectedError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="not_connected",
            translation_placeholders={"name": name},
        ) from err
    except CommandTimeoutError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_timeout",
            translation_placeholders={"name": name, "command": err.command},
        ) from err
    except CommandRejectedError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_rejected",
            translation_placeholders={"name": name, "command": err.command, "code": f"0x{err.mrsp:02x}"},
        ) from err
    except BB8ConnectionError as err:
        if err.reason is FailureReason.OUT_OF_SLOTS:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="out_of_slots",
                translation_placeholders={"name": name},
            ) from err
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"name": name, "error": str(err)},
        ) from err
    except BB8Error as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"name": name, "error": str(err)},
        ) from err
