"""The Python contenders of bench/send: smtplib over one connection (or
THREADS), kept open for every message.

  build     each recipient's message made with email.message.EmailMessage
            (set_content, add_alternative(html)) and sent with
            SMTP.send_message, as the Python documentation shows it
  prebuilt  the prebuilt message (FIXTURE_DIR/prebuilt.eml, CRLF) sent as
            bytes with SMTP.sendmail to each recipient
  starttls  prebuilt, over THREADS connections in as many threads, each
            opened with SMTP.starttls() (certificate not checked: the
            bench's server has a self-signed one) and EHLO again

    python3 send_python.py MODE FIXTURE_DIR PORT COUNT MIN_SECONDS [THREADS]

Sends at least COUNT messages and for at least MIN_SECONDS to
127.0.0.1:PORT, recipient i being reader<i>@example.org, and prints
"messages=M seconds=S peak_kb=K" (the time includes connecting and QUIT).
"""
import os
import resource
import smtplib
import ssl
import sys
import threading
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from benchcommon import read, recipient

HOST = "127.0.0.1"
FROM = "Example News <news@example.com>"
FROM_ADDR = "news@example.com"




def build(names, i, text, html):
    name, addr, subject = recipient(names, i)
    msg = EmailMessage()
    msg["From"] = FROM
    msg["To"] = "%s <%s>" % (name, addr)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="example.com")
    msg.set_content(text.replace("{{name}}", name))
    msg.add_alternative(html.replace("{{name}}", name), subtype="html")
    return msg


def starttls(port, raw, count, threads):
    """COUNT prebuilt messages over THREADS STARTTLS connections, recipient
    i on connection i % THREADS. Returns the number sent."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sent = [0] * threads
    failures = []

    def run(k):
        try:
            smtp = smtplib.SMTP(HOST, port, local_hostname="localhost")
            smtp.starttls(context=ctx)
            smtp.ehlo("localhost")
            for i in range(k, count, threads):
                smtp.sendmail(FROM_ADDR, ["reader%d@example.org" % i], raw)
                sent[k] += 1
            smtp.quit()
        except Exception as e:  # reported once the others are done
            failures.append(repr(e))

    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if failures:
        sys.exit("send_python.py starttls: " + failures[0])
    return sum(sent)


def main():
    mode, fixtures = sys.argv[1], sys.argv[2]
    port, count, min_seconds = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    if mode not in ("build", "prebuilt", "starttls"):
        sys.exit("send_python.py: MODE is build, prebuilt or starttls")
    names = read(os.path.join(fixtures, "names.txt"), "r").splitlines()
    text = read(os.path.join(fixtures, "text.txt"), "r")
    html = read(os.path.join(fixtures, "body.html"), "r")
    raw = read(os.path.join(fixtures, "prebuilt.eml"))
    i = 0
    t0 = time.perf_counter()
    if mode == "starttls":
        i = starttls(port, raw, count, threads)
        elapsed = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print("messages=%d seconds=%.6f peak_kb=%d" % (i, elapsed, peak))
        return
    smtp = smtplib.SMTP(HOST, port, local_hostname="localhost")
    while True:
        if mode == "build":
            smtp.send_message(build(names, i, text, html))
        else:
            smtp.sendmail(FROM_ADDR, ["reader%d@example.org" % i], raw)
        i += 1
        if i >= count and time.perf_counter() - t0 >= min_seconds:
            break
    smtp.quit()
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("messages=%d seconds=%.6f peak_kb=%d" % (i, elapsed, peak))


if __name__ == "__main__":
    main()
