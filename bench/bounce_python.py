"""The Python contender of bench/bounce: a bounce reader and classifier
built on the standard library's email package, the way a Python shop
would write one. It reads RFC 3464 reports (email parses
message/delivery-status into one Message per field group), RFC 5965
feedback reports, text bounces from mail systems (recipient lines and
the reason after them), auto-replies, and classifies each failure with
the enhanced status code first and then reply-text rules, into the same
reasons as mailcast.

    python3 bounce_python.py MAILDIR RESULTS ROUNDS

Parses every file of MAILDIR/new ROUNDS times, prints "messages=M
seconds=S" for the best round and writes one line per file to RESULTS:
name, kind, first recipient, its reason (tab-separated, "-" for none).
"""
import email
import email.header
import email.policy
import os
import re
import sys
import time

STATUS = {
    "1.1": "user_unknown", "1.2": "host_unknown", "1.3": "user_unknown", "1.6": "mailbox_disabled",
    "2.1": "mailbox_disabled", "2.2": "mailbox_full", "2.3": "message_too_big", "3.4": "message_too_big",
    "4.4": "host_unknown", "4.7": "expired", "7.13": "mailbox_disabled", "7.23": "policy",
    "7.25": "policy", "7.26": "policy", "7.20": "policy", "7.21": "policy", "7.22": "policy",
}
SUBJECT = {"3": "system_error", "4": "network", "5": "system_error", "6": "content_rejected", "7": "policy"}
HARD = {"user_unknown", "mailbox_disabled", "host_unknown"}

# (pattern, reason) in order, first match wins.
RULES = [(re.compile(p, re.I), r) for p, r in [
    (r"sender address rejected|relay(ing)? (access )?denied|not permitted to relay|cannot find your hostname", "policy"),
    (r"receiving mail at a rate|unusual rate|\[tss04\]|temporarily deferred|too many (connections|messages|recipients)"
     r"|rate.?limit|throttl|gr[ea]ylist", "rate_limited"),
    (r"spamhaus|spamcop|\bsorbs|\bdnsbl|\brbl\b|blocked using|banned sending ip|block ?list|black ?list"
     r"|\[ts0[123]\]|\[bl2\d\]|reputation|client host rejected", "blocked"),
    (r"\bspf\b|\bdkim\b|\bdmarc\b|unauthenticated|not authenticated", "policy"),
    (r"virus|malware|infected", "content_rejected"),
    (r"phish|spam|unsolicited|nature of the content|suspicious", "spam"),
    (r"attachment|content (filter|rejected)|message content", "content_rejected"),
    (r"file too large|over ?quota|quota exceeded|exceed\w* .{0,40}quota|mailbox (is )?full|mailbox .{0,40}full"
     r"|inbox (is )?full|storage allocation|\bquota\b", "mailbox_full"),
    (r"size exceeds|too (large|big)|size limit|message length exceeds", "message_too_big"),
    (r"(account|mailbox|user|address) .{0,40}(disabled|suspended|inactive)|is disabled|has been disabled"
     r"|deactivated|is inactive", "mailbox_disabled"),
    (r"host or domain name not found|domain (name )?not found|domain does not exist|no such domain"
     r"|non-existent hosts|name lookup failure|host (not found|unknown)|null mx|does not accept mail", "host_unknown"),
    (r"does not exist|address couldn't be found|recipientnotfound|recipnotfound|recipient address rejected: access denied"
     r"|doesn't have a|no mailbox here|user unknown|unknown user|user not found|no such (user|mailbox|recipient|address)"
     r"|unknown (recipient|address)|recipient (unknown|not found)|unrouteable address|mailbox (not found|unavailable)"
     r"|invalid (recipient|mailbox|address)|not a valid|not a registered|address rejected", "user_unknown"),
    (r"message expired|delivery (time )?expired|retry timeout exceeded|could not be delivered for|giving up", "expired"),
    (r"\btls|starttls|\bssl|certificate|timed out|timeout|connection (refused|reset)|unreachable|no route to host"
     r"|lost connection", "network"),
    (r"mail loop|too many hops|routing loop|system storage|local (error|problem)|internal error|service unavailable"
     r"|try again later|temporary", "system_error"),
    (r"administrative prohibition|policy|access denied|not authorized|not allowed|rejected|refused|denied", "policy"),
    (r"blocked", "blocked"),
]]

