#!/usr/bin/python3
"""Reads a message with Python's email package (an independent parser) and
prints what it found, for spec/integration/python_email_spec.lua.

Usage: pyemail.py FILE

Output, one record a line, fields separated by single spaces; every
free-form value is base64 of its UTF-8 (or raw) bytes, "-" when absent:

  subject B64                      the decoded Subject
  from DISPLAY_B64 ADDR_B64        one line per mailbox of From
  to DISPLAY_B64 ADDR_B64          one line per mailbox of To
  defects N                        defects Python found, message-wide
  part TYPE FILENAME_B64 BODY_B64  one line per leaf part, in walk order

BODY is get_payload(decode=True). For text/* parts it is given in RFC 2045
canonical form (every line break CRLF), because Python's quoted-printable
decoder turns hard line breaks into LF while base64 and 7bit keep CRLF.
"""

import base64
import email
import email.policy
import sys


def b64(data):
    if data is None:
        return "-"
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def canonical(data):
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


def main(path):
    with open(path, "rb") as f:
        msg = email.message_from_bytes(f.read(), policy=email.policy.default)
    out = []
    subject = msg["subject"]
    out.append("subject " + b64(None if subject is None else str(subject)))
    for field in ("from", "to"):
        header = msg[field]
        for addr in (header.addresses if header is not None else ()):
            out.append("%s %s %s" % (field, b64(addr.display_name or None), b64(addr.addr_spec)))
    defects = list(msg.defects)
    for part in msg.walk():
        defects.extend(part.defects)
        if part.is_multipart():
            continue
        body = part.get_payload(decode=True)
        if body is None:
            body = b""
        if part.get_content_maintype() == "text":
            body = canonical(body)
        out.append("part %s %s %s" % (part.get_content_type(), b64(part.get_filename()), b64(body)))
    out.insert(len(out) - sum(1 for line in out if line.startswith("part ")),
               "defects %d" % len(defects))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
