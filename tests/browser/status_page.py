#!/usr/bin/env python3
"""Reads what headless Chromium made of the status page, for tests/it/status_page.rs.

  status_page.py dom FILE   FILE: the output of `chromium --dump-dom URL`. Prints JSON:
      {"columns": [header cells of the main table],
       "regions": [the Region columns' headers],
       "rows": [{"app", "cells": [text of each cell], "svgs": n, "rects": n,
                 "classes": [class of each cell]}],
       "legend": text of the legend}
  status_page.py png FILE   FILE: a PNG screenshot. Prints JSON:
      {"width", "height", "colours": distinct colours, "counts": {"#rrggbb": pixels}}
      (the counts of the 40 most common colours).

Only the standard library: html.parser for the DOM, zlib and the PNG filters for pixels.
"""

import json
import struct
import sys
import zlib
from collections import Counter
from html.parser import HTMLParser


class Page(HTMLParser):
    """Collects the main table (class=main): header cells and one row per app."""

    def __init__(self):
        super().__init__()
        self.in_main = False
        self.columns, self.regions, self.rows = [], [], []
        self.cell = None  # text of the current cell, or None outside cells
        self.cell_class = ""
        self.row = None
        self.legend, self.in_legend = "", False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class") or ""
        if tag == "table" and "main" in cls.split():
            self.in_main = True
        elif tag == "p" and cls == "legend":
            self.in_legend = True
        if not self.in_main:
            return
        if tag == "tr" and cls == "app":
            self.row = {"app": a.get("id", "").removeprefix("row-"), "cells": [], "classes": [], "svgs": 0, "rects": 0}
        elif tag in ("td", "th"):
            self.cell, self.cell_class = "", cls
        elif tag == "br" and self.cell is not None:
            self.cell += " "
        elif tag == "svg" and self.row is not None:
            self.row["svgs"] += 1
        elif tag == "rect" and self.row is not None:
            self.row["rects"] += 1

    def handle_endtag(self, tag):
        if tag == "p":
            self.in_legend = False
        if not self.in_main:
            return
        if tag == "table":
            self.in_main = False
        elif tag in ("td", "th") and self.cell is not None:
            text = " ".join(self.cell.split())
            if tag == "th":
                self.columns.append(text)
                if self.cell_class == "region":
                    self.regions.append(text)
            elif self.row is not None:
                self.row["cells"].append(text)
                self.row["classes"].append(self.cell_class)
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.rows.append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.in_legend:
            self.legend += data
        # Text of <title> inside an SVG is a tooltip, not the cell's text.
        if self.cell is not None and self.lasttag != "title":
            self.cell += data


def dom(path):
    p = Page()
    with open(path, encoding="utf-8") as f:
        p.feed(f.read())
    legend = " ".join(p.legend.split())
    return {"columns": p.columns, "regions": p.regions, "rows": p.rows, "legend": legend}


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG")
    pos, idat, head = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = head
    if depth != 8 or colour not in (2, 6) or interlace:
        raise SystemExit(f"{path}: PNG depth {depth} colour type {colour} interlace {interlace} not handled")
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev, counts = bytearray(stride), Counter()
    for y in range(height):
        start = y * (stride + 1)
        ftype, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                line[i] = (line[i] + paeth(a, b, c)) & 0xFF
        counts.update(bytes(line[i : i + 3]) for i in range(0, stride, bpp))
        prev = line
    common = {"#" + k.hex(): n for k, n in counts.most_common(40)}
    return {"width": width, "height": height, "colours": len(counts), "counts": common}


if __name__ == "__main__":
    what, path = sys.argv[1], sys.argv[2]
    print(json.dumps(dom(path) if what == "dom" else png(path)))
