"""spherov2's own BB-8 toy, driven through an adapter onto the simulator.

spherov2 is an independent implementation of the v1 protocol. Its ``BB8`` toy is synchronous and
threaded (a packet thread, 60 ms sleeps, a thread per listener call), so it runs here in a worker
thread (``asyncio.to_thread``) while the simulator stays on the test's event loop; the adapter
bridges with ``run_coroutine_threadsafe``. Every packet the simulator sends must parse with
spherov2's ``Packet.Collector`` / ``parse_response`` / ``parse_async``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import threading
from typing import Any

import pytest
from spherov2.commands.core import IntervalOptions
from spherov2.commands.sphero import CollisionDetectionMethods, ReverseFlags, RollModes
from spherov2.controls.v1 import Packet
from spherov2.listeners.async_ import CollisionDetected
from spherov2.listeners.core import PowerStates
from spherov2.listeners.sphero import Options
from spherov2.toy.bb8 import BB8

from bb8sim import SimClock, SimulatedBB8, registry
from bb8sim.testing import spherov2_adapter
from custom_components.bb8.sphero.const import CoreCommand, DeviceId, RollMode, SpheroCommand

ADDRESS = "C4:1B:2A:3D:B5:4A"
BRIDGE_TIMEOUT = 10.0


def adapter_for(loop: asyncio.AbstractEventLoop) -> type:
    """spherov2's adapter onto the simulator's bleak backend, on this test's loop."""
    return spherov2_adapter(loop, bridge_timeout=BRIDGE_TIMEOUT)


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def toy(clock: SimClock) -> SimulatedBB8:
    return registry.register(SimulatedBB8(ADDRESS, clock=clock, battery_voltage=7.86))


class ListenerThreads:
    """spherov2 calls each listener in a new thread; count the calls and join those threads."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.events: list[object] = []
        self._changed = threading.Condition()

    def listener(self, *args: object) -> None:
        with self._changed:
            self.threads.append(threading.current_thread())
            self.events.append(args[0] if args else None)
            self._changed.notify_all()

    def wait_for(self, count: int) -> None:
        """Wait until ``count`` calls have run, then join their threads (the harness checks)."""
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.events) >= count, BRIDGE_TIMEOUT)
        for thread in self.threads:
            thread.join(BRIDGE_TIMEOUT)


def parse_everything_with_spherov2(toy: SimulatedBB8) -> list[Packet.Response | Packet.Async]:
    """Feed every notification the simulator sent, in order, to spherov2's own collector."""
    parsed: list[Packet.Response | Packet.Async] = []
    collector = Packet.Collector(parsed.append)
    for chunk in toy.notifications:
        collector.add(bytearray(chunk))
    for packet in toy.sent_packets:
        body = bytearray(packet[2:])
        reparsed = Packet.parse_response(body) if packet[1] == 0xFF else Packet.parse_async(body)
        assert bytes(reparsed.build()) == packet
    return parsed


async def test_spherov2_bb8_drives_the_simulator(toy: SimulatedBB8) -> None:
    loop = asyncio.get_running_loop()

    def drive() -> dict[str, Any]:
        with BB8(toy, adapter_for(loop)) as bb8:
            bb8.wake()  # spherov2's handshake leaves wake to the user
            results: dict[str, Any] = {"versions": bb8.get_versions(), "power": bb8.get_power_state()}
            bb8.set_main_led(255, 64, 0)
            bb8.set_back_led_brightness(200)
            bb8.set_stabilization(False)
            bb8.set_heading(90)
            bb8.roll(120, 270, RollModes.GO, ReverseFlags.OFF)
            results["rolling"] = (toy.speed, toy.heading, toy.roll_mode)
            bb8.set_rotation_rate(0x40)
            bb8.set_inactivity_timeout(300)
            bb8.set_data_streaming(40, 1, 0xE000, 0, 0)
            bb8.self_level(True, True, False, True, 0, 0, 0)
            bb8.configure_locator(1, 0, 0, 0)
            bb8.set_raw_motors(1, 80, 1, 80)
            bb8.set_motion_timeout(1000)
            bb8.roll(0, 270, RollModes.STOP, ReverseFlags.OFF)
            return results

    results = await asyncio.to_thread(drive)

    versions = results["versions"]
    assert (versions.main_app_version_major, versions.main_app_version_minor) == (4, 69)
    assert versions.bootloader_version == "4.1"
    power = results["power"]
    assert power.state == PowerStates.OK
    assert power.voltage == pytest.approx(7.86)
    assert power.record_version == 1
    assert results["rolling"] == (120, 270, RollMode.GO)

    assert toy.main_led == (255, 64, 0)
    assert (toy.back_led, toy.stabilization, toy.rotation_rate) == (200, False, 0x40)
    assert toy.inactivity_timeout == 300
    assert toy.data_streaming is not None
    assert toy.data_streaming.mask2 == 0  # spherov2 sends the 13-byte form
    assert toy.motion_timeout_ms == 1000
    assert (toy.speed, toy.roll_mode) == (0, RollMode.STOP)
    assert toy.handshake_log == [("anti_dos", b"011i3"), ("tx_power", b"\x07"), ("wake", b"\x01")]
    assert all(record.mrsp == 0 for record in toy.commands_received)
    assert not toy.connected

    parsed = parse_everything_with_spherov2(toy)
    assert len(parsed) == len(toy.sent_packets) == len(toy.commands_received)
    assert all(isinstance(p, Packet.Response) and p.mrsp == Packet.Error.command_succeeded for p in parsed)


