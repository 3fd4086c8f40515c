"""An independent DKIM implementation for the specs: dkimpy (Debian's
python3-dkim), run with /usr/bin/python3.

  dkim_verify.py verify MESSAGE KEYS
      checks every DKIM-Signature of MESSAGE and prints one line per
      signature, top to bottom: "pass" or "fail: reason". KEYS is a file
      of lines "NAME RECORD": the key record (the TXT text) of NAME,
      "selector._domainkey.domain", so no DNS is asked.

  dkim_verify.py sign MESSAGE KEY SELECTOR DOMAIN CANON ALGORITHM
      prints the DKIM-Signature field dkimpy makes for MESSAGE with the
      PEM private key KEY, CANON as "relaxed/simple", ALGORITHM
      "rsa-sha256" or "ed25519-sha256".
"""
import base64
import logging
import sys

import dkim


class Reasons(logging.Handler):
    """Keeps what dkimpy logs about a failure: its only account of why."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def read(path):
    with open(path, "rb") as f:
        return f.read()


def verify(message_path, keys_path):
    records = {}
    for line in read(keys_path).decode().splitlines():
        if line.strip():
            name, record = line.split(" ", 1)
            records[name.lower().rstrip(".")] = record.encode()

    def dnsfunc(name, timeout=5):
        return records.get(name.decode().lower().rstrip("."))

    message = read(message_path)
    count = len([n for n, _ in dkim.DKIM(message).headers if n.lower() == b"dkim-signature"])
    for idx in range(count):
        reasons = Reasons()
        logger = logging.getLogger("dkimpy-%d" % idx)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(reasons)
        d = dkim.DKIM(message, logger=logger)
        try:
            ok = d.verify(idx=idx, dnsfunc=dnsfunc)
        except dkim.DKIMException as e:
            ok = False
            reasons.messages.append(str(e))
        if ok:
            print("pass")
        else:
            print("fail: " + ("; ".join(reasons.messages[-1:]) or "no reason given"))


def raw_ed25519(pem):
    """dkimpy takes an Ed25519 key as the base64 of its 32-byte seed: the
    last 32 bytes of the PKCS#8 form."""
    body = b"".join(l for l in pem.splitlines() if not l.startswith(b"-----"))
    return base64.b64encode(base64.b64decode(body)[-32:])


def sign(message_path, key_path, selector, domain, canon, algorithm):
    key = read(key_path)
    if algorithm == "ed25519-sha256":
        key = raw_ed25519(key)
    header, _, body = canon.partition("/")
    sig = dkim.sign(read(message_path), selector.encode(), domain.encode(), key,
                    canonicalize=(header.encode(), (body or "simple").encode()),
                    signature_algorithm=algorithm.encode(), linesep=b"\r\n")
    sys.stdout.buffer.write(sig)


if __name__ == "__main__":
    if sys.argv[1] == "verify":
        verify(*sys.argv[2:4])
    else:
        sign(*sys.argv[2:8])
