#!/usr/bin/python3
"""Lists the <a> start tags of an HTML file as Python's html.parser (an
independent reader) sees them, for spec/unit/track_spec.lua.

Usage: html_links.py FILE

Output: one line per <a> start tag, in document order: "a" and the base64
of its first href value (character references decoded), or "a -" when it
has none; then "img" and the base64 of src for every <img>.
"""

import base64
import sys
from html.parser import HTMLParser


def b64(value):
    if value is None:
        return "-"
    return base64.b64encode(value.encode("utf-8", "surrogateescape")).decode("ascii")


class Links(HTMLParser):
    def handle_starttag(self, tag, attrs):
        if tag not in ("a", "img"):
            return
        name = "href" if tag == "a" else "src"
        value = next((v for k, v in attrs if k == name), None)
        print(tag, b64(value))

    handle_startendtag = handle_starttag


def main():
    with open(sys.argv[1], "rb") as f:
        text = f.read().decode("utf-8", "surrogateescape")
    parser = Links()
    parser.feed(text)
    parser.close()


if __name__ == "__main__":
    main()