CODE_RE = re.compile(r"(?:^|[\s;:(\"'#<\[])([45]\d\d)(?=[\s:-]|$)", re.M)
STATUS_RE = re.compile(r"(?:^|[\s;:(\"'#<\[=-])([245])\.(\d{1,3})\.(\d{1,3})(?![\d])")
ADDR_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
LINE_RE = re.compile(r"^\s*(?:rfc822;\s*)?<?([^\s<>@]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>?\s*(?:\([^)]*\))*\s*(:.*|\.\.\..*| on .*)?$",
                     re.I)
DAEMON_RE = re.compile(r"mailer-daemon|postmaster|mail delivery|microsoftexchange", re.I)
BOUNCE_SUBJECT_RE = re.compile(r"undeliver|returned mail|delivery status notification|delivery (failure|failed|delayed)"
                               r"|failure notice|could not|not delivered|returned to sender|address not found", re.I)
BOUNCE_WORDS_RE = re.compile(r"permanent error|could not be delivered|wasn't delivered|unable to deliver|undeliverable"
                             r"|following address\(es\) failed|permanent fatal errors|transient non-fatal"
                             r"|did not reach|delivery (has )?failed|failed permanently|cannot be reached", re.I)
AUTO_SUBJECT_RE = re.compile(r"^\s*(out of (the )?office|automatic reply|auto[- ]?reply|auto:|auto[- ]?response"
                             r"|vacation|abwesen|réponse automatique|absence)", re.I)
COPY_RE = re.compile(r"^.*(below this line is a copy of the message|this is a copy of the message"
                     r"|original message headers|^-{3,}.*(original|returned) message).*$", re.I | re.M)
DELAY_RE = re.compile(r"warning message only|will keep trying|will retry|still undelivered|delayed", re.I)


def classify(code, status, text, action):
    """Reason for one failure: a decisive status, then text rules, then
    the status's subject, then nothing."""
    text = " ".join(text.split())   # folded lines join phrases again
    if not code:
        m = CODE_RE.search(text)
        code = int(m.group(1)) if m else 0
    if not status:
        m = STATUS_RE.search(text)
        status = "%s.%s.%s" % m.groups() if m else ""
    parts = status.split(".")
    reason = None
    if len(parts) == 3:
        key = "%s.%s" % (parts[1], parts[2])
        decisive = STATUS.get(key)
        if decisive and (parts[0] == "5" or decisive not in HARD):
            reason = decisive
    if reason is None:
        for pattern, r in RULES:
            if pattern.search(text):
                reason = r
                break
    if reason is None and len(parts) == 3:
        reason = STATUS.get("%s.%s" % (parts[1], parts[2])) or SUBJECT.get(parts[1])
    if reason is None:
        reason = {552: "mailbox_full", 551: "user_unknown", 553: "user_unknown"}.get(code, "unknown")
    if action == "failed" and (status[:1] == "4" or (not status and str(code)[:1] == "4")):
        reason = "expired"
    return reason


def parts_of(msg, depth=0):
    """Leaves of the multipart structure, never inside enclosed messages."""
    if msg.is_multipart() and msg.get_content_maintype() == "multipart":
        if depth < 4:
            for p in msg.get_payload():
                yield from parts_of(p, depth + 1)
        return
    yield msg


def text_of(part):
    payload = part.get_payload(decode=True)
    if payload is None:
        return ""
    return payload.decode(part.get_content_charset() or "utf-8", "replace")


def read_text_recipients(text, own):
    """(address, diagnostic) pairs from a bounce written for people."""
    m = COPY_RE.search(text)
    if m:
        text = text[:m.start()]
    lines = text.splitlines()
    found = {}
    order = []
    for i, line in enumerate(lines):
        lm = LINE_RE.match(line)
        if not lm:
            continue
        addr = lm.group(1)
        if addr.lower() in own or DAEMON_RE.search(addr):
            continue
        diag = [(lm.group(2) or "").lstrip(":. ")]
        for nxt in lines[i + 1:i + 12]:
            if LINE_RE.match(nxt):
                break
            if not nxt.strip():
                if any(d for d in diag) and (CODE_RE.search(" ".join(diag)) or STATUS_RE.search(" ".join(diag))):
                    break
                continue
            diag.append(nxt.strip())
        if addr.lower() not in found:
            order.append(addr.lower())
            found[addr.lower()] = (addr, [])
        found[addr.lower()][1].extend(d for d in diag if d)
    return [(found[k][0], "\n".join(found[k][1])) for k in order]


