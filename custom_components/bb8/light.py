"""The main LED (RGB) and the tail light (brightness) as lights."""

from __future__ import annotations

from typing import Any

from homeassistant.components.light import (
    ATTR_BRIGHTNESS,
    ATTR_RGB_COLOR,
    LightEntity,
    LightEntityDescription,
)
from homeassistant.components.light.const import ColorMode
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BB8ConfigEntry, BB8Coordinator
from .entity import BB8Entity

# Commands to one toy are serialised by its session's paced queue anyway.
PARALLEL_UPDATES = 0

MAIN_LED = LightEntityDescription(key="main_led", translation_key="main_led")
TAIL_LIGHT = LightEntityDescription(key="tail_light", translation_key="tail_light")

DEFAULT_COLOR = (255, 255, 255)


async def async_setup_entry(
    hass: HomeAssistant, entry: BB8ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the toy's two lights."""
    coordinator = entry.runtime_data
    async_add_entities([BB8MainLight(coordinator), BB8TailLight(coordinator)])


class BB8MainLight(BB8Entity, LightEntity):
    """The body's RGB LED. The toy has no brightness of its own: it scales the colour.

    State is what the session last asked for (the toy cannot be asked its colour); the session
    re-applies it after every reconnect or wake, so it is also what the toy shows.
    """

    _attr_color_mode = ColorMode.RGB
    _attr_supported_color_modes = {ColorMode.RGB}

    def __init__(self, coordinator: BB8Coordinator) -> None:
        """Start with full white as what to show when turned on without a colour or brightness."""
        super().__init__(coordinator, MAIN_LED)
        self._last_color: tuple[int, int, int] = DEFAULT_COLOR
        self._last_brightness = 255
        self._async_update_attrs()

    async def async_added_to_hass(self) -> None:
        """Follow the session's colour wish (set here, by an action, or withdrawn)."""
        await super().async_added_to_hass()
        await self._async_follow_wish("main_led")

    @callback
    def _async_update_attrs(self) -> None:
        wish = self.coordinator.session.desired.main_led
        if wish is None or max(wish) == 0:
            self._attr_is_on = False if wish is not None else None
            self._attr_brightness = None
            self._attr_rgb_color = self._last_color
            return
        peak = max(wish)
        self._attr_is_on = True
        self._attr_brightness = self._last_brightness = peak
        self._last_color = (
            round(wish[0] * 255 / peak),
            round(wish[1] * 255 / peak),
            round(wish[2] * 255 / peak),
        )
        self._attr_rgb_color = self._last_color

    @callback
    def _handle_coordinator_update(self) -> None:
        self._async_update_attrs()
        super()._handle_coordinator_update()

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Show a colour at a brightness (the last ones, kept while off, when not given)."""
        color: tuple[int, int, int] = kwargs.get(ATTR_RGB_COLOR, self._last_color)
        brightness: int = kwargs.get(ATTR_BRIGHTNESS, self._last_brightness)
        peak = max(color) or 255
        scaled = tuple(round(channel * brightness / peak) for channel in color)
        if ATTR_RGB_COLOR in kwargs and max(color) > 0:
            self._last_color = color
        # The state is written by the wish listener as soon as the session records the wish.
        await self._run(self.coordinator.session.set_main_led(scaled[0], scaled[1], scaled[2]))

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn the LED off (black), keeping colour and brightness for the next turn on."""
        await self._run(self.coordinator.session.set_main_led(0, 0, 0))


class BB8TailLight(BB8Entity, LightEntity):
    """The blue tail (aiming) light, which only has a brightness."""

    _attr_color_mode = ColorMode.BRIGHTNESS
    _attr_supported_color_modes = {ColorMode.BRIGHTNESS}

    def __init__(self, coordinator: BB8Coordinator) -> None:
        """Bind to the toy; turned on without a brightness, it starts at full."""
        super().__init__(coordinator, TAIL_LIGHT)
        self._last_brightness = 255
        self._async_update_attrs()

    async def async_added_to_hass(self) -> None:
        """Follow the session's tail light wish."""
        await super().async_added_to_hass()
        await self._async_follow_wish("back_led")

    @callback
    def _async_update_attrs(self) -> None:
        wish = self.coordinator.session.desired.back_led
        self._attr_is_on = None if wish is None else wish > 0
        self._attr_brightness = wish or None
        if wish:
            self._last_brightness = wish

    @callback
    def _handle_coordinator_update(self) -> None:
        self._async_update_attrs()
        super()._handle_coordinator_update()

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Light the tail at a brightness (the last one, kept while off, when not given)."""
        brightness: int = kwargs.get(ATTR_BRIGHTNESS, self._last_brightness)
        await self._run(self.coordinator.session.set_back_led(brightness))

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn the tail light off."""
        await self._run(self.coordinator.session.set_back_led(0))
