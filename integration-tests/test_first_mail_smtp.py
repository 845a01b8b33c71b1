"""test_first_mail_smtp: issue 2 from the sender's side - mail sent to smtp-edge with real
clients (raw sockets as in the seed's telnet transcripts, smtplib, swaks) is resolved
through directory-sync, handed over LMTP to lmtp-store and found in PostgreSQL byte for
byte; aliases, unknown users, foreign domains (no open relay), raw UTF-8 Korean headers,
pipelining, SMTP smuggling look-alikes, limits; lmtp-store spoken to directly with
smtplib.LMTP; and with lmtp-store down smtp-edge answers 451, never 250."""

import os
import re
import secrets
import shutil
import signal
import smtplib
import subprocess
import time
import unittest
from pathlib import Path

import stack
from stack import ENV


def smtp_port():
    return int(ENV["MAILSTACK_SMTP_PORT"])


def demo_address():
    return f"{ENV['MAILSTACK_DEMO_USER']}@{ENV['MAILSTACK_DOMAIN']}"


Conn = stack.ReplyConn


def stored(marker):
    """Full stored bytes (header_prefix || blob) of the messages whose body holds marker,
    with the owning account's uid, oldest first."""
    rows = stack.psql(
        "SELECT a.uid, encode(m.header_prefix || b.data, 'hex'), m.size"
        " FROM messages m JOIN message_blobs b ON b.sha256 = m.blob_sha256"
        " JOIN accounts a ON a.account_id = m.account_id"
        " WHERE position(convert_to(:'p1', 'UTF8') IN b.data) > 0"
        " ORDER BY m.internaldate, m.uid",
        marker)
    return [(r[0], bytes.fromhex(r[1]), int(r[2])) for r in rows]


def message(marker, subject=None, body=b"This is a test mailing\r\n"):
    subject = subject if subject is not None else f"first mail {marker}".encode()
    return (b"From: foo <foo@example.org>\r\n"
            b"To: hurd <" + demo_address().encode() + b">\r\n"
            b"Subject: " + subject + b"\r\n"
            b"Message-ID: <" + marker.encode() + b"@test.example>\r\n"
            b"\r\n" + body)


def deliver_raw(data, rcpts, sender="foo@example.org", ehlo="EHLO client.example.org"):
    """One whole transaction over a raw socket; returns the reply codes/lines of
    EHLO, MAIL, each RCPT, DATA and the final dot. `data` must be dot-stuffed already."""
    c = Conn(smtp_port())
    replies = [c.command(ehlo), c.command(f"MAIL FROM:<{sender}>")]
    replies += [c.command(f"RCPT TO:<{r}>") for r in rcpts]
    replies.append(c.command("DATA"))
    if replies[-1][0] == 354:
        c.send(data + b".\r\n")
        replies.append(c.reply())
    c.command("QUIT")
    c.close()
    return replies


