"""Stabilization (the control system that keeps BB-8 upright) as a switch."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BB8ConfigEntry, BB8Coordinator
from .entity import BB8Entity

PARALLEL_UPDATES = 0

STABILIZATION = SwitchEntityDescription(
    key="stabilization", translation_key="stabilization", entity_category=EntityCategory.CONFIG
)


async def async_setup_entry(
    hass: HomeAssistant, entry: BB8ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the stabilization switch."""
    async_add_entities([BB8StabilizationSwitch(entry.runtime_data)])


class BB8StabilizationSwitch(BB8Entity, SwitchEntity):
    """On by default on the toy; turning it off lets the body be turned by hand (for aiming)."""

    def __init__(self, coordinator: BB8Coordinator) -> None:
        """Bind to the toy."""
        super().__init__(coordinator, STABILIZATION)

    async def async_added_to_hass(self) -> None:
        """Follow the session's stabilization wish."""
        await super().async_added_to_hass()
        await self._async_follow_wish("stabilization")

    @property
    def is_on(self) -> bool:
        """The last wish, or the toy's power-on default (on) before any."""
        wish = self.coordinator.session.desired.stabilization
        return True if wish is None else wish

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Turn stabilization on."""
        await self._run(self.coordinator.session.set_stabilization(True))

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn stabilization off."""
        await self._run(self.coordinator.session.set_stabilization(False))
