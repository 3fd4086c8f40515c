"""The Python contender of bench/page: the text part of an HTML body with
html.parser from the standard library, by the rules mailcast's
html_text follows (headings and paragraphs as blocks between blank
lines, list items as "- item", links as "text (url)", images by their
alt, references decoded, <head>, <script> and <style> left out).

    python3 page_python.py DOC COUNT MIN_SECONDS OUT

Converts DOC at least COUNT times and for MIN_SECONDS, prints
"messages=M seconds=S", and writes the last text to OUT.
"""
import sys
import time
from html.parser import HTMLParser

PARAS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr", "table", "figure", "address", "dl"}
BLOCKS = {"div", "tr", "section", "article", "header", "footer", "nav", "main", "aside", "figcaption",
          "dt", "dd", "center", "caption", "body", "tbody", "thead", "tfoot"}
SKIPS = {"script", "style", "title", "textarea", "noscript", "template", "iframe", "object", "select", "head"}


class Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out, self.breaks, self.space, self.depth, self.bullet = [], 0, False, 0, False
        self.skip, self.href, self.link_start = 0, None, None

    def emit(self, s):
        if self.out:
            if self.breaks:
                self.out.append("\n" * self.breaks)
            elif self.space:
                self.out.append(" ")
        if self.bullet and (not self.out or self.breaks):
            self.out.append("  " * (self.depth - 1) + "- ")
        self.bullet = False
        self.breaks, self.space = 0, False
        if self.href is not None and self.link_start is None:
            self.link_start = len(self.out)
        self.out.append(s)

    def owe(self, n):
        self.breaks = max(self.breaks, n)

    def handle_starttag(self, tag, attrs):
        if tag in SKIPS:
            self.skip += 1
        elif tag in PARAS:
            self.owe(2)
        elif tag in BLOCKS:
            self.owe(1)
        elif tag in ("ul", "ol"):
            self.depth += 1
            self.owe(2 if self.depth == 1 else 1)
        elif tag == "li":
            self.owe(1)
            self.bullet = True
        elif tag in ("td", "th"):
            self.space = True
        elif tag == "br":
            self.breaks = min(self.breaks + 1, 2)
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.handle_data(alt)
        elif tag == "a":
            self.href, self.link_start = (dict(attrs).get("href") or "").strip(), None

    def handle_endtag(self, tag):
        if tag in SKIPS:
            self.skip = max(0, self.skip - 1)
        elif tag in PARAS:
            self.owe(2)
        elif tag in BLOCKS or tag == "li":
            self.owe(1)
        elif tag in ("ul", "ol"):
            self.depth = max(0, self.depth - 1)
            self.owe(2 if self.depth == 0 else 1)
        elif tag in ("td", "th"):
            self.space = True
        elif tag == "a" and self.href is not None:
            href, start = self.href, self.link_start
            self.href = None
            if href and not href.startswith("#"):
                said = "".join(self.out[start:]) if start is not None else ""
                if said != href:
                    if said:
                        self.space = True
                        self.emit("(" + href + ")")
                    else:
                        self.emit(href)

    def handle_data(self, data):
        if self.skip:
            return
        words = data.replace("\xa0", " ").split()
        if data[:1].isspace():
            self.space = True
        for i, w in enumerate(words):
            if i:
                self.space = True
            self.emit(w)
        if data[-1:].isspace():
            self.space = True

    def text(self):
        return "".join(self.out) + "\n"


def main(doc_path, count, min_seconds, out_path):
    with open(doc_path, encoding="utf-8") as f:
        doc = f.read()
    count, min_seconds = int(count), float(min_seconds)
    n, start = 0, time.perf_counter()
    while True:
        p = Text()
        p.feed(doc)
        p.close()
        text = p.text()
        n += 1
        elapsed = time.perf_counter() - start
        if n >= count and elapsed >= min_seconds:
            break
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(text)
    print("messages=%d seconds=%.6f" % (n, elapsed))


if __name__ == "__main__":
    main(*sys.argv[1:])
