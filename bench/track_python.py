"""The Python contender of bench/track: the same tracking rewrite with
html.parser from the standard library. Each message parses the document,
finds every <a href> (its start tag's position from getpos() and its text
from get_starttag_text()), leaves alone what mailcast leaves alone
(mailto:, tel:, sms:, javascript:, #anchors, the unsubscribe link, links
marked data-mc-notrack or #mc-notrack, anything not http(s)), puts a
click URL with a signed token in place of each other href value, and an
open pixel before the last </body>. Tokens are mailcast's (see
csrc/core/token.c), HMAC-SHA256 from a keyed hmac object copied per token.

    python3 track_python.py DOC MAILCAST_OUTPUT SECRET CAMPAIGN UNSUBSCRIBE COUNT MIN_SECONDS

Rewrites DOC for recipients 1, 2, ... for at least COUNT messages and
MIN_SECONDS, prints "messages=M seconds=S", and "same as mailcast" when
its output for recipient 1 is MAILCAST_OUTPUT byte for byte.
"""
import base64
import hashlib
import hmac
import re
import sys
import time
from html.parser import HTMLParser

BASE = "https://t.example.com"
LABEL = b"mailcast-token\n"
OPEN, CLICK = 1, 2
PIXEL = ('<img src="%s/o/%%s" width="1" height="1" alt="" '
         'style="display:block;border:0;margin:0;padding:0;width:1px;height:1px" />' % BASE)
HREF = re.compile(r"""(\shref\s*=\s*)("[^"]*"|'[^']*'|[^\s>]*)""", re.I)
NEWLINE = re.compile("\n")


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def token(keyed, kind, campaign, recipient, link):
    payload = bytes([0x10 | kind]) + varint(campaign) + varint(recipient) + varint(link)
    mac = keyed.copy()
    mac.update(payload)
    return base64.urlsafe_b64encode(payload + mac.digest()[:16]).rstrip(b"=").decode("ascii")


def skipped(url, names, unsubscribe):
    url = url.strip()
    low = url.lower()
    return (not url or url.startswith("#") or "data-mc-notrack" in names or "mc:notrack" in names
            or "#mc-notrack" in url or "{{unsubscribe_url}}" in url or unsubscribe in url
            or not (low.startswith("http://") or low.startswith("https://")))


class Links(HTMLParser):
    """Collects (line, column, start tag text, href) of every <a href> and
    the position of the last </body>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []
        self.body_end = None

    def handle_starttag(self, tag, attrs):
        if tag != "a":
            return
        href = next((v for k, v in attrs if k == "href"), None)
        if href is not None:
            names = [k for k, _ in attrs]
            self.links.append((self.getpos(), self.get_starttag_text(), href, names))

    def handle_endtag(self, tag):
        if tag == "body":
            self.body_end = self.getpos()


def rewrite(html, keyed, campaign, recipient, unsubscribe):
    parser = Links()
    parser.feed(html)
    parser.close()
    starts = [0]
    starts.extend(m.end() for m in NEWLINE.finditer(html))
    edits = []   # (start, end, replacement)
    for index, ((line, col), text, href, names) in enumerate(parser.links, 1):
        if skipped(href, names, unsubscribe):
            continue
        at = starts[line - 1] + col
        m = HREF.search(text)
        quote = m.group(2)[:1] if m.group(2)[:1] in ("'", '"') else ""
        new = "%s/c/%s" % (BASE, token(keyed, CLICK, campaign, recipient, index))
        edits.append((at + m.start(2), at + m.end(2), quote + new + quote if quote else '"%s"' % new))
    if parser.body_end:
        line, col = parser.body_end
        at = starts[line - 1] + col
    else:
        at = len(html)
    edits.append((at, at, PIXEL % token(keyed, OPEN, campaign, recipient, 0)))
    edits.sort(key=lambda e: e[0])
    pieces = []
    pos = 0
    for start, end, replacement in edits:
        pieces.append(html[pos:start])
        pieces.append(replacement)
        pos = end
    pieces.append(html[pos:])
    return "".join(pieces)


def main():
    doc, expected, secret, campaign, unsubscribe, count, min_seconds = sys.argv[1:8]
    campaign, count, min_seconds = int(campaign), int(count), float(min_seconds)
    with open(doc, encoding="utf-8") as f:
        html = f.read()
    keyed = hmac.new(secret.encode(), LABEL, hashlib.sha256)
    first = None
    i = 0
    t0 = time.perf_counter()
    while True:
        i += 1
        out = rewrite(html, keyed, campaign, i, unsubscribe)
        if first is None:
            first = out.encode("utf-8")
        elapsed = time.perf_counter() - t0
        if i >= count and elapsed >= min_seconds:
            break
    print("messages=%d seconds=%.3f" % (i, elapsed))
    with open(expected, "rb") as f:
        theirs = f.read()
    if first == theirs:
        print("same as mailcast")
    else:
        at = next((k for k in range(min(len(first), len(theirs))) if first[k] != theirs[k]),
                  min(len(first), len(theirs)))
        print("differs from mailcast at byte %d: python %r, mailcast %r"
              % (at, first[at:at + 60], theirs[at:at + 60]))


if __name__ == "__main__":
    main()
