"""Stabilization (the control system that keeps the toy upright) as a switch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BB8ConfigEntry
from .entity import BB8SettingEntity, restored_bool
from .sphero.catalog import Feature

PARALLEL_UPDATES = 0

STABILIZATION = SwitchEntityDescription(
    key="stabilization", translation_key="stabilization", entity_category=EntityCategory.CONFIG
)


async def async_setup_entry(
    hass: HomeAssistant, entry: BB8ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the stabilization switch, where the model's stabilization is driven."""
    if entry.runtime_data.model.has(Feature.STABILIZATION):
        async_add_entities([BB8StabilizationSwitch(entry.runtime_data, STABILIZATION)])


class BB8StabilizationSwitch(BB8SettingEntity, SwitchEntity):
    """On by default on the toy; turning it off lets the body be turned by hand (for aiming)."""

    _setting = "stabilization"

    def _restore_data(self) -> dict[str, Any]:
        """Keep on/off."""
        return {"is_on": self.is_on}

    def _setting_from_restored(self, data: Mapping[str, Any] | None) -> bool:
        """Take back on/off; a toy never set gets the toy's own power-on default, on."""
        return True if data is None else restored_bool(data["is_on"])

    @property
    def is_on(self) -> bool:
        """The session's setting (restored or default from the moment the switch is added)."""
        setting = self.coordinator.session.toy.requested.stabilization
        return True if setting is None else setting

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Turn stabilization on."""
        await self._run(self.coordinator.session.set_stabilization(True))

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn stabilization off."""
        await self._run(self.coordinator.session.set_stabilization(False))
