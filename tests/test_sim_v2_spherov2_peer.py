"""spherov2's own v2 toys (R2-D2, R2-Q5, Mini, BOLT, BB-9E) driving the simulated v2 toys.

spherov2 0.12.1 is an independent implementation of the v2 protocol (a capture of its R2-D2 on
hardware is in the design brief). Its toys are synchronous and threaded, so each runs in a worker thread
(``asyncio.to_thread``) through the same adapter the BB-8 peer test uses, onto the simulator's
bleak backend on the test's loop. Every packet the simulator sent must parse with spherov2's
collector.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from spherov2.commands.animatronic import R2LegActions
from spherov2.commands.drive import DriveFlags
from spherov2.commands.io import AudioPlaybackModes
from spherov2.commands.sensor import CollisionDetectionMethods
from spherov2.controls.v2 import Packet
from spherov2.listeners.sensor import CollisionDetected
from spherov2.toy.bb9e import BB9E
from spherov2.toy.bolt import BOLT
from spherov2.toy.mini import Mini
from spherov2.toy.r2d2 import R2D2
from spherov2.toy.r2q5 import R2Q5

from bb8sim import registry
from bb8sim.testing import spherov2_adapter
from bb8sim.v2 import SimulatedV2Toy

ADDRESS = "F1:02:03:04:B5:4A"
BRIDGE_TIMEOUT = 10.0


def everything_parses_with_spherov2(toy: SimulatedV2Toy) -> list[Packet]:
    parsed: list[Packet] = []
    collector = Packet.Collector(parsed.append)
    for chunk in toy.notifications:
        collector.add(bytearray(chunk))
    assert len(parsed) == len(toy.sent_packets)
    return parsed


async def drive(toy: SimulatedV2Toy, toy_class: type, script: Any) -> Any:
    registry.register(toy)
    adapter = spherov2_adapter(asyncio.get_running_loop(), bridge_timeout=BRIDGE_TIMEOUT)

    def run() -> Any:
        with toy_class(toy, adapter) as peer:
            return script(peer)

    try:
        return await asyncio.to_thread(run)
    finally:
        registry.unregister(toy.address)


@pytest.mark.parametrize(("key", "toy_class"), [("r2d2", R2D2), ("r2q5", R2Q5)])
async def test_spherov2_r2_units_drive_the_simulator(key: str, toy_class: type) -> None:
    toy = SimulatedV2Toy(ADDRESS, key, battery_voltage=7.93)

    def script(r2: Any) -> dict[str, Any]:
        r2.wake()
        results = {"voltage": r2.get_battery_voltage()}
        r2.drive_with_heading(120, 270, DriveFlags.FORWARD)
        results["rolling"] = (toy.speed, toy.heading)
        r2.drive_with_heading(0, 270, DriveFlags.FORWARD)
        r2.set_head_position(-45.5)
        results["dome"] = r2.get_head_position()
        r2.perform_leg_action(R2LegActions.THREE_LEGS)
        r2.play_animation(toy_class.Animations.EMOTE_LAUGH)
        r2.play_audio_file(toy_class.Audio.R2_BURNOUT, AudioPlaybackModes.PLAY_IMMEDIATELY)
        r2.multi_led_control.set_leds(
            {
                toy_class.LEDs.FRONT_RED: 255,
                toy_class.LEDs.FRONT_GREEN: 16,
                toy_class.LEDs.FRONT_BLUE: 0,
                toy_class.LEDs.BACK_BLUE: 200,
                toy_class.LEDs.LOGIC_DISPLAYS: 100,
                toy_class.LEDs.HOLO_PROJECTOR: 50,
            }
        )
        return results

    results = await drive(toy, toy_class, script)
    assert results["voltage"] == pytest.approx(7.93)
    assert results["rolling"] == (120, 270)
    assert results["dome"] == pytest.approx(-45.5)
    assert toy.speed == 0
    assert toy.dome_angle == pytest.approx(-45.5)
    assert toy.stance == 1
    assert toy.animation_playing == toy_class.Animations.EMOTE_LAUGH
    assert toy.sounds_played == [(toy_class.Audio.R2_BURNOUT, 0)]
    assert toy.led_group("front") == (255, 16, 0)
    assert toy.led_group("back") == (0, 0, 200)
    assert (toy.leds["logic_displays"], toy.leds["holo_projector"]) == (100, 50)
    assert all(request.err == 0 for request in toy.requests)
    parsed = everything_parses_with_spherov2(toy)
    assert (0x13, 0x11, 0xFF) in [packet.id for packet in parsed]  # the wake notice reached spherov2 too


async def test_spherov2_mini_drives_the_simulator() -> None:
    toy = SimulatedV2Toy(ADDRESS, "mini", battery_voltage=3.92)

    def script(mini: Any) -> dict[str, Any]:
        mini.wake()
        results = {"voltage": mini.get_battery_voltage(), "percentage": mini.get_battery_percentage()}
        mini.multi_led_control.set_leds(
            {Mini.LEDs.BODY_RED: 10, Mini.LEDs.BODY_GREEN: 20, Mini.LEDs.BODY_BLUE: 30, Mini.LEDs.AIMING: 255}
        )
        mini.drive_with_heading(60, 45, DriveFlags.FORWARD)
        mini.set_stabilization(0)
        mini.reset_yaw()
        return results

    results = await drive(toy, Mini, script)
    assert results["voltage"] == pytest.approx(3.92)
    assert results["percentage"] == 60
    assert toy.led_group("body") == (10, 20, 30)
    assert toy.leds["aiming"] == 255
    assert toy.speed == 60
    assert toy.stabilization == 0
    assert toy.yaw_resets == 1
    assert all(len(chunk) == 1 for chunk in toy.notifications)
    everything_parses_with_spherov2(toy)


async def test_spherov2_bolt_drives_the_simulator_with_targets() -> None:
    toy = SimulatedV2Toy(ADDRESS, "bolt", charging=True)

    def script(bolt: Any) -> dict[str, Any]:
        bolt.wake()
        results = {"charger": bolt.get_charger_state()}
        bolt.drive_with_heading(80, 90, DriveFlags.FORWARD)
        bolt.multi_led_control.set_leds({BOLT.LEDs.FRONT_RED: 255, BOLT.LEDs.BACK_BLUE: 255})
        bolt.set_compressed_frame_player_one_color(0, 40, 0)
        bolt.draw_compressed_frame_player_fill(0, 0, 1, 1, 255, 0, 0)
        bolt.set_compressed_frame_player_pixel(7, 7, 0, 0, 255)
        bolt.set_compressed_frame_player_text_scrolling("R2", 255, 255, 255, 10, False)
        return results

    results = await drive(toy, BOLT, script)
    assert results["charger"] == 2
    assert (toy.speed, toy.heading) == (80, 90)
    assert toy.led_group("front") == (255, 0, 0)
    assert toy.led_group("back") == (0, 0, 255)
    assert toy.matrix[0][0] == (255, 0, 0)
    assert toy.matrix[4][4] == (0, 40, 0)
    assert toy.matrix[7][7] == (0, 0, 255)
    assert toy.matrix_text is not None
    assert toy.matrix_text[0] == "R2"
    targets = {(request.packet.did, request.packet.tid) for request in toy.requests}
    assert {(0x16, 0x12), (0x1A, 0x11), (0x13, None)} <= targets
    assert all(request.err == 0 for request in toy.requests)
    everything_parses_with_spherov2(toy)


async def test_spherov2_bb9e_drives_the_simulator_and_hears_a_collision() -> None:
    toy = SimulatedV2Toy(ADDRESS, "bb9e")
    loop = asyncio.get_running_loop()
    heard: list[CollisionDetected] = []
    threads: list[threading.Thread] = []
    arrived = threading.Event()

    def on_collision(collision: CollisionDetected) -> None:
        threads.append(threading.current_thread())
        heard.append(collision)
        arrived.set()

    def script(bb9e: Any) -> None:
        bb9e.wake()
        bb9e.add_collision_detected_notify_listener(on_collision)
        bb9e.configure_collision_detection(
            CollisionDetectionMethods.ACCELEROMETER_BASED_DETECTION, 90, 90, 0, 0, 10
        )
        bb9e.multi_led_control.set_leds({BB9E.LEDs.HEAD: 128, BB9E.LEDs.BODY_BLUE: 255})
        bb9e.play_animation(BB9E.Animations.EMOTE_NO)
        bb9e.drive_with_heading(100, 0, DriveFlags.FORWARD)
        asyncio.run_coroutine_threadsafe(_bump(toy), loop).result(BRIDGE_TIMEOUT)
        assert arrived.wait(BRIDGE_TIMEOUT)

    await drive(toy, BB9E, script)
    for thread in threads:
        thread.join(BRIDGE_TIMEOUT)
    (collision,) = heard
    assert collision.x_axis
    assert collision.power_x == 200
    assert toy.leds["head"] == 128
    assert toy.speed == 0  # the bump stopped it
    everything_parses_with_spherov2(toy)


async def _bump(toy: SimulatedV2Toy) -> None:
    assert toy.trigger_collision(200)


async def test_spherov2_reads_the_r2d2_sensor_stream() -> None:
    """spherov2's SensorControl decodes the stream: main-mask values, then the extended ones."""
    toy = SimulatedV2Toy(ADDRESS, "r2d2")
    loop = asyncio.get_running_loop()
    readings: list[dict[str, dict[str, float]]] = []
    threads: list[threading.Thread] = []
    arrived = threading.Event()

    def on_data(data: dict[str, dict[str, float]]) -> None:
        threads.append(threading.current_thread())
        readings.append(data)
        arrived.set()

    async def advance(seconds: float) -> None:
        toy.clock.advance(seconds)

    def script(r2: Any) -> None:
        r2.wake()
        r2.drive_with_heading(0, 300, DriveFlags.FORWARD)
        r2.set_head_position(30.0)
        r2.sensor_control.add_sensor_data_listener(on_data)
        r2.sensor_control.set_count(1)
        r2.sensor_control.enable("attitude", "r2_head_angle")
        asyncio.run_coroutine_threadsafe(advance(0.3), loop).result(BRIDGE_TIMEOUT)
        assert arrived.wait(BRIDGE_TIMEOUT)

    await drive(toy, R2D2, script)
    for thread in threads:
        thread.join(BRIDGE_TIMEOUT)
    (reading,) = readings
    assert reading["attitude"] == {"pitch": 0.0, "roll": 0.0, "yaw": -60.0}
    assert reading["r2_head_angle"] == {"r2_head_angle": 30.0}
    everything_parses_with_spherov2(toy)
