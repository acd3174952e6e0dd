"""A simulated Sphero BB-8 for tests and developer mode, at the level of a bleak client.

``SimulatedBB8`` is the toy (GATT handshake, every v1 command the integration uses, responses,
asynchronous power, will-sleep, did-sleep, collision and sensor stream packets, a motion model,
sleep, battery), ``FaultPlan`` what goes wrong, ``SimClock`` its time, and ``SimBleakBackend``
the bleak backend that lets bleak, bleak-retry-connector and Home Assistant's Bluetooth stack
reach it. The same toy plays the BB-8's v1 siblings (:mod:`bb8sim.v1models`: SPRK+, Ollie), and
:mod:`bb8sim.v2` holds the v2 toys (BB-9E, R2-D2, R2-Q5, Mini, BOLT) behind the same seams;
``docs/family.md`` says what each took from captures and what from the spec alone.

Where the behaviour comes from. From the Sphero API 1.20 specification rather than from a BB-8
seen here: SOP2 accepted as 0xFC..0xFF (bit 1 resets the inactivity timer, bit 0 asks for an
answer), the MRSP codes for a bad checksum (0x02), unknown command (0x04), invalid parameter
(0x07) and unknown device (0x09), the will-sleep warning 10 s ahead of an inactivity sleep, power
notifications every 10 s and on change, the collision packet and its thresholds that grow with
speed, the main LED's FLAG byte and the temporary options' bit 0 (stop on disconnect), deep sleep
on wake-up interval 0xFFFF, and (from the 1.50 edition) the sensor stream's layout and units and
the locator. From a real BB-8's published GATT dump and scan record (``tests/captures/``): the
GATT table and its properties, the advertisement. From a recorded stream frame (gobot's, also in
``tests/captures/``): which stream mask bits carry a value and the signs of the streamed attitude
(:mod:`bb8sim.streaming`, :mod:`bb8sim.motion`). From spherov2 and other open implementations:
the handshake (anti-DoS ``011i3``, TX power 7, wake 1) and that commands are ignored without it,
the did-sleep packet (0x14), 20-byte writes and notifications. Assumed by the simulator and
nowhere confirmed for a BB-8: battery voltages, rates and trip points, version numbers, power-on
colours, what sleep forgets, the pacing model, the motion model's speeds and lean. The
assumptions are listed in :mod:`bb8sim.toy` and :mod:`bb8sim.motion`.
"""

from __future__ import annotations

from . import registry
from .backend import SimBleakBackend, build_services
from .clock import RealtimeTicker, SimClock, SimTimerHandle
from .faults import OUT_OF_SLOTS_MESSAGE, ConnectFailure, FaultPlan
from .toy import (
    Advertisement,
    CollisionConfig,
    CommandRecord,
    DataStreamingConfig,
    LocatorConfig,
    PowerState,
    SelfLevelRequest,
    SimulatedBB8,
    ToyLink,
    command_kind,
    default_name,
)

__all__ = [
    "OUT_OF_SLOTS_MESSAGE",
    "Advertisement",
    "CollisionConfig",
    "CommandRecord",
    "ConnectFailure",
    "DataStreamingConfig",
    "FaultPlan",
    "LocatorConfig",
    "PowerState",
    "RealtimeTicker",
    "SelfLevelRequest",
    "SimBleakBackend",
    "SimClock",
    "SimTimerHandle",
    "SimulatedBB8",
    "ToyLink",
    "build_services",
    "command_kind",
    "default_name",
    "registry",
]
