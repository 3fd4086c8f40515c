#!/usr/bin/python3
"""A real SMTP server (aiosmtpd, Debian's python3-aiosmtpd) for the SMTP
client's specs, run as its own process by spec/support/servers.lua
(servers.aiosmtpd):

  /usr/bin/python3 spec/support/aiosmtpd_server.py --log FILE
      [--port-file FILE] [--lifetime SECONDS] [--tls | --implicit-tls]
      [--cert FILE --key FILE] [--user U --password P]
      [--auth-require-tls yes|no] [--auth-required yes|no]
      [--require-starttls] [--pipelining] [--smtputf8]
      [--size-limit BYTES] [--tls-max 1.2|1.3] [--hostname NAME]

It listens on 127.0.0.1 only, on a port the kernel picks, writes the port
to --port-file (or "port N" on stdout) and exits by itself after
--lifetime seconds (default 30).

--log gets one JSON object per line:
  {"type": "connect", "peer": "127.0.0.1:N"}
  {"type": "auth", "mechanism": "PLAIN", "login": "u", "success": true}
  {"type": "message", "peer", "helo", "mail_from", "mail_options",
   "rcpt_tos", "rcpt_options", "data" (UTF-8, invalid bytes replaced),
   "data_b64" (the exact bytes, base64), "tls" (bool), "tls_version",
   "tls_cipher", "implicit_tls" (bool), "login" (or null)}

Use /usr/bin/python3: a python3 earlier on PATH (pyenv, venv) usually
lacks aiosmtpd.
"""
import argparse
import asyncio
import base64
import json
import os
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

HOST = "127.0.0.1"  # never anything else


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--log", required=True)
    p.add_argument("--port-file")
    p.add_argument("--lifetime", type=float, default=30)
    p.add_argument("--tls", action="store_true", help="offer STARTTLS")
    p.add_argument("--implicit-tls", action="store_true", help="TLS from the first byte")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--tls-max", choices=["1.2", "1.3"])
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--auth-require-tls", choices=["yes", "no"], default="yes")
    p.add_argument("--auth-required", choices=["yes", "no"])
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--pipelining", action="store_true", help="advertise PIPELINING")
    p.add_argument("--smtputf8", action="store_true")
    p.add_argument("--size-limit", type=int, default=33554432)
    p.add_argument("--hostname", default="aiosmtpd.test")
    a = p.parse_args()
    if (a.tls or a.implicit_tls) and not (a.cert and a.key):
        p.error("--tls and --implicit-tls need --cert and --key")
    if a.tls and a.implicit_tls:
        p.error("--tls and --implicit-tls exclude each other")
    return a


class Log:
    """Appends one JSON object per line, flushed at once."""

    def __init__(self, path):
        self.f = open(path, "a", encoding="utf-8")

    def write(self, record):
        self.f.write(json.dumps(record, ensure_ascii=True) + "\n")
        self.f.flush()


def peer_text(peer):
    if isinstance(peer, tuple):
        return "%s:%s" % (peer[0], peer[1])
    return str(peer)


def text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class Handler:
    def __init__(self, args, log):
        self.args = args
        self.log = log

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # The 5-argument form replaces aiosmtpd's reply; it no longer sets
        # host_name itself.
        session.host_name = hostname
        out = []
        for line in responses:
            if line.startswith("250-AUTH") and not self.args.user:
                continue  # no credentials configured: do not offer AUTH
            out.append(line)
        if self.args.pipelining:
            out.insert(1, "250-PIPELINING")
        return out

    async def handle_DATA(self, server, session, envelope):
        obj = server.transport.get_extra_info("ssl_object") if server.transport else None
        login = None
        if session.authenticated and session.auth_data is not None:
            login = text(getattr(session.auth_data, "login", None))
        raw = envelope.original_content or b""
        self.log.write({
            "type": "message",
            "peer": peer_text(session.peer),
            "helo": session.host_name,
            "mail_from": envelope.mail_from,
            "mail_options": list(envelope.mail_options or []),
            "rcpt_tos": list(envelope.rcpt_tos),
            "rcpt_options": list(envelope.rcpt_options or []),
            "data": raw.decode("utf-8", "replace"),
            "data_b64": base64.b64encode(raw).decode("ascii"),
            "tls": obj is not None,
            "tls_version": obj.version() if obj else None,
            "tls_cipher": obj.cipher()[0] if obj else None,
            "implicit_tls": bool(self.args.implicit_tls),
            "login": login,
        })
        return "250 2.0.0 OK: message accepted"


class Server(SMTP):
    # aiosmtpd's defaults are "User Name\x00" and "Password\x00"; these are
    # what most servers send.
    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"
    log = None

    def connection_made(self, transport):
        # Called again with the TLS transport after STARTTLS: count once.
        if self.transport is None:
            self.log.write({"type": "connect",
                            "peer": peer_text(transport.get_extra_info("peername"))})
        super().connection_made(transport)


def tls_context(args):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    if args.tls_max == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def make_authenticator(args, log):
    user = args.user.encode("utf-8")
    password = (args.password or "").encode("utf-8")

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == user and auth_data.password == password)
        log.write({
            "type": "auth",
            "mechanism": mechanism,
            "login": text(getattr(auth_data, "login", None)),
            "success": ok,
        })
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticator


async def main(args):
    loop = asyncio.get_running_loop()
    log = Log(args.log)
    handler = Handler(args, log)
    ctx = tls_context(args) if (args.tls or args.implicit_tls) else None
    kw = {
        "hostname": args.hostname,  # else socket.getfqdn(): a DNS look-up
        "data_size_limit": args.size_limit,
        "enable_SMTPUTF8": args.smtputf8,
        "timeout": args.lifetime,
        "loop": loop,
    }
    if args.tls:
        kw["tls_context"] = ctx
        kw["require_starttls"] = args.require_starttls
    if args.user:
        kw["authenticator"] = make_authenticator(args, log)
        required = args.auth_required or "yes"
        kw["auth_required"] = required == "yes"
    else:
        kw["auth_exclude_mechanism"] = ["LOGIN", "PLAIN"]
    # aiosmtpd only counts STARTTLS as TLS: under implicit TLS it would
    # refuse AUTH with auth_require_tls, so the session is TLS already.
    kw["auth_require_tls"] = args.auth_require_tls == "yes" and not args.implicit_tls

    Server.log = log

    def protocol():
        return Server(handler, **kw)

    server = await loop.create_server(protocol, HOST, 0,
                                      ssl=ctx if args.implicit_tls else None)
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    else:
        print("port %d" % port, flush=True)
    try:
        await asyncio.sleep(args.lifetime)
    finally:
        server.close()


if __name__ == "__main__":
    # aiosmtpd 1.4 warns about its own use of Session.login_data on AUTH.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        asyncio.run(main(parse_args()))
    except KeyboardInterrupt:
        pass
    sys.exit(0)
