#!/usr/bin/python3
"""Lists what a page asked the network for, from a net log Chromium wrote
(--log-net-log), for spec/support/chromium.lua.

Usage: netlog.py FILE

Output: one URL per line: every request a document made (its initiator is
an origin, "null" for a file:// page's), not the browser's own (whose
initiator is "not an origin"). Nothing when the page fetched nothing.
"""

import json
import sys


def main():
    with open(sys.argv[1], "rb") as f:
        log = json.load(f)
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    for event in log.get("events", []):
        if names.get(event.get("type")) != "URL_REQUEST_START_JOB":
            continue
        params = event.get("params", {})
        if "url" in params and params.get("initiator") != "not an origin":
            print(params["url"])


if __name__ == "__main__":
    main()
