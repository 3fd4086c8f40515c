#!/usr/bin/python3
"""Compares two PNG screenshots (8-bit RGB or RGBA, not interlaced, as
Chromium writes them) pixel by pixel, for the specs that check a page
as a person sees it.

usage: png_diff.py A B [ROWS]

Prints "width height differing" where differing is the fraction of the
pixels of the first ROWS rows (all rows by default) whose colour differs
by more than 16 in some channel; exits 2 when the sizes differ.
"""
import struct
import sys
import zlib


def decode(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit("%s: not a PNG" % path)
    pos, idat, head = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    width, height, depth, ctype, _, _, interlace = head
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise SystemExit("%s: only 8-bit RGB(A) PNGs are read" % path)
    bpp = 4 if ctype == 6 else 3
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def main(a_path, b_path, rows=None):
    wa, ha, bpa, a = decode(a_path)
    wb, hb, bpb, b = decode(b_path)
    if (wa, ha) != (wb, hb):
        print("%d %d sizes differ: %dx%d" % (wa, ha, wb, hb))
        sys.exit(2)
    n = min(ha, int(rows)) if rows else ha
    differing = 0
    for y in range(n):
        ra, rb = a[y], b[y]
        if ra == rb and bpa == bpb:
            continue
        for x in range(wa):
            pa, pb = ra[x * bpa:x * bpa + 3], rb[x * bpb:x * bpb + 3]
            if any(abs(pa[k] - pb[k]) > 16 for k in range(3)):
                differing += 1
    print("%d %d %.6f" % (wa, ha, differing / float(max(1, wa * n))))


if __name__ == "__main__":
    main(*sys.argv[1:])
