"""Long-term statistics stored before the motion sensors had device classes (issue 21, item 13).

What the README and CHANGELOG say happens to them, checked against Home Assistant's own recorder:
the entities are registered and their statistics compiled as a development copy before this change
left them (no release had motion sensors before), then
the entry is set up with today's code and the next period is compiled.
"""

from __future__ import annotations

from datetime import timedelta

from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.components.sensor import ATTR_STATE_CLASS
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from bb8sim import SimulatedBB8

from .conftest import make_entry
from .test_stored_compat import (
    MOTION_SENSORS_BEFORE_DEVICE_CLASSES,
    register_motion_sensors_before_device_classes,
    set_up_with_motion,
)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_db_url: str, enable_custom_integrations: None) -> None:
    """Prepare the recorder's database before Home Assistant starts, as its fixtures require.

    This replaces conftest's fixture of the same name, which starts Home Assistant first.
    """


async def test_statistics_stored_before_device_classes_go_on_for_position_and_are_reported_for_speed_and_attitude(
    recorder_mock: Recorder, hass: HomeAssistant, hass_ws_client: WebSocketGenerator, toy: SimulatedBB8
) -> None:
    """What the README and CHANGELOG say happens to existing long-term statistics.

    Position keeps its unit (cm), so its statistics go on. Speed's were kept in cm/s, a unit
    Home Assistant cannot convert to mm/s: it stops compiling them and reports the unit change
    (Developer tools -> Statistics), where a person deletes the old ones. Pitch, roll and yaw
    keep degrees but their mean becomes circular: the same, with "mean type changed".
    """
    assert await async_setup_component(hass, "sensor", {})  # the recorder's sensor statistics
    entry = make_entry(toy)
    entry.add_to_hass(hass)
    register_motion_sensors_before_device_classes(hass, entry)
    # The states the development copy before wrote, compiled into a first five-minute period.
    for entity_id, unit in MOTION_SENSORS_BEFORE_DEVICE_CLASSES.values():
        hass.states.async_set(
            entity_id, "5", {ATTR_UNIT_OF_MEASUREMENT: unit, ATTR_STATE_CLASS: "measurement"}
        )
    await async_wait_recording_done(hass)
    now = dt_util.utcnow()
    first = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    do_adhoc_statistics(hass, start=first)
    await async_wait_recording_done(hass)
    for entity_id, _ in MOTION_SENSORS_BEFORE_DEVICE_CLASSES.values():
        hass.states.async_remove(entity_id)  # Home Assistant restarts with the update

    await set_up_with_motion(hass, toy, entry)
    await async_wait_recording_done(hass)
    do_adhoc_statistics(hass, start=first + timedelta(minutes=5))
    await async_wait_recording_done(hass)

    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "recorder/validate_statistics"})
    response = await client.receive_json()
    assert response["success"]
    issues = {
        statistic_id: {issue["type"] for issue in found}
        for statistic_id, found in response["result"].items()
        if statistic_id.startswith("sensor.bb_b54a_")
    }
    assert issues == {
        "sensor.bb_b54a_speed": {"units_changed"},
        "sensor.bb_b54a_pitch": {"mean_type_changed"},
        "sensor.bb_b54a_roll": {"mean_type_changed"},
        "sensor.bb_b54a_yaw": {"mean_type_changed"},
    }
    rows = await recorder_mock.async_add_executor_job(
        statistics_during_period,
        hass,
        first,
        None,
        {"sensor.bb_b54a_position_x", "sensor.bb_b54a_speed"},
        "5minute",
        None,
        {"mean"},
    )
    # Time-weighted means of a constant: equal to it up to the float sums' last bit.
    assert [row["mean"] for row in rows["sensor.bb_b54a_position_x"]] == pytest.approx([5, 120]), (
        "position goes on"
    )
    assert [row["mean"] for row in rows["sensor.bb_b54a_speed"]] == pytest.approx([5]), (
        "speed's stop until a person acts"
    )

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