async def test_spherov2_hears_power_collision_and_sleep_packets(toy: SimulatedBB8, clock: SimClock) -> None:
    loop = asyncio.get_running_loop()
    power = ListenerThreads()
    collisions = ListenerThreads()
    sleeps = ListenerThreads()

    async def on_loop(action: Callable[[], object]) -> None:
        action()

    def drive() -> None:
        with BB8(toy, adapter_for(loop)) as bb8:
            bb8.wake()
            bb8.add_battery_state_changed_notify_listener(power.listener)
            bb8.add_collision_detected_notify_listener(collisions.listener)
            bb8.add_will_sleep_notify_listener(sleeps.listener)
            bb8.enable_battery_state_changed_notify(True)
            # spherov2's argument order is (method, Xt, Yt, Xspd, Yspd, dead); these values make
            # the two orders agree, so this test is about the packets, not the disagreement.
            bb8.configure_collision_detection(CollisionDetectionMethods.DEFAULT, 50, 50, 0, 0, 10)
            bb8.set_inactivity_timeout(60)

            def bump_and_wait() -> None:
                clock.advance(10.0)  # one periodic power report
                toy.trigger_collision(x_magnitude=400, y_magnitude=-30)
                clock.advance(40.0)  # 50 s since the last command: the will-sleep warning

            asyncio.run_coroutine_threadsafe(on_loop(bump_and_wait), loop).result(BRIDGE_TIMEOUT)
            bb8.sleep(IntervalOptions.NONE, 0, 0)
        # Everything the toy sent before its answer to sleep has reached spherov2 by now.
        power.wait_for(toy.power_notifications_sent)
        collisions.wait_for(toy.collisions_sent)
        sleeps.wait_for(toy.will_sleep_sent)

    await asyncio.to_thread(drive)

    assert PowerStates.OK in power.events
    (collision,) = collisions.events
    assert isinstance(collision, CollisionDetected)
    assert (collision.x_axis, collision.y_axis, collision.power_x, collision.power_y) == (
        True,
        False,
        400,
        -30,
    )
    assert sleeps.events == [None]
    assert toy.asleep
    assert not toy.connected

    parsed = parse_everything_with_spherov2(toy)
    async_ids = [p.id_code for p in parsed if isinstance(p, Packet.Async)]
    # A power report at 10 s, the collision, more power reports, the warning at 50 s, did sleep.
    assert async_ids[:2] == [0x01, 0x07]
    assert async_ids[-1] == 0x14
    assert async_ids.count(0x05) == 1
    assert set(async_ids) == {0x01, 0x05, 0x07, 0x14}
    assert all(p.mrsp == Packet.Error.command_succeeded for p in parsed if isinstance(p, Packet.Response))


async def test_where_spherov2_and_the_spec_disagree_the_simulator_follows_the_spec(toy: SimulatedBB8) -> None:
    loop = asyncio.get_running_loop()

    def drive() -> None:
        with BB8(toy, adapter_for(loop)) as bb8:
            bb8.wake()
            # Collision: spherov2 sends (method, Xt, Yt, Xspd, Yspd, dead); the spec reads
            # (method, Xt, Xspd, Yt, Yspd, dead), so spherov2's Yt lands in Xspd.
            bb8.configure_collision_detection(CollisionDetectionMethods.DEFAULT, 10, 20, 30, 40, 50)
            # Main LED: spherov2 sends R, G, B without the spec's FLAG byte; the toy treats it as 0.
            bb8.set_main_led(1, 2, 3)
            # Temporary options: spherov2 encodes its persistent layout, where bit 0 means
            # "disable sleep in charger"; in the spec's temporary layout bit 0 is stop on disconnect.
            bb8.set_temporary_options(Options(True, False, False, False, False, False, False))
            # Ping: spherov2 builds the packet and never sends it.
            bb8.ping()

    await asyncio.to_thread(drive)

    config = toy.collision_config
    assert config is not None
    assert (config.x_threshold, config.x_speed, config.y_threshold, config.y_speed) == (10, 20, 30, 40)
    assert toy.commands_received[0].data == bytes([1, 10, 20, 30, 40, 50])
    assert toy.main_led == (1, 2, 3)
    assert toy.persist_writes == 0
    assert toy.temporary_options == 1
    assert toy.stop_on_disconnect  # the spec's meaning of bit 0, whatever spherov2 meant
    kinds = [record.kind for record in toy.commands_received]
    assert kinds == ["configure_collision_detection", "set_main_led", "set_temporary_options"]
    assert (DeviceId.CORE, CoreCommand.PING) not in {(r.did, r.cid) for r in toy.commands_received}
    assert toy.commands_received[-1].cid == SpheroCommand.SET_TEMPORARY_OPTIONS
    parse_everything_with_spherov2(toy)


async def test_spherov2_without_wake_gets_no_answer(toy: SimulatedBB8) -> None:
    loop = asyncio.get_running_loop()

    def drive() -> None:
        with BB8(toy, adapter_for(loop)) as bb8:
            # No wake: the toy ignores commands, and spherov2 waits for an answer that never comes.
            packet = bb8._packet_manager.new_packet(DeviceId.CORE, CoreCommand.PING, None)
            bb8._Toy__packet_queue.put(packet.build())
            with pytest.raises(TimeoutError):
                bb8._wait_packet(packet.id, timeout=0.3)

    await asyncio.to_thread(drive)
    assert toy.ignored_writes == 1
    assert toy.commands_received == []
    assert toy.asleep
