"""The Python contenders of bench/mime: the same personalised message built
with email.message.EmailMessage, the way the Python documentation shows it
(set_content, add_alternative, add_related, add_attachment, as_bytes),
which encodes the image and the PDF again for every message; or, with
"cached", with the image and PDF parts made (and base64-encoded) once and
attached to every message, as a program reusing its encoded parts would
(mailcast's parts cache does the same). The files are read once, up front.

    python3 mime_python.py FIXTURE_DIR COUNT MIN_SECONDS [cached]

Runs at least COUNT messages and MIN_SECONDS, prints
"messages=M seconds=S" and writes the first message to
FIXTURE_DIR/python.eml (python_cached.eml).
"""
import email.policy
import os
import sys
import time
from email.message import EmailMessage, MIMEPart
from email.utils import formatdate, make_msgid

from benchcommon import read, recipient

FROM = "Example News <news@example.com>"
CID = "<logo@example.com>"




def alternative(name, addr, subject, text, html):
    """The recipient's headers and text and HTML bodies. The SMTP policy
    writes CRLF line ends, as mailcast and LuaSocket do."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = FROM
    msg["To"] = "%s <%s>" % (name, addr)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="example.com")
    msg.set_content(text.replace("{{name}}", name))
    msg.add_alternative(html.replace("{{name}}", name), subtype="html")
    return msg


def build(name, addr, subject, text, html, png, pdf):
    msg = alternative(name, addr, subject, text, html)
    msg.get_payload()[1].add_related(png, "image", "png", cid=CID,
                                     filename="logo.png", disposition="inline")
    msg.add_attachment(pdf, maintype="application", subtype="pdf",
                       filename="brochure.pdf")
    return msg.as_bytes()


def encoded_parts(png, pdf):
    """The image and the PDF as MIME parts, encoded once."""
    logo = MIMEPart(policy=email.policy.SMTP)
    logo.set_content(png, "image", "png", cid=CID, filename="logo.png", disposition="inline")
    brochure = MIMEPart(policy=email.policy.SMTP)
    brochure.set_content(pdf, "application", "pdf", filename="brochure.pdf", disposition="attachment")
    return logo, brochure


def build_cached(name, addr, subject, text, html, parts):
    logo, brochure = parts
    msg = alternative(name, addr, subject, text, html)
    html_part = msg.get_payload()[1]
    html_part.make_related()
    html_part.attach(logo)
    msg.make_mixed()
    msg.attach(brochure)
    return msg.as_bytes()


def main():
    fixtures, count, min_seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    names = read(os.path.join(fixtures, "names.txt"), "r").splitlines()
    text = read(os.path.join(fixtures, "text.txt"), "r")
    html = read(os.path.join(fixtures, "body.html"), "r")
    png = read(os.path.join(fixtures, "logo.png"))
    pdf = read(os.path.join(fixtures, "brochure.pdf"))
    cached = len(sys.argv) > 4 and sys.argv[4] == "cached"
    parts = encoded_parts(png, pdf) if cached else None
    first = None
    i = 0
    t0 = time.perf_counter()
    while True:
        name, addr, subject = recipient(names, i)
        if cached:
            raw = build_cached(name, addr, subject, text, html, parts)
        else:
            raw = build(name, addr, subject, text, html, png, pdf)
        if first is None:
            first = raw
        i += 1
        elapsed = time.perf_counter() - t0
        if i >= count and elapsed >= min_seconds:
            break
    with open(os.path.join(fixtures, "python_cached.eml" if cached else "python.eml"), "wb") as f:
        f.write(first)
    print("messages=%d seconds=%.6f" % (i, elapsed))


if __name__ == "__main__":
    main()
