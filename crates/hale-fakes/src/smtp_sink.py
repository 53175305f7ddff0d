"""A real SMTP server for hale's tests: aiosmtpd on loopback, optionally with STARTTLS or
implicit TLS (a certificate from the test's private CA), a client certificate it requires,
and AUTH that accepts exactly one user name and password. Every message is written to
OUT/mail-N.eml; every AUTH attempt is a JSON line in OUT/logins.jsonl.

Usage: smtp_sink.py PORT OUT [--cert PEM --key PEM] [--implicit-tls] [--client-ca PEM]
                            [--user NAME --password-file FILE]
"""

import argparse
import asyncio
import itertools
import json
import os
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    """Writes each message it is given to a file of its own."""

    def __init__(self, out):
        self.out = out
        self.numbers = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        path = os.path.join(self.out, "mail-%d.eml" % next(self.numbers))
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        # Renamed into place, so a reader never sees half a message.
        os.rename(tmp, path)
        return "250 OK"


class Authenticator:
    """Accepts exactly `user` with `password`; records every attempt (never the password)."""

    def __init__(self, out, user, password, implicit_tls):
        self.log = os.path.join(out, "logins.jsonl")
        self.implicit_tls = implicit_tls
        self.user = user
        self.password = password

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user.encode()
            and auth_data.password == self.password.encode()
        )
        with open(self.log, "a") as f:
            record = {
                "mechanism": mechanism,
                "user": auth_data.login.decode(errors="replace")
                if isinstance(auth_data, LoginPassword)
                else None,
                "accepted": ok,
                "tls": self.implicit_tls or session.ssl is not None,
            }
            f.write(json.dumps(record) + "\n")
        return AuthResult(success=ok)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("out")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--implicit-tls", action="store_true")
    parser.add_argument("--client-ca")
    parser.add_argument("--user")
    parser.add_argument("--password-file")
    args = parser.parse_args()

    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        if args.client_ca:
            context.load_verify_locations(args.client_ca)
            context.verify_mode = ssl.CERT_REQUIRED

    options = {"hostname": "localhost"}
    if context is not None and not args.implicit_tls:
        options.update(tls_context=context, require_starttls=True)
    if args.user:
        with open(args.password_file) as f:
            password = f.read().strip()
        options.update(
            authenticator=Authenticator(args.out, args.user, password, args.implicit_tls),
            auth_required=True,
            # After STARTTLS only, as a real submission server (aiosmtpd cannot tell that
            # an implicit-TLS connection is encrypted, so it is not asked to there).
            auth_require_tls=context is not None and not args.implicit_tls,
        )
    sink = Sink(args.out)

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(
            lambda: SMTP(sink, **options),
            host="127.0.0.1",
            port=args.port,
            ssl=context if args.implicit_tls else None,
        )
    )
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
