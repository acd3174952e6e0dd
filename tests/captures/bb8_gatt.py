"""A real BB-8's advertisement and GATT table, as noble's ``peripheral-explorer`` printed them.

Source: github.com/mcgrews3/bb8-driver, ``readme.md`` at commit
e8bf9bb30647c250b147e44013b740ecc33350de (September 2015), section "info": a BB-8 named BB-D911
whose Device Information serial number reads ``C1:6E:04:5E:D9:11`` (its address).

What it shows: the advertisement's local name, TX power level, manufacturer data and (empty)
service UUID list; every service and characteristic with noble's property names, and the value
of each readable characteristic at that moment. What it does not show: attribute handles,
descriptors (noble lists none), the Generic Access and Generic Attribute services (noble's
macOS backend hides them), or any packet on the response characteristic.
"""

from __future__ import annotations

from typing import Final

SOURCE: Final = (
    "https://github.com/mcgrews3/bb8-driver/blob/e8bf9bb30647c250b147e44013b740ecc33350de/readme.md"
)

ADDRESS: Final = "C1:6E:04:5E:D9:11"
LOCAL_NAME: Final = "BB-D911"
TX_POWER_LEVEL: Final = -10
# noble prints manufacturer data as raw bytes: "3330" is the company id 0x3033, little-endian,
# followed by nothing.
MANUFACTURER_DATA_RAW: Final = bytes.fromhex("3330")
SERVICE_UUIDS: Final[tuple[str, ...]] = ()


def _v1(short: str) -> str:
    return f"22bb746f{short}75542d6f726568705327"


def _csr(short: str) -> str:
    return f"0000{short}d10211e19b2300025b00a5a5"


# service uuid (noble's spelling) -> characteristic uuid -> (properties, value read or None)
GATT: Final[dict[str, dict[str, tuple[tuple[str, ...], bytes | None]]]] = {
    _v1("2ba0"): {
        _v1("2ba1"): (("writeWithoutResponse", "write"), None),
        _v1("2ba6"): (("notify",), None),
    },
    _v1("2bb0"): {
        _v1("2bb1"): (("read", "write"), None),
        _v1("2bb2"): (("write",), None),
        _v1("2bb6"): (("read", "writeWithoutResponse", "write", "notify"), bytes.fromhex("d1")),
        _v1("2bb7"): (("read", "writeWithoutResponse", "write"), None),
        _v1("2bb8"): (("read",), bytes.fromhex("2c")),
        _v1("2bb9"): (("read",), bytes.fromhex("0900")),
        _v1("2bba"): (("read",), bytes.fromhex("c800")),
        _v1("2bbd"): (("writeWithoutResponse", "write"), None),
        _v1("2bbe"): (("read", "write"), bytes.fromhex("1e")),
        _v1("2bbf"): (("read", "writeWithoutResponse", "write"), bytes.fromhex("00")),
        _v1("3bba"): (("read", "writeWithoutResponse", "write"), bytes.fromhex("0100")),
    },
    _csr("1016"): {
        _csr("1013"): (("read", "write"), bytes.fromhex("01")),
        _csr("1017"): (("write",), None),
        _csr("1014"): (("read", "notify"), b""),
    },
    "180a": {
        "2a27": (("read",), bytes.fromhex("410000000000")),
        "2a25": (("read",), b"C1:6E:04:5E:D9:11"),
        "2a24": (("read",), b"30\x00"),
        "2a29": (("read",), b"Sphero"),
        "2a26": (("read",), b"1.47"),
    },
}
