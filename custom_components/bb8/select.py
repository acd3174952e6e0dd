"""An R2 unit's stance, animations and sounds, and a BB-9E's animations, as selects.

Stance is a state the toy holds (three legs, two, or waddling); choosing an animation or a sound
plays it, and the select then shows the one last played. Options are the names of
``sphero.droid_names`` (spherov2's), so an automation names the same thing the device page shows.
Each model has its own options: a BB-9E's animations are other names and other numbers than an
R2 unit's, so the select lists the toy's own and a name is turned into its model's number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .coordinator import BB8ConfigEntry, BB8Coordinator
from .entity import BB8Entity, run_translated
from .sphero import commands_v2 as v2
from .sphero.catalog import CATALOG, CatalogEntry, Feature
from .sphero.commands import Command
from .sphero.droid_names import ANIMATION_NAMES, SOUNDS, animations_for

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
    numbers: Callable[[CatalogEntry], Mapping[str, int]]
    """The options a model has (the select's, in order) and the number each one names there."""
    names: tuple[str, ...]
    """Every option of any model: what the matching ``bb8.*`` action lets through before it knows
    the toy, and what services.yaml offers."""
    command: Callable[[int], Command]


SELECTS = (
    BB8SelectDescription(
        key="stance",
        translation_key="stance",
        feature=Feature.STANCE,
        numbers=lambda _model: STANCES,
        names=tuple(STANCES),
        command=lambda stance: v2.set_stance(v2.Stance(stance)),
    ),
    BB8SelectDescription(
        key="animation",
        translation_key="animation",
        feature=Feature.ANIMATIONS,
        numbers=lambda model: animations_for(model.key),
        names=ANIMATION_NAMES,
        command=v2.play_animation,
    ),
    BB8SelectDescription(
        key="sound",
        translation_key="sound",
        feature=Feature.SOUNDS,
        numbers=lambda _model: SOUNDS,
        names=tuple(SOUNDS),
        command=v2.play_sound,
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
    """Send ``option``'s command (the select's, and the matching ``bb8.play_*`` action's).

    The number is the toy's model's own. A name only another model has (an R2 unit's animation
    asked of a BB-9E) is refused in words before anything is sent: the select cannot offer one,
    but the action, which checks names before it knows the toy, can be asked for it.
    """
    session = coordinator.session
    numbers = description.numbers(coordinator.model)
    if option not in numbers:
        having = [
            model.name
            for model in CATALOG
            if model.has(description.feature) and option in description.numbers(model)
        ]
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="option_not_for_model",
            translation_placeholders={
                "name": session.name,
                "model": coordinator.model.name,
                "option": option,
                "models": names_joined(having),
            },
        )
    await run_translated(session.send(description.command(numbers[option])), session.name)


def names_joined(names: list[str]) -> str:
    """Join names as a sentence does: "A, B and C"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


class BB8Select(BB8Entity, SelectEntity):
    """Shows the option last carried out from this select in this run.

    Unknown before: the toy cannot be asked its stance, and an animation or sound is over in seconds.
    """

    entity_description: BB8SelectDescription
    _attr_current_option: str | None = None

    def __init__(self, coordinator: BB8Coordinator, description: BB8SelectDescription) -> None:
        """Offer the options of the toy's own model (a BB-9E's animations are not an R2's)."""
        super().__init__(coordinator, description)
        self._attr_options = list(description.numbers(coordinator.model))

    async def async_select_option(self, option: str) -> None:
        """Carry ``option`` out; the state follows once the toy answered."""
        await async_select(self.coordinator, self.entity_description, option)
        self._attr_current_option = option
        self.async_write_ha_state()