def field_addr(value):
    if not value:
        return ""
    value = str(value)
    value = value.split(";", 1)[1] if ";" in value else value
    m = ADDR_RE.search(value)
    return m.group(0) if m else ""


def parse(raw):
    """(kind, first recipient, reason) of one message."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    dsn = arf = text = None
    mdn = False
    for part in parts_of(msg):
        ct = part.get_content_type()
        if ct in ("message/delivery-status", "message/global-delivery-status") and dsn is None:
            dsn = part
        elif ct == "message/feedback-report" and arf is None:
            arf = part
        elif ct == "message/disposition-notification":
            mdn = True
        elif ct == "text/plain" and text is None:
            text = part
    if arf is not None:
        blocks = arf.get_payload()
        fields = blocks[0] if isinstance(blocks, list) and blocks else email.message_from_string(str(blocks))
        rcpt = field_addr(fields.get("Original-Rcpt-To"))
        if not rcpt:   # no recipient named: the returned message's To
            for part in msg.walk():
                if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
                    inner = part.get_payload()
                    inner = inner[0] if isinstance(inner, list) else email.message_from_string(str(inner))
                    rcpt = field_addr(inner.get("To"))
                    break
        return "complaint", rcpt, "complaint"
    if dsn is not None:
        blocks = dsn.get_payload()
        if not isinstance(blocks, list):
            blocks = [email.message_from_string(b) for b in str(blocks).split("\n\n")]
        for block in blocks[1:] or blocks:
            rcpt = field_addr(block.get("Final-Recipient") or block.get("Original-Recipient"))
            if not rcpt:
                continue
            action = (block.get("Action") or "").strip().lower()
            if action in ("delivered", "relayed", "expanded"):
                return "dsn", rcpt, "-"
            status = (block.get("Status") or "").split()[0] if block.get("Status") else ""
            diag = str(block.get("Diagnostic-Code") or "")
            diag = diag.split(";", 1)[1] if ";" in diag else diag
            m = STATUS_RE.search(diag)
            if m and (not status or status.endswith(".0.0")) and m.group(1) == status[:1]:
                status = "%s.%s.%s" % m.groups()
            comment = (block.get("Status") or "")[len(status):]
            return "dsn", rcpt, classify(0, status, diag or comment, action)
        return "dsn", "-", "-"
    if mdn:
        return "autoreply", "-", "-"
    subject = str(msg.get("Subject") or "")
    body = text_of(text) if text is not None else ""
    daemon = DAEMON_RE.search(str(msg.get("From") or ""))
    null_rp = str(msg.get("Return-Path") or "").strip().startswith("<>")
    bounced = msg.get("X-Failed-Recipients") is not None or (
        daemon and (BOUNCE_SUBJECT_RE.search(subject) or BOUNCE_WORDS_RE.search(body[:4096]))) or (
        null_rp and BOUNCE_SUBJECT_RE.search(subject) and BOUNCE_WORDS_RE.search(body[:4096]))
    if bounced:
        own = {field_addr(msg.get(h)).lower() for h in ("From", "To", "Delivered-To", "Return-Path")}
        found = read_text_recipients(body, own)
        if not found:
            return "bounce", "-", "-"
        addr, diag = found[0]
        action = "delayed" if DELAY_RE.search(subject) or DELAY_RE.search(body) else "failed"
        return "bounce", addr, classify(0, "", diag, action)
    auto = str(msg.get("Auto-Submitted") or "").lower().startswith("auto-replied") or \
        str(msg.get("Precedence") or "").lower() == "auto_reply" or msg.get("X-Autoreply") is not None or \
        AUTO_SUBJECT_RE.search(str(email.header.make_header(email.header.decode_header(subject))))
    return ("autoreply" if auto else "none"), "-", "-"


def main():
    maildir, results, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    names = sorted(os.listdir(os.path.join(maildir, "new")))
    best = None
    out = []
    for _ in range(rounds):
        out = []
        t0 = time.perf_counter()
        for name in names:
            with open(os.path.join(maildir, "new", name), "rb") as f:
                raw = f.read()
            out.append((name,) + parse(raw))
        elapsed = time.perf_counter() - t0
        best = elapsed if best is None else min(best, elapsed)
    with open(results, "w") as f:
        for row in out:
            f.write("\t".join(x or "-" for x in row) + "\n")
    print("messages=%d seconds=%.6f" % (len(names), best))


if __name__ == "__main__":
    main()
