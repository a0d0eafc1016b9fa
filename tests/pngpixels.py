"""The pixels of a PNG picture, for the tests that look at what showgraph.cgi drew.

Reads what rrdtool writes: 8-bit RGB or RGBA, not interlaced. Anything else fails the
test that asked, with the reason.
"""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {2: 3, 6: 4}  # colour type -> bytes per pixel: RGB, RGBA


def rgb_pixels(png: bytes) -> list[tuple[int, int, int]]:
    """Every pixel's (red, green, blue), row by row."""
    assert png.startswith(SIGNATURE), f"not a PNG: {png[:40]!r}"
    pos, header, data = len(SIGNATURE), b"", b""
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            data += body
        pos += 12 + length  # length, type, body, CRC
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in CHANNELS and not interlace, f"unread PNG kind {header!r}"
    bpp = CHANNELS[colour]
    stride = width * bpp
    raw = zlib.decompress(data)
    pixels: list[tuple[int, int, int]] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, bpp)
        pixels += [(line[i], line[i + 1], line[i + 2]) for i in range(0, stride, bpp)]
        previous = line
    return pixels


def unfilter(kind: int, line: bytearray, previous: bytearray, bpp: int) -> bytearray:
    """Undo a scanline's filter (PNG specification, section 9)."""
    if kind == 0:
        return line
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = previous[i]
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            corner = previous[i - bpp] if i >= bpp else 0
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            line[i] = (
                line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)
            ) & 0xFF
        else:
            raise AssertionError(f"unknown PNG filter {kind}")
    return line
