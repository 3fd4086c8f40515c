#!/usr/bin/python3
"""Reads a message with Python's email package (an independent parser) and
prints it as one JSON object, for the specs of web pages sent as they are
(spec/integration/html_file_spec.lua):

  {"defects": N, "parts": [{"type": ..., "cid": ... or null,
    "disposition": ... or null, "body": base64 of the decoded bytes,
    "text": the decoded text of text/* parts or null}, ...]}

one entry per leaf part, in walk order.

Usage: pypage.py FILE
"""

import base64
import email
import email.policy
import json
import sys


def main(path):
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    defects = len(msg.defects)
    parts = []
    for part in msg.walk():
        defects += len(part.defects) if part is not msg else 0
        if part.is_multipart():
            continue
        body = part.get_payload(decode=True) or b""
        cid = part.get("Content-ID")
        parts.append({
            "type": part.get_content_type(),
            "cid": cid.strip().strip("<>") if cid else None,
            "disposition": part.get_content_disposition(),
            "body": base64.b64encode(body).decode("ascii"),
            "text": part.get_content() if part.get_content_maintype() == "text" else None,
        })
    json.dump({"defects": defects, "parts": parts}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
