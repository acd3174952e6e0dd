"""An R2 unit's stance, animations and sounds as selects.

Stance is a state the toy holds (three legs, two, or waddling); choosing an animation or a sound
plays it, and the select then shows the one last played. Options are the names of
``sphero.droid_names`` (spherov2's), so an automation names the same thing the device page shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BB8ConfigEntry, BB8Coordinator
from .entity import BB8Entity, run_translated
from .sphero import commands_v2 as v2
from .sphero.catalog import Feature
from .sphero.commands import Command
from .sphero.droid_names import ANIMATIONS, SOUNDS

PARALLEL_UPDATES = 0

STANCES: dict[str, int] = {
    "tripod": v2.Stance.TRIPOD,
    "bipod": v2.Stance.BIPOD,
    "waddle": v2.Stance.WADDLE,
}
"""The stances a person picks, by option (``Stance.STOP`` is no stance: it ends a waddle)."""


@dataclass(frozen=True, kw_only=True)
class BB8SelectDescription(SelectEntityDescription):
    """A select whose options name numbers, and the command that carries one to the toy."""

    feature: Feature
    numbers: Mapping[str, int]
    command: Callable[[int], Command]


SELECTS = (
    BB8SelectDescription(
        key="stance",
        translation_key="stance",
        feature=Feature.STANCE,
        numbers=STANCES,
        command=lambda stance: v2.set_stance(v2.Stance(stance)),
        options=list(STANCES),
    ),
    BB8SelectDescription(
        key="animation",
        translation_key="animation",
        feature=Feature.ANIMATIONS,
        numbers=ANIMATIONS,
        command=v2.play_animation,
        options=list(ANIMATIONS),
    ),
    BB8SelectDescription(
        key="sound",
        translation_key="sound",
        feature=Feature.SOUNDS,
        numbers=SOUNDS,
        command=v2.play_sound,
        options=list(SOUNDS),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant, entry: BB8ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add each select the toy's model has a part for."""
    coordinator = entry.runtime_data
    async_add_entities(
        BB8Select(coordinator, description)
        for description in SELECTS
        if coordinator.model.has(description.feature)
    )


async def async_select(coordinator: BB8Coordinator, description: BB8SelectDescription, option: str) -> None:
    """Send ``option``'s command (the select's, and the matching ``bb8.play_*`` action's)."""
    session = coordinator.session
    await run_translated(session.send(description.command(description.numbers[option])), session.name)


class BB8Select(BB8Entity, SelectEntity):
    """Shows the option last carried out from this select in this run.

    Unknown before: the toy cannot be asked its stance, and an animation or sound is over in seconds.
    """

    entity_description: BB8SelectDescription
    _attr_current_option: str | None = None

    async def async_select_option(self, option: str) -> None:
        """Carry ``option`` out; the state follows once the toy answered."""
        await async_select(self.coordinator, self.entity_description, option)
        self._attr_current_option = option
        self.async_write_ha_state()
