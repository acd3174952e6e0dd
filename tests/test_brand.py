"""The brand images Home Assistant 2026.3+ serves from custom_components/bb8/brand/.

Checked with the standard library only (struct, zlib, xml): the PNGs are decoded here, so neither
Pillow nor the renderer that scripts/brand uses is needed to run these tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
import os
from pathlib import Path
import random
import re
import struct
from xml.etree import ElementTree
import zlib

import pytest

ROOT = Path(__file__).parent.parent
BRAND = ROOT / "custom_components" / "bb8" / "brand"
SCRIPT = ROOT / "scripts" / "brand"
SOURCES = ROOT / "docs" / "brand"

# The sizes scripts/brand renders. Home Assistant's brand rules: icons square, 256 and 512;
# logos with their shortest side 128-256 (and 256-512 for @2x); every @2x exactly double.
SIZES: dict[str, tuple[int, int]] = {
    "icon.png": (256, 256),
    "icon@2x.png": (512, 512),
    "logo.png": (534, 256),
    "logo@2x.png": (1068, 512),
    "dark_logo.png": (534, 256),
    "dark_logo@2x.png": (1068, 512),
}
MAX_BYTES = 100_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel
SVG = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlace: int
    chunks: tuple[tuple[bytes, bytes], ...]

    def chunk(self, kind: bytes) -> bytes | None:
        return next((body for name, body in self.chunks if name == kind), None)

    @property
    def has_alpha(self) -> bool:
        return self.colour_type in (4, 6) or self.chunk(b"tRNS") is not None


@cache
def read_png(name: str) -> Png:
    """Parse the signature and every chunk (length, type, CRC) of a PNG in the brand folder."""
    data = (BRAND / name).read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{name}: not a PNG signature"
    chunks: list[tuple[bytes, bytes]] = []
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"{name}: {kind!r} chunk has a bad CRC"
        chunks.append((kind, body))
        pos += 12 + length
    assert pos == len(data), f"{name}: truncated"
    assert chunks[0][0] == b"IHDR", f"{name}: IHDR is not the first chunk"
    assert chunks[-1] == (b"IEND", b""), f"{name}: IEND is not the last chunk"
    assert len(chunks[0][1]) == 13
    width, height, depth, colour, compression, filter_method, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1]
    )
    assert colour in CHANNELS, f"{name}: colour type {colour}"
    assert compression == 0, f"{name}: compression method {compression}"
    assert filter_method == 0, f"{name}: filter method {filter_method}"
    return Png(width, height, depth, colour, interlace, tuple(chunks))


def unfilter(raw: bytes, height: int, stride: int, bpp: int) -> list[bytes]:
    """Undo the per-scanline filters (PNG spec section 9: None, Sub, Up, Average, Paeth)."""
    rows: list[bytes] = []
    previous = bytearray(stride)
    pos = 0
    for _ in range(height):
        kind, line = raw[pos], bytearray(raw[pos + 1 : pos + 1 + stride])
        pos += 1 + stride
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind in (3, 4):
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = previous[i]
                if kind == 3:
                    line[i] = (line[i] + ((a + b) >> 1)) & 0xFF
                    continue
                c = previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        else:
            assert kind == 0, f"unknown filter type {kind}"
        rows.append(bytes(line))
        previous = line
    assert pos == len(raw), "image data longer than the image"
    return rows


@cache
def alpha_rows(name: str) -> tuple[bytes, ...]:
    """Every pixel's alpha (0 transparent .. 255 opaque; the high byte of 16-bit), row by row."""
    png = read_png(name)
    assert png.interlace == 0, f"{name}: interlaced"
    channels = CHANNELS[png.colour_type]
    bits = channels * png.bit_depth
    stride = (png.width * bits + 7) // 8
    idat = b"".join(body for kind, body in png.chunks if kind == b"IDAT")
    rows = unfilter(zlib.decompress(idat), png.height, stride, max(1, bits // 8))
    if png.colour_type in (4, 6):
        size = png.bit_depth // 8
        pixel = channels * size
        return tuple(row[pixel - size :: pixel] for row in rows)
    trns = png.chunk(b"tRNS")
    assert trns is not None, f"{name}: no alpha channel and no tRNS chunk"
    if png.colour_type == 3:  # palette: tRNS holds an alpha per palette index
        table = trns + b"\xff" * (256 - len(trns))
        depth, mask = png.bit_depth, (1 << png.bit_depth) - 1
        return tuple(
            bytes(
                table[(row[x * depth // 8] >> (8 - depth - x * depth % 8)) & mask] for x in range(png.width)
            )
            for row in rows
        )
    assert png.bit_depth == 8, f"{name}: {png.bit_depth}-bit greyscale/RGB with tRNS"
    key = trns[1::2]  # one transparent colour, each sample stored in two bytes
    return tuple(
        bytes(0 if row[x : x + channels] == key else 255 for x in range(0, stride, channels)) for row in rows
    )


def opaque_box(name: str) -> tuple[int, int, int, int]:
    """Left, top, right, bottom (exclusive) of the pixels that are not fully transparent."""
    rows = alpha_rows(name)
    drawn = [y for y, row in enumerate(rows) if row.count(0) < len(row)]
    assert drawn, f"{name}: fully transparent"
    lefts = [len(rows[y]) - len(rows[y].lstrip(b"\0")) for y in drawn]
    rights = [len(rows[y].rstrip(b"\0")) for y in drawn]
    return min(lefts), drawn[0], max(rights), drawn[-1] + 1


def filter_row(kind: int, row: bytes, above: bytes, bpp: int) -> bytes:
    """The encoder's side of a PNG scanline filter, written from the spec apart from unfilter()."""
    out = bytearray()
    for i, value in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = above[i]
        c = above[i - bpp] if i >= bpp else 0
        if kind == 4:
            p = a + b - c
            # min() keeps the first of equals: the spec's tie order a, b, c.
            predicted = min((abs(p - a), a), (abs(p - b), b), (abs(p - c), c), key=lambda pair: pair[0])[1]
        else:
            predicted = (0, a, b, (a + b) // 2)[kind]
        out.append((value - predicted) & 0xFF)
    return bytes(out)


def test_png_reader_undoes_every_scanline_filter() -> None:
    # optipng picks filter 0 for the committed images; other encoders use all five.
    bpp, stride = 4, 4 * 8
    # Few distinct values, so Paeth meets ties; wrap-around values, so the mod-256 arithmetic counts.
    rng = random.Random(8)
    rows = [bytes(rng.choice((0, 1, 2, 3, 4, 5, 254, 255)) for _ in range(stride)) for _ in range(10)]
    raw, above = b"", bytes(stride)
    for kind, row in zip([0, 1, 2, 3, 4, 4, 4, 3, 4, 4], rows, strict=True):
        raw += bytes([kind]) + filter_row(kind, row, above, bpp)
        above = row
    assert unfilter(raw, len(rows), stride, bpp) == rows


def test_brand_folder_holds_exactly_the_rendered_images() -> None:
    assert sorted(path.name for path in BRAND.iterdir()) == sorted(SIZES)


def test_icon_is_256_square_png_with_alpha() -> None:
    icon = read_png("icon.png")
    assert (icon.width, icon.height) == (256, 256)
    assert icon.has_alpha


def test_icon_2x_is_512_square_png_with_alpha() -> None:
    icon = read_png("icon@2x.png")
    assert (icon.width, icon.height) == (512, 512)
    assert icon.has_alpha


@pytest.mark.parametrize(("name", "low", "high"), [("logo.png", 128, 256), ("logo@2x.png", 256, 512)])
def test_logo_is_landscape_with_its_shortest_side_within_the_brand_limits(
    name: str, low: int, high: int
) -> None:
    logo = read_png(name)
    assert logo.width >= logo.height
    assert low <= min(logo.width, logo.height) <= high


@pytest.mark.parametrize("name", sorted(SIZES))
def test_image_is_a_valid_png_of_its_exact_size_with_alpha(name: str) -> None:
    png = read_png(name)
    assert (png.width, png.height) == SIZES[name]
    assert png.has_alpha, f"{name}: no alpha channel"
    rows = alpha_rows(name)  # decodes every scanline, so the image data is complete
    assert len(rows) == png.height
    assert all(len(row) == png.width for row in rows)


@pytest.mark.parametrize("name", sorted(name for name in SIZES if "@2x" not in name))
def test_2x_image_is_exactly_double_its_1x_image(name: str) -> None:
    single, double = read_png(name), read_png(name.replace(".png", "@2x.png"))
    assert (double.width, double.height) == (2 * single.width, 2 * single.height)


@pytest.mark.parametrize("name", ["dark_logo.png", "dark_logo@2x.png"])
def test_dark_logo_has_the_size_of_the_logo(name: str) -> None:
    dark, light = read_png(name), read_png(name.removeprefix("dark_"))
    assert (dark.width, dark.height) == (light.width, light.height)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_image_background_is_transparent_in_every_corner(name: str) -> None:
    rows = alpha_rows(name)
    assert [rows[0][0], rows[0][-1], rows[-1][0], rows[-1][-1]] == [0, 0, 0, 0]


@pytest.mark.parametrize("name", sorted(SIZES))
def test_image_is_trimmed_without_a_large_empty_margin(name: str) -> None:
    png = read_png(name)
    left, top, right, bottom = opaque_box(name)
    margins_x, margins_y = (left, png.width - right), (top, png.height - bottom)
    # The drawing spans the canvas one way (within 4 %) and leaves at most 20 % empty on any side.
    assert max(margins_x) <= 0.04 * png.width or max(margins_y) <= 0.04 * png.height, (
        left,
        top,
        right,
        bottom,
    )
    assert max(margins_x) <= 0.2 * png.width
    assert max(margins_y) <= 0.2 * png.height


@pytest.mark.parametrize("name", sorted(SIZES))
def test_image_is_optimised_under_100_kb_without_metadata(name: str) -> None:
    assert (BRAND / name).stat().st_size < MAX_BYTES
    kinds = {kind for kind, _ in read_png(name).chunks}
    assert kinds <= {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}, kinds


def test_svg_sources_exist_where_scripts_brand_reads_them() -> None:
    script = SCRIPT.read_text()
    assert re.search(r"^SRC=docs/brand$", script, re.MULTILINE)
    assert re.search(r"^OUT=custom_components/bb8/brand$", script, re.MULTILINE)
    read = set(re.findall(r'"\$SRC/([\w.-]+\.svg)"', script))
    assert read == {"icon.svg", "logo.svg"}
    for name in read:
        assert (SOURCES / name).is_file(), name
        assert ElementTree.parse(SOURCES / name).getroot().tag == f"{SVG}svg"


def test_brand_script_renders_every_image_at_the_size_the_tests_expect() -> None:
    rendered = {
        name: (int(width), int(height))
        for width, height, name in re.findall(
            r'^render "[^"]+" (\d+) (\d+) "\$OUT/([\w@.-]+)"$', SCRIPT.read_text(), re.MULTILINE
        )
    }
    assert rendered == SIZES


def test_brand_script_is_executable_and_names_its_renderer() -> None:
    assert os.access(SCRIPT, os.X_OK)
    header = SCRIPT.read_text().split("\nset -euo pipefail", 1)[0]
    assert header.startswith("#!/usr/bin/env bash\n")
    assert "rsvg-convert" in header
    assert "optipng" in header


@pytest.mark.parametrize("name", ["icon.svg", "logo.svg"])
def test_svg_source_draws_shapes_only_so_no_font_is_needed(name: str) -> None:
    tags = {element.tag.removeprefix(SVG) for element in ElementTree.parse(SOURCES / name).iter()}
    assert tags & {"text", "tspan", "textPath", "font", "image", "use"} == set()
    assert "font-family" not in (SOURCES / name).read_text()


def test_logo_draws_the_same_droid_as_the_icon() -> None:
    def droid(name: str) -> bytes:
        root = ElementTree.parse(SOURCES / name).getroot()
        group = next(element for element in root.iter(f"{SVG}g") if element.get("id") == "droid")
        group.tail = None
        ElementTree.indent(group)
        return ElementTree.tostring(group)

    assert droid("icon.svg") == droid("logo.svg")
