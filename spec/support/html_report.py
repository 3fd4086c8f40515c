#!/usr/bin/python3
"""Reads an HTML report of `mailcast report --html` as Python's
html.parser (an independent reader) sees it, for
spec/integration/report_spec.lua.

Usage: html_report.py FILE

Output: one JSON object:
  "valid": the file is UTF-8, every element that was opened was closed
           in order (void elements aside), and nothing is left open;
  "problems": what was wrong, if anything;
  "charts": by <svg> id, {"bars": <rect class="bar ...">,
            "points": <circle class="point ...">} inside it;
  "scripts": how many <script>, <iframe>, <object>, <embed> elements;
  "fetches": every src, href, action, or url(...) / @import in a style
             or style attribute that would make a browser fetch something
             (fragments and data: URLs aside);
  "text": the document's text (character references decoded), its
          pieces joined by newlines.
"""

import json
import re
import sys
from html.parser import HTMLParser

VOID = {"meta", "link", "br", "img", "input", "hr", "col", "area", "base", "wbr", "source", "track"}
SVG_VOID = {"line", "polyline", "rect", "circle", "path"}
FETCH_ATTRS = {"src", "href", "action", "xlink:href", "data", "poster", "srcset", "formaction"}


class Report(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.problems = []
        self.charts = {}
        self.svg = None
        self.scripts = 0
        self.fetches = []
        self.text = []
        self.in_style = False

    def check_fetch(self, value):
        if value is None:
            return
        v = value.strip()
        if v and not v.startswith("#") and not v.lower().startswith("data:"):
            self.fetches.append(v)

    def check_css(self, css):
        for m in re.finditer(r"url\(([^)]*)\)|@import", css):
            self.check_fetch(m.group(1).strip("'\" ") if m.group(1) else "@import")

    def count(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if self.svg is not None:
            if tag == "rect" and "bar" in classes:
                self.charts[self.svg]["bars"] += 1
            if tag == "circle" and "point" in classes:
                self.charts[self.svg]["points"] += 1
        for k, v in attrs:
            if k in FETCH_ATTRS:
                self.check_fetch(v)
            if k == "style":
                self.check_css(v or "")
        if tag in ("script", "iframe", "object", "embed"):
            self.scripts += 1

    def handle_starttag(self, tag, attrs):
        self.count(tag, attrs)
        if tag == "svg":
            self.svg = dict(attrs).get("id", "")
            self.charts[self.svg] = {"bars": 0, "points": 0}
        if tag == "style":
            self.in_style = True
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.count(tag, attrs)
        if tag not in VOID and tag not in SVG_VOID:
            self.problems.append("<%s/> is not an element that may close itself" % tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append("</%s> closes %s" % (tag, self.stack[-1] if self.stack else "nothing"))
            return
        self.stack.pop()
        if tag == "svg":
            self.svg = None
        if tag == "style":
            self.in_style = False

    def handle_data(self, data):
        if self.in_style:
            self.check_css(data)
        elif data.strip():
            self.text.append(data.strip())


def main():
    with open(sys.argv[1], "rb") as f:
        raw = f.read()
    parser = Report()
    try:
        doc = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        parser.problems.append("not UTF-8: %s" % e)
        doc = raw.decode("utf-8", "replace")
    if not doc.startswith("<!DOCTYPE html>"):
        parser.problems.append("no <!DOCTYPE html> first")
    parser.feed(doc)
    parser.close()
    if parser.stack:
        parser.problems.append("left open: " + " ".join(parser.stack))
    json.dump({
        "valid": not parser.problems,
        "problems": parser.problems,
        "charts": parser.charts,
        "scripts": parser.scripts,
        "fetches": parser.fetches,
        "text": "\n".join(parser.text),
    }, sys.stdout)


if __name__ == "__main__":
    main()
