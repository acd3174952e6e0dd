"""How the v2 toys (BB-9E, R2-D2, R2-Q5, Mini, BOLT) are spoken to: one ``models.ToyModel`` per model.

Beside ``sphero_v1.SPHERO_V1``, with the same shape: the session, link and pipeline never learn
which framing a toy speaks. Commands and answers share characteristic 00010002; the unlock
``usetheforce...band`` goes to anti-DoS 00020005. The link subscribes, the handshake unlocks, and
the readiness probe is the Power/Wake command (13/0D) itself: its answer proves the toy woke and
listens. A model with two processors (the BOLT) gets each command's target here, from a table
taken from spherov2 0.12.1's ``toy/bolt.py``: drive, sensors and the matrix on the secondary
processor, the LEDs on the primary; power commands go untargeted, as spherov2 sends them. The
R2-D2 captures are untargeted, and so is every command to the one-processor models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from . import commands_v2 as v2
from .commands import Command
from .errors import NotSupportedError
from .motion_v2 import MINI_STREAM, V2_STREAM, SensorStreamV2
from .protocol_v2 import PRIMARY, SECONDARY, Did, FrameReader, encode_request

if TYPE_CHECKING:
    from .toy_state import ToyState


def _uuid(short: str) -> str:
    """Expand a v2 short id (``00010002``) to its 128-bit UUID (ASCII "WOO Sphero!!")."""
    return f"{short}-574f-4f20-5370-6865726f2121"


API_CHAR: Final = _uuid("00010002")
"""Commands are written to it; answers and async packets are notified from it."""
ANTI_DOS_CHAR: Final = _uuid("00020005")
ANTI_DOS_UNLOCK: Final = b"usetheforce...band"
MAX_CHUNK: Final = 20

type Route = frozenset[tuple[int, int | None]]
"""(DID, CID) pairs; CID None stands for every command of the device."""

_BOLT_SECONDARY: Final[Route] = frozenset(
    {(Did.DRIVE, None), (Did.SENSOR, None)} | {(Did.IO, cid) for cid in (0x2D, 0x2F, 0x3A, 0x3B, 0x3D, 0x3E)}
)
DROID_LEDS: Final = {
    "front_led": "front",
    "back_led": "back",
    "logic_displays": "logic",
    "holo_projector": "holo",
}
"""An R2 unit's ``RequestedSettings`` fields, by the ``commands_v2.r2_leds`` argument each sets."""

_BOLT_PRIMARY: Final[Route] = frozenset({(Did.IO, 0x1C)})


