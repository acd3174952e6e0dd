"""A v1 sensor-stream packet (async id 0x03) as a toy notified it, in 20-byte pieces.

Source: github.com/hybridgroup/gobot, ``platforms/sphero/ollie/ollie_driver_test.go``
(``TestDataStreaming``, "example data packet"), added in commit
e964234e24f4235f2cf7e35520b958db4d54e3d6 ("Added some new features to the sphero ollie, bb-8
and sprkplus", January 2019); gobot's BB-8 driver is its Ollie driver. The test feeds the pieces
to the driver one notification at a time. The source does not say which toy sent it (Ollie and
BB-8 share the firmware protocol and GATT layout); its checksum is valid and its values are not
round numbers, so it reads as recorded rather than made up.

Streaming was configured with gobot's default (divisor 10, one frame per packet, every mask bit
set), so the frame carries 41 big-endian int16 values; gobot's test expects the first one, the
raw X acceleration, to be 10.
"""

from __future__ import annotations

from typing import Final

SOURCE: Final = (
    "https://github.com/hybridgroup/gobot/blob/e964234e24f4235f2cf7e35520b958db4d54e3d6/"
    "platforms/sphero/ollie/ollie_driver_test.go"
)

NOTIFICATIONS: Final[tuple[bytes, ...]] = tuple(
    bytes.fromhex(piece)
    for piece in (
        "FFFE030053000A003900FAFFFE0007FFFF000000",
        "000000000000000000FFECFFFB00010000004B01",
        "BD1034FFFF000300000000000000000000000000",
        "0000002701FDE500560000000000000065000000",
        "0000000000000071",
    )
)
FIRST_VALUE_RAW_ACCEL_X: Final = 10
VALUES: Final = 41
