"""Context rows for bench/encode: Python's base64 encoders, in MB/s of raw
bytes (10^6 per second), over MB megabytes of random bytes.

    python3 encode_python.py MB
"""
import base64
import os
import sys
import time

MIN_SECONDS = 0.5
ROUNDS = 3


def measure(label, encode, data):
    """Best of ROUNDS rounds of passes until MIN_SECONDS, as encode.c does."""
    encode(data)  # untimed
    best = None
    for _ in range(ROUNDS):
        passes, t0 = 0, time.perf_counter()
        while True:
            encode(data)
            passes += 1
            seconds = time.perf_counter() - t0
            if seconds >= MIN_SECONDS:
                break
        if best is None or passes / seconds > best[0] / best[1]:
            best = (passes, seconds)
    passes, seconds = best
    print("%-44s %10.0f %6d %7.2f" % (label, len(data) * passes / seconds / 1e6,
                                      passes, seconds))
    sys.stdout.flush()


def main():
    data = os.urandom(int(sys.argv[1]) << 20)
    measure("Python base64.encodebytes (76-char LF lines)", base64.encodebytes, data)
    measure("Python base64.b64encode (one line)", base64.b64encode, data)


if __name__ == "__main__":
    main()
