"""A real SMTP server for the mail tests (aiosmtpd, PyPI): accepts every
message and writes each one, as delivered, to OUT_DIR/NNNN.json
({"mail_from", "rcpt_tos", "auth_login", "tls", "headers", "content_type",
"text", "html", "data"}: the MIME parts as Python's email package decodes them), written to a
temporary name first and renamed, so a reader never sees half a message.

    python3 smtp_sink.py OUT_DIR [--auth USER:PASSWORD] [--starttls CERT KEY]
                                 [--tls CERT KEY] [--refuse]
    python3 smtp_sink.py --parse FILE.eml   (prints the same JSON, for the outbox)

--auth       AUTH (PLAIN/LOGIN) required, with these credentials; allowed
             without TLS, for loopback tests.
--starttls   offer STARTTLS with this certificate, and require it.
--tls        implicit TLS from the first byte (SMTPS).
--refuse     answer every DATA with 554 (a relay that refuses).

Listens on 127.0.0.1, a free port; prints `listening on smtp://127.0.0.1:PORT`.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, out, refuse):
        self.out = out
        self.refuse = refuse
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "554 5.7.1 refused by the test relay"
        self.n += 1
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        record = parse(envelope.original_content)
        record.update(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "auth_login": login,
                "tls": server.transport.get_extra_info("sslcontext") is not None,
            }
        )
        name = os.path.join(self.out, "%04d.json" % self.n)
        with open(name + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(name + ".tmp", name)
        return "250 OK"


def parse(raw):
    """The message as Python's own MIME parser reads it: headers, the text
    and HTML alternatives decoded, and the raw bytes."""
    m = email.message_from_bytes(raw, policy=email.policy.default)
    text = m.get_body(("plain",))
    html = m.get_body(("html",))
    return {
        "headers": {k.lower(): str(v) for k, v in m.items()},
        "content_type": m.get_content_type(),
        "text": text.get_content() if text is not None else None,
        "html": html.get_content() if html is not None else None,
        "data": raw.decode("utf-8", "replace"),
    }


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--parse":
        with open(sys.argv[2], "rb") as f:
            print(json.dumps(parse(f.read())))
        return 0
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--auth")
    p.add_argument("--starttls", nargs=2)
    p.add_argument("--tls", nargs=2)
    p.add_argument("--refuse", action="store_true")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    sink = Sink(a.out, a.refuse)

    def authenticator(server, session, envelope, mechanism, data):
        ok = (
            a.auth is not None
            and isinstance(data, LoginPassword)
            and data.login.decode() + ":" + data.password.decode() == a.auth
        )
        return AuthResult(success=ok, handled=False, auth_data=data)

    def context(pair):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(pair[0], pair[1])
        return ctx

    starttls = context(a.starttls) if a.starttls else None

    def factory():
        return SMTP(
            sink,
            hostname="sink.test",
            tls_context=starttls,
            require_starttls=starttls is not None,
            authenticator=authenticator if a.auth else None,
            auth_required=a.auth is not None,
            auth_require_tls=False,
        )

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            factory,
            "127.0.0.1",
            0,
            ssl=context(a.tls) if a.tls else None,
        )
        port = server.sockets[0].getsockname()[1]
        print("listening on smtp://127.0.0.1:%d" % port, flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())