def wait_dead(pid, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return True
        if "\nState:\tZ" in status:
            return True
        time.sleep(0.1)
    return False


@stack.needs("smtp-edge", "lmtp-store", "directory-sync")
class FirstMailSmtpTest(unittest.TestCase):
    def test_first_mail_is_stored_byte_for_byte(self):
        marker = secrets.token_hex(8)
        data = message(marker, body=b"line one\r\n\r\nlast line, no blank after\r\n")
        c = Conn(smtp_port())
        self.assertEqual(c.greeting[0], 220)
        self.assertEqual(c.greeting[1][0], f"220 {ENV['MAILSTACK_HOSTNAME']} ESMTP mailstack")
        code, lines = c.command("EHLO client.example.org")
        self.assertEqual(code, 250)
        keywords = {line[4:].split()[0].upper() for line in lines[1:]}
        for kw in ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"):
            self.assertIn(kw, keywords)
        self.assertIn("250-SIZE 20971520", lines)  # the seed's message_size_limit
        self.assertEqual(c.command("MAIL FROM:<foo@example.org>")[0], 250)
        self.assertEqual(c.command(f"RCPT TO:<{demo_address()}>")[0], 250)
        self.assertEqual(c.command("DATA")[0], 354)
        c.send(data + b".\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        m = re.match(r"250 2\.0\.0 Ok: delivered as (\S+)$", lines[-1])
        self.assertIsNotNone(m, lines)
        self.assertEqual(c.command("QUIT")[0], 221)
        c.close()

        rows = stored(marker)
        self.assertEqual(len(rows), 1)
        account, full, size = rows[0]
        self.assertEqual(account, ENV["MAILSTACK_DEMO_USER"])
        self.assertTrue(full.endswith(data), "the sent bytes are not a suffix of what was stored")
        self.assertEqual(size, len(full))
        head = full[:len(full) - len(data)].decode()
        self.assertTrue(head.startswith("Return-Path: <foo@example.org>\r\nDelivered-To: "), head)
        received = re.search(r"Received: from client\.example\.org \(\[127\.0\.0\.1\]\)\r\n"
                             r"\tby (\S+) \(mailstack\) with ESMTP id (\S+)\r\n", head)
        self.assertIsNotNone(received, head)
        self.assertEqual(received.group(1), ENV["MAILSTACK_HOSTNAME"])
        self.assertEqual(received.group(2), m.group(1))  # the id the client was told

    def test_seed_telnet_transcript(self):
        """Seed 2.2 / 4.2: no HELO, lower-case commands with a space after the colon."""
        marker = secrets.token_hex(8)
        c = Conn(smtp_port())
        self.assertEqual(c.command("mail from: <hurd@sds.co.kr>")[0], 250)
        self.assertEqual(c.command(f"rcpt to: <{demo_address()}>")[0], 250)
        code, lines = c.command("data")
        self.assertEqual(lines, ["354 End data with <CR><LF>.<CR><LF>"])
        body = ("From: hurd <hurd@sds.co.kr>\r\nTo: hurd <hurd@mydomain.com>\r\n"
                f"Subject: Test!! {marker}\r\n\r\n메일 발신 테스트입니다.\r\n").encode()
        c.send(body + b".\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.command("quit")[0], 221)
        self.assertTrue(c.closed())
        c.close()
        rows = stored(marker)
        self.assertEqual(len(rows), 1)
        self.assertTrue(rows[0][1].endswith(body))
        self.assertIn(b"with SMTP id", rows[0][1])

    def test_alias_reaches_the_same_account(self):
        marker = secrets.token_hex(8)
        with smtplib.SMTP("127.0.0.1", smtp_port(), timeout=30) as smtp:
            refused = smtp.sendmail("foo@example.org", [f"youngbong@{ENV['MAILSTACK_DOMAIN']}"],
                                    message(marker))
        self.assertEqual(refused, {})
        rows = stored(marker)
        self.assertEqual([r[0] for r in rows], [ENV["MAILSTACK_DEMO_USER"]])

    def test_two_addresses_of_one_account_give_one_copy(self):
        """hurd@ and youngbong@ share a maildrop: one LMTP recipient, one stored copy."""
        marker = secrets.token_hex(8)
        replies = deliver_raw(message(marker), [demo_address(),
                                                f"YoungBong@{ENV['MAILSTACK_DOMAIN'].upper()}"])
        self.assertEqual([r[0] for r in replies], [250, 250, 250, 250, 354, 250])
        self.assertEqual(len(stored(marker)), 1)

    def test_sub_address_detail_is_kept_for_the_store(self):
        marker = secrets.token_hex(8)
        local, domain = demo_address().split("@")
        replies = deliver_raw(message(marker), [f"{local}+lists@{domain}"])
        self.assertEqual(replies[-1][0], 250, replies)
        rows = stored(marker)
        self.assertEqual(len(rows), 1)
        self.assertIn(b"Delivered-To: ", rows[0][1])
        self.assertIn(b"+lists@", rows[0][1].split(b"\r\n\r\n")[0])

    def test_unknown_user_gets_550_at_rcpt(self):
        c = Conn(smtp_port())
        c.command("EHLO client.example.org")
        c.command("MAIL FROM:<foo@example.org>")
        code, lines = c.command(f"RCPT TO:<nobody-{secrets.token_hex(4)}@{ENV['MAILSTACK_DOMAIN']}>")
        self.assertEqual(code, 550)
        self.assertRegex(lines[-1], r"^550 5\.1\.1 <nobody-\w+@[^>]+>: Recipient address rejected: "
                                    r"User unknown$")
        # Nothing accepted, so DATA is refused; the session goes on.
        self.assertEqual(c.command("DATA")[0], 554)
        self.assertEqual(c.command("RSET")[0], 250)
        self.assertEqual(c.command("QUIT")[0], 221)
        c.close()

    def test_foreign_domain_is_relay_denied(self):
        """The seed's relay_domains = $mydestination: never an open relay."""
        c = Conn(smtp_port())
        c.command("EHLO client.example.org")
        c.command("MAIL FROM:<foo@mydomain.com>")
        for rcpt in ("bar@yahoo.co.kr", "hurd@example.test.evil.org", "hurd@[127.0.0.1]",
                     f"@{ENV['MAILSTACK_DOMAIN']}:bar@yahoo.co.kr"):
            code, lines = c.command(f"RCPT TO:<{rcpt}>")
            self.assertEqual(code, 554, rcpt)
            self.assertTrue(lines[-1].startswith("554 5.7.1 ") and "Relay access denied" in lines[-1])
        c.command("QUIT")
        c.close()

    def test_korean_utf8_headers_arrive_identical(self):
        """Seed 2.2's test mail: raw UTF-8 From/To/Subject, no RFC 2047 encoding."""
        marker = secrets.token_hex(8)
        data = ("From: 최영봉 <foo@mydomain.com>\r\n"
                f"To: 채림 <{demo_address()}>\r\n"
                f"Subject: 아싸 테스트... {marker}\r\n"
                "\r\n"
                "이것은 테스트 메일입니다. ^^;\r\n"
                "\r\n").encode("utf-8")
        c = Conn(smtp_port())
        c.command("EHLO client.example.org")
        self.assertEqual(c.command("MAIL FROM:<foo@mydomain.com> BODY=8BITMIME SMTPUTF8")[0], 250)
        self.assertEqual(c.command(f"RCPT TO:<{demo_address()}>")[0], 250)
        self.assertEqual(c.command("DATA")[0], 354)
        c.send(data + b".\r\n")
        self.assertEqual(c.reply()[0], 250)
        c.command("QUIT")
        c.close()
        rows = stored(marker)
        self.assertEqual(len(rows), 1)
        self.assertTrue(rows[0][1].endswith(data))
        self.assertIn(b"with UTF8SMTP id", rows[0][1])

    def test_utf8_recipient_address(self):
        """SMTPUTF8: a UTF-8 local part is accepted as syntax and looked up (unknown here)."""
        c = Conn(smtp_port())
        c.command("EHLO client.example.org")
        c.command("MAIL FROM:<최영봉@mydomain.com> SMTPUTF8")
        code, _ = c.command(f"RCPT TO:<채림@{ENV['MAILSTACK_DOMAIN']}>")
        self.assertEqual(code, 550)
        c.command("QUIT")
        c.close()

    @unittest.skipUnless(shutil.which("swaks"), "swaks is not installed")
    def test_swaks(self):
        marker = secrets.token_hex(8)
        r = subprocess.run(["swaks", "--to", demo_address(), "--from", "foo@example.org",
                            "--server", f"127.0.0.1:{smtp_port()}", "--header",
                            f"Subject: swaks {marker}", "--timeout", "30"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"<-  250 2\.0\.0 Ok: delivered as \S+")
        self.assertEqual(len(stored(marker)), 1)

    @unittest.skipUnless(shutil.which("swaks"), "swaks is not installed")
    def test_swaks_starttls(self):
        marker = secrets.token_hex(8)
        r = subprocess.run(["swaks", "--to", demo_address(), "--from", "foo@example.org",
                            "--server", f"127.0.0.1:{smtp_port()}", "--tls", "--header",
                            f"Subject: swaks tls {marker}", "--timeout", "30"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("TLS started", r.stdout)
        self.assertRegex(r.stdout, r"<~  250 2\.0\.0 Ok: delivered as \S+")
        self.assertRegex(r.stdout, r"<~  221 ")
        rows = stored(marker)
        self.assertEqual(len(rows), 1)
        self.assertIn(b"with ESMTPS id", rows[0][1])

    def test_pipelined_transaction_replies_in_order(self):
        marker = secrets.token_hex(8)
        c = Conn(smtp_port())
        c.send(b"EHLO client.example.org\r\nMAIL FROM:<foo@example.org>\r\n"
               b"RCPT TO:<" + demo_address().encode() + b">\r\n"
               b"RCPT TO:<nobody-" + marker.encode() + b"@" + ENV["MAILSTACK_DOMAIN"].encode() + b">\r\n"
               b"RCPT TO:<bar@yahoo.co.kr>\r\nDATA\r\n")
        self.assertEqual([c.reply()[0] for _ in range(6)], [250, 250, 250, 550, 554, 354])
        # The message, its final dot and the next commands in one write.
        c.send(message(marker) + b".\r\nNOOP\r\nQUIT\r\n")
        self.assertEqual([c.reply()[0] for _ in range(3)], [250, 250, 221])
        c.close()
        self.assertEqual(len(stored(marker)), 1)

    def test_smuggling_lookalikes_do_not_end_data(self):
        """<LF>.<LF>, <LF>.<CRLF> and <CR>.<CR> inside DATA are content: one message."""
        marker = secrets.token_hex(8)
        evil = secrets.token_hex(8)
        smuggled = ("MAIL FROM:<evil@example.org>\r\nRCPT TO:<" + demo_address() + ">\r\n"
                    "DATA\r\nSubject: " + evil + "\r\n\r\nsmuggled\r\n").encode()
        data = (message(marker, body=b"before\r\n") + b"x\n.\n" + smuggled + b"y\n.\r\n" +
                smuggled + b"z\r.\r" + smuggled)
        c = Conn(smtp_port())
        c.command("EHLO client.example.org")
        c.command("MAIL FROM:<foo@example.org>")
        c.command(f"RCPT TO:<{demo_address()}>")
        self.assertEqual(c.command("DATA")[0], 354)
        c.send(data + b"\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.command("QUIT")[0], 221)
        c.close()
        rows = stored(marker)
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][1].count(evil.encode()), 3)  # all three stayed inside
        self.assertEqual(len(stored(evil)), 1)  # and no second message was made of them

    def test_bad_input_is_answered_and_the_session_goes_on(self):
        c = Conn(smtp_port())
        c.command("EHLO client.example.org")
        self.assertEqual(c.command("FOO bar")[0], 500)
        self.assertEqual(c.command("MAIL FROM:foo")[0], 501)
        self.assertEqual(c.command("MAIL FROM:<a b@example.org>")[0], 501)
        self.assertEqual(c.command("RCPT TO:<hurd@example.test>")[0], 503)
        code, lines = c.command("NOOP " + "x" * 600)
        self.assertEqual((code, lines[-1][:9]), (500, "500 5.5.2"))
        self.assertEqual(c.command("MAIL FROM:<foo@example.org> SIZE=30000000")[0], 552)
        self.assertEqual(c.command("MAIL FROM:<foo@example.org> FROB=1")[0], 555)
        self.assertEqual(c.command("MAIL FROM:<foo@example.org>")[0], 250)
        self.assertEqual(c.command("MAIL FROM:<foo@example.org>")[0], 503)
        self.assertEqual(c.command("VRFY hurd")[0], 252)
        self.assertEqual(c.command("HELP")[0], 214)
        self.assertEqual(c.command("NOOP")[0], 250)
        self.assertEqual(c.command("QUIT")[0], 221)
        c.close()

    def test_too_many_errors_closes_the_session(self):
        c = Conn(smtp_port())
        c.send(b"BOGUS\r\n" * 25)
        codes = []
        while True:
            try:
                codes.append(c.reply()[0])
            except ConnectionError:
                break
        c.close()
        self.assertEqual(codes[-1], 421)
        self.assertLessEqual(len(codes), 21)

    def test_oversized_message_gets_552_after_the_dot(self):
        marker = secrets.token_hex(8)
        line = b"x" * 998 + b"\r\n"
        body = line * (21 * 1024 * 1024 // len(line))  # over the seed's 20 MiB
        c = Conn(smtp_port(), timeout=120)
        c.command("EHLO client.example.org")
        c.command("MAIL FROM:<foo@example.org>")
        c.command(f"RCPT TO:<{demo_address()}>")
        self.assertEqual(c.command("DATA")[0], 354)
        c.send(message(marker, body=body) + b".\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 552, lines)
        self.assertTrue(lines[-1].startswith("552 5.3.4"))
        self.assertEqual(c.command("NOOP")[0], 250)  # the session is still in step
        c.command("QUIT")
        c.close()
        self.assertEqual(stored(marker), [])

    def test_too_many_recipients(self):
        """qmgr_message_recipient_limit = 1000: the 1001st RCPT gets 452 4.5.3."""
        c = Conn(smtp_port(), timeout=120)
        c.command("EHLO client.example.org")
        c.command("MAIL FROM:<foo@example.org>")
        c.send(f"RCPT TO:<{demo_address()}>\r\n".encode() * 1001)
        codes = [c.reply() for _ in range(1001)]
        self.assertEqual({code for code, _ in codes[:1000]}, {250})
        self.assertEqual(codes[1000][0], 452)
        self.assertTrue(codes[1000][1][-1].startswith("452 4.5.3"))
        self.assertEqual(c.command("RSET")[0], 250)
        c.command("QUIT")
        c.close()

    def test_control_api(self):
        base = f"http://127.0.0.1:{ENV['MAILSTACK_SMTP_EDGE_CONTROL_PORT']}"
        import json
        import urllib.request
        with urllib.request.urlopen(base + "/readyz", timeout=10) as r:
            self.assertEqual(r.status, 200)
        with urllib.request.urlopen(base + "/v1/status", timeout=10) as r:
            status = json.load(r)
        self.assertEqual(status["service"], "smtp-edge")
        with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
            metrics = r.read().decode()
        self.assertIn("smtp_connections_total", metrics)


@stack.needs("lmtp-store", "directory-sync")
class LmtpDirectTest(unittest.TestCase):
    def test_smtplib_lmtp_one_reply_per_recipient(self):
        marker = secrets.token_hex(8)
        port = int(ENV["MAILSTACK_LMTP_PORT"])
        lmtp = smtplib.LMTP("127.0.0.1", port, timeout=30)
        refused = lmtp.sendmail("foo@example.org",
                                ["hurd@lmtp-store", f"nobody-{marker}@lmtp-store", "youngbong"],
                                message(marker))
        lmtp.quit()
        self.assertEqual(list(refused), [f"nobody-{marker}@lmtp-store"])
        self.assertEqual(refused[f"nobody-{marker}@lmtp-store"][0], 550)
        rows = stored(marker)
        self.assertGreaterEqual(len(rows), 1)
        self.assertEqual({r[0] for r in rows}, {ENV["MAILSTACK_DEMO_USER"]})

        c = Conn(port)
        c.send(b"LHLO client.example.org\r\nMAIL FROM:<foo@example.org>\r\n"
               b"RCPT TO:<hurd@lmtp-store>\r\nRCPT TO:<nobody-" + marker.encode() +
               b"@lmtp-store>\r\nRCPT TO:<youngbong@lmtp-store>\r\nDATA\r\n")
        self.assertEqual([c.reply()[0] for _ in range(6)], [250, 250, 250, 550, 250, 354])
        c.send(message(marker + "-2") + b".\r\n")
        finals = [c.reply() for _ in range(2)]  # one per accepted recipient, in order
        self.assertEqual([code for code, _ in finals], [250, 250])
        self.assertIn("hurd@lmtp-store", finals[0][1][-1])
        self.assertIn("youngbong@lmtp-store", finals[1][1][-1])
        self.assertEqual(c.command("QUIT")[0], 221)
        c.close()


@stack.needs("smtp-edge", "lmtp-store", "directory-sync")
class StoreDownTest(unittest.TestCase):
    def test_store_down_gives_451_never_250(self):
        pidfile = Path(ENV["MAILSTACK_STACK_DIR"], "run", "lmtp-store.pid")
        pid = int(pidfile.read_text())
        os.kill(pid, signal.SIGTERM)
        self.assertTrue(wait_dead(pid), "lmtp-store did not stop")
        marker = secrets.token_hex(8)
        try:
            replies = deliver_raw(message(marker), [demo_address()])
            self.assertEqual([r[0] for r in replies[:4]], [250, 250, 250, 354])
            code, lines = replies[-1]
            self.assertEqual(code, 451, lines)
            self.assertTrue(lines[-1].startswith("451 4.3.0"))
            # Pipelined the same way, the answer is still no 250.
            c = Conn(smtp_port())
            c.send(b"EHLO x\r\nMAIL FROM:<foo@example.org>\r\nRCPT TO:<" +
                   demo_address().encode() + b">\r\nDATA\r\n" + message(marker) +
                   b".\r\nQUIT\r\n")
            codes = [c.reply()[0] for _ in range(6)]
            c.close()
            self.assertEqual(codes, [250, 250, 250, 354, 451, 221])
        finally:
            r = stack.stack_sh("start", ENV["MAILSTACK_STACK_DIR"])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(stored(marker), [])
        # With the store back, the same smtp-edge delivers again.
        replies = deliver_raw(message(marker), [demo_address()])
        self.assertEqual(replies[-1][0], 250, replies)
        self.assertEqual(len(stored(marker)), 1)


if __name__ == "__main__":
    unittest.main()
