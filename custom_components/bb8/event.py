"""Collisions, a droid's finished animations and a BOLT's matrix text ending, as event entities."""

from __future__ import annotations

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BB8ConfigEntry, BB8Coordinator
from .entity import BB8Entity
from .sphero.catalog import Feature
from .sphero.decoders import Collision
from .sphero.droid_names import animations_for

PARALLEL_UPDATES = 0

EVENT_COLLISION = "collision"

COLLISION = EventEntityDescription(
    key="collision", translation_key="collision", event_types=[EVENT_COLLISION]
)
EVENT_ANIMATION_COMPLETE = "animation_complete"
ANIMATION = EventEntityDescription(
    key="animation", translation_key="animation", event_types=[EVENT_ANIMATION_COMPLETE]
)
EVENT_TEXT_DONE = "text_done"
MATRIX_TEXT = EventEntityDescription(
    key="matrix_text", translation_key="matrix_text", event_types=[EVENT_TEXT_DONE]
)


async def async_setup_entry(
    hass: HomeAssistant, entry: BB8ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the collision event entity, a droid's animation one and a BOLT's matrix text one."""
    coordinator = entry.runtime_data
    events: list[EventEntity] = []
    if coordinator.model.has(Feature.COLLISIONS):
        events.append(BB8CollisionEvent(coordinator, COLLISION))
    if coordinator.model.has(Feature.ANIMATIONS):
        events.append(BB8AnimationEvent(coordinator, ANIMATION))
    if coordinator.model.has(Feature.MATRIX):
        events.append(BB8MatrixTextEvent(coordinator, MATRIX_TEXT))
    async_add_entities(events)


class BB8CollisionEvent(BB8Entity, EventEntity):
    """Fires ``collision`` with the impact's intensity and axis data."""

    async def async_added_to_hass(self) -> None:
        """Subscribe to the session's collision push; unsubscribed on removal."""
        await super().async_added_to_hass()
        self.async_on_remove(self.coordinator.session.toy.add_collision_listener(self._async_collision))

    @callback
    def _async_collision(self, collision: Collision) -> None:
        self._trigger_event(
            EVENT_COLLISION,
            {
                "intensity": collision.intensity,
                "x_axis": collision.x_axis,
                "y_axis": collision.y_axis,
                "magnitude_x": collision.magnitude_x,
                "magnitude_y": collision.magnitude_y,
                "acceleration_x": round(collision.acceleration_x, 3),
                "acceleration_y": round(collision.acceleration_y, 3),
                "acceleration_z": round(collision.acceleration_z, 3),
                "speed": collision.speed,
            },
        )
        self.async_write_ha_state()


class BB8AnimationEvent(BB8Entity, EventEntity):
    """Fires ``animation_complete`` when the toy says an animation ended.

    ``animation`` is its name (the animation select's option), or its number where the table has
    no name for it (an animation the app started), or None where the toy did not say which. The
    name is the toy's model's own: 26 is ``wwm_happy`` on a BB-9E, ``idle_2`` on an R2 unit.
    """

    def __init__(self, coordinator: BB8Coordinator, description: EventEntityDescription) -> None:
        """Name the toy's numbers by its own model's table."""
        super().__init__(coordinator, description)
        self._names = {number: name for name, number in animations_for(coordinator.model.key).items()}

    async def async_added_to_hass(self) -> None:
        """Subscribe to the session's animation push; unsubscribed on removal."""
        await super().async_added_to_hass()
        self.async_on_remove(self.coordinator.session.toy.add_animation_listener(self._async_done))

    @callback
    def _async_done(self, animation: int | None) -> None:
        name = None if animation is None else self._names.get(animation, animation)
        self._trigger_event(EVENT_ANIMATION_COMPLETE, {"animation": name})
        self.async_write_ha_state()


class BB8MatrixTextEvent(BB8Entity, EventEntity):
    """Fires ``text_done`` when a BOLT says the text its matrix scrolled (not repeating) has ended."""

    async def async_added_to_hass(self) -> None:
        """Subscribe to the session's text-done push; unsubscribed on removal."""
        await super().async_added_to_hass()
        self.async_on_remove(self.coordinator.session.toy.add_text_done_listener(self._async_text_done))

    @callback
    def _async_text_done(self) -> None:
        self._trigger_event(EVENT_TEXT_DONE)
        self.async_write_ha_state()
