"""One-shot actions as buttons: wake, sleep, stop, heading reset, head centring (BB-8), position reset."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BB8ConfigEntry, BB8Coordinator
from .entity import BB8Entity
from .sphero.catalog import Feature

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class BB8ButtonDescription(ButtonEntityDescription):
    """A button and the call it makes."""

    press: Callable[[BB8Coordinator], Awaitable[None]]
    needs: Feature | None = None
    """What the toy must have for the button to exist (the head for Center head)."""


BUTTONS: tuple[BB8ButtonDescription, ...] = (
    BB8ButtonDescription(key="wake", translation_key="wake", press=lambda c: c.session.wake()),
    BB8ButtonDescription(key="sleep", translation_key="sleep", press=lambda c: c.session.sleep()),
    BB8ButtonDescription(key="stop", translation_key="stop", press=lambda c: c.session.stop()),
    BB8ButtonDescription(
        key="reset_heading",
        translation_key="reset_heading",
        press=lambda c: c.session.set_heading(0),
        needs=Feature.HEADING,
    ),
    BB8ButtonDescription(
        key="center_head",
        translation_key="center_head",
        press=lambda c: c.session.self_level(),
        needs=Feature.HEAD,
    ),
    BB8ButtonDescription(
        key="reset_position",
        translation_key="reset_position",
        press=lambda c: c.session.reset_position(),
        needs=Feature.MOTION,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant, entry: BB8ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the buttons the toy's model has a use for."""
    model = entry.runtime_data.model
    async_add_entities(
        BB8Button(entry.runtime_data, description)
        for description in BUTTONS
        if description.needs is None or model.has(description.needs)
    )


class BB8Button(BB8Entity, ButtonEntity):
    """Press to run one session call."""

    entity_description: BB8ButtonDescription

    async def async_press(self) -> None:
        """Run the call (a stop also supersedes a timed roll still waiting to stop)."""
        await self._run(self.entity_description.press(self.coordinator))