@dataclass(frozen=True, slots=True)
class SpheroV2:
    """One v2 model: its name prefix, where its commands go, what it reports of its battery."""

    name_prefix: str
    secondary: Route = frozenset()
    """Commands sent to the secondary processor (0x12)."""
    primary: Route = frozenset()
    """Commands sent to the primary processor (0x11) with a target."""
    battery_queries: tuple[Callable[[], Command], ...] = ()
    """What the model reports of its battery besides the voltage (percentage, charger state)."""
    settings: tuple[tuple[str, Callable[[Any], Command]], ...] = ()
    """The requested settings the model shows (``main_led``, ``tail_light``, ``head_light``, an R2
    unit's ``DROID_LEDS``), each with the command that shows it: its LEDs by the model's own mask bits."""

    commands_char = API_CHAR
    notify_char = API_CHAR
    max_chunk = MAX_CHUNK
    sequence_numbers = 255
    """0-254, as spherov2 numbers them: 0xFF is the async packets' SEQ."""
    speaks_v1 = False
    stops_on_disconnect = False
    """No v2 command is known to make the toy stop when its link goes (v1's option has no
    published equivalent), and the simulator keeps a v2 toy rolling without its link."""
    sensor_stream: SensorStreamV2 = V2_STREAM
    """18/00 and 18/0C, and their 18/02 packets (``motion_v2``): the same table on every v2 model,
    streamed at the model's own interval (the Mini's slower: ``motion_v2.MINI_STREAM_INTERVAL_MS``)."""

    def target(self, did: int, cid: int) -> int | None:
        """Return the processor a command goes to, or None for an untargeted one."""
        for route, target in ((self.secondary, SECONDARY), (self.primary, PRIMARY)):
            if (did, None) in route or (did, cid) in route:
                return target
        return None

    def encode(self, command: Command, seq: int, reset_timeout: bool) -> bytes:
        """Frame ``command`` as a request that asks for an answer; ``reset_timeout`` flags activity."""
        target = self.target(command.did, command.cid)
        return encode_request(
            command.did, command.cid, seq, command.data, target=target, activity=reset_timeout
        )

    def reader(self, on_drop: Callable[[bytes, str], None]) -> FrameReader:
        """Return a reader that resynchronises on SOP (see ``protocol_v2.FrameReader``)."""
        return FrameReader(on_drop)

    async def handshake(self, client: Any) -> None:
        """Unlock anti-DoS (without it the toy drops the link); the readiness probe wakes it."""
        await client.write_gatt_char(ANTI_DOS_CHAR, ANTI_DOS_UNLOCK, response=True)

    async def wake(self, client: Any) -> None:
        """Write Power/Wake over a link that is up, asking no answer (no command waits for one)."""
        wake = v2.wake()
        frame = encode_request(wake.did, wake.cid, 0, wake.data, target=None, activity=True, answer=False)
        await client.write_gatt_char(API_CHAR, frame, response=True)

    def ready_probe(self) -> Command:
        """Power/Wake: answered only by a toy that is awake now, and it wakes one that is not."""
        return v2.wake()

    def roll(self, speed: int, heading: int) -> Command:
        """Drive (16/07) at ``speed`` towards ``heading``."""
        return v2.drive(speed, heading)

    def stop(self, heading: int) -> Command:
        """Stop, keeping ``heading``."""
        return v2.stop(heading)

    def sleep(self) -> Command:
        """Soft sleep (13/01)."""
        return v2.sleep()

    def setup_commands(self, toy: ToyState) -> list[Command]:
        """Arm collision reports, read the battery and ask for the wanted stream (or stop it) after every connect."""
        return [v2.configure_collision_detection(), *self.poll_commands(), *toy.motion.setup_commands()]

    def poll_commands(self) -> list[Command]:
        """Read the battery voltage, and what else the model reports of its battery."""
        return [v2.get_battery_voltage(), *(query() for query in self.battery_queries)]

    def setting_command(self, name: str, setting: Any) -> Command:
        """Show a requested setting with the model's own LED command; one it has no LED for is refused."""
        for setting_name, command in self.settings:
            if setting_name == name:
                return command(setting)
        raise NotSupportedError(f"a {self.name_prefix} toy has no {name}")


def _bolt_main_led(colour: v2.Rgb) -> Command:
    """Show the BOLT's main colour on its front and back LEDs together (1A/1C).

    spherov2's Edu API paints the whole matrix as a BOLT's "main LED"; here the matrix is left
    to its own action, and the colour goes to the two LEDs the toy has beside it.
    """
    return v2.bolt_leds(front=colour, back=colour)


def _droid_led(argument: str) -> Callable[[Any], Command]:
    """Return what shows an R2 unit's LED setting: ``commands_v2.r2_leds`` with ``argument``."""
    return lambda setting: v2.r2_leds(**{argument: setting})


_DROID_SETTINGS: Final = tuple((name, _droid_led(argument)) for name, argument in DROID_LEDS.items())

R2D2: Final = SpheroV2("D2-", settings=_DROID_SETTINGS)
R2Q5: Final = SpheroV2("Q5-", settings=_DROID_SETTINGS)
BB9E: Final = SpheroV2(
    "GB-",
    settings=(
        ("main_led", lambda colour: v2.bb9e_leds(body=colour)),
        ("tail_light", lambda brightness: v2.bb9e_leds(aiming=brightness)),
        ("head_light", lambda brightness: v2.bb9e_leds(head=brightness)),
    ),
)
MINI: Final = SpheroV2(
    "SM-",
    battery_queries=(v2.get_battery_percentage,),
    settings=(
        ("main_led", lambda colour: v2.mini_leds(body=colour)),
        ("tail_light", lambda brightness: v2.mini_leds(aiming=brightness)),
    ),
    sensor_stream=MINI_STREAM,
)
BOLT: Final = SpheroV2(
    "SB-",
    _BOLT_SECONDARY,
    _BOLT_PRIMARY,
    battery_queries=(v2.get_charger_state,),
    settings=(("main_led", _bolt_main_led),),
)
