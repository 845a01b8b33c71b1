"""test_first_mail_imap: issue 2 from the reader's side - a mail sent through smtp-edge is
read back over IMAP (imap-gateway) with a real client (imaplib), as in the seed's 4.2:
CAPABILITY, LOGIN (wrong and right password), LIST, SELECT/EXAMINE with the seed's lines,
FETCH of flags, size, date, header and body byte for byte (raw UTF-8 Korean headers
included), \\Seen set by BODY[] but not by BODY.PEEK[], BAD for malformed commands with the
session going on, STARTTLS, LOGOUT."""

import email.utils
import imaplib
import re
import smtplib
import socket
import ssl
import time
import unittest
import uuid

import stack
from stack import ENV

SEED_FLAGS = rb"(\Answered \Flagged \Draft \Deleted \Seen)"


def imap_port():
    return int(ENV["MAILSTACK_IMAP_PORT"])


def connect():
    return imaplib.IMAP4("127.0.0.1", imap_port(), timeout=30)


def login(conn=None):
    conn = conn or connect()
    conn.login(ENV["MAILSTACK_DEMO_USER"], ENV["MAILSTACK_DEMO_PASSWORD"])
    return conn


def make_message(token, subject=b"Test!!", sender=b"hurd <hurd@sds.co.kr>",
                 to=b"hurd <hurd@example.test>", body=None):
    """An RFC 5322 message as bytes with CRLF line ends and a unique Message-ID."""
    body = body if body is not None else "메일 발신 테스트입니다.\r\n".encode()
    return (b"From: " + sender + b"\r\n"
            b"To: " + to + b"\r\n"
            b"Subject: " + subject + b"\r\n"
            b"Date: " + email.utils.formatdate().encode() + b"\r\n"
            b"Message-ID: <" + token.encode() + b"@test.example>\r\n"
            b"\r\n" + body)


def send(message, rcpt=None):
    rcpt = rcpt or f"{ENV['MAILSTACK_DEMO_USER']}@{ENV['MAILSTACK_DOMAIN']}"
    with smtplib.SMTP("127.0.0.1", int(ENV["MAILSTACK_SMTP_PORT"]), timeout=30) as smtp:
        smtp.sendmail("foo@example.org", [rcpt], message)


def literal_items(data):
    """imaplib FETCH data as [(prefix bytes, literal bytes)] for the literals it holds."""
    return [item for item in data if isinstance(item, tuple)]


def response_text(data):
    """The FETCH response without its literals' contents (items after a literal included)."""
    return b"".join(item[0] if isinstance(item, tuple) else item for item in data if item)


def find_uid(conn, token, timeout=15):
    """The UID of the message with Message-ID <token@...> in the selected mailbox; waits
    for it, re-selecting so that new mail is seen."""
    deadline = time.monotonic() + timeout
    while True:
        typ, data = conn.select("INBOX")
        if typ == "OK" and int(data[0]) > 0:
            typ, data = conn.fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            for prefix, header in literal_items(data):
                if token.encode() in header:
                    return int(re.search(rb"UID (\d+)", prefix).group(1))
        if time.monotonic() > deadline:
            raise AssertionError(f"message {token} never showed up over IMAP")
        time.sleep(0.3)


def uid_fetch_literal(conn, uid, item):
    """(prefix, literal) of UID FETCH uid (item) where item yields one literal."""
    typ, data = conn.uid("FETCH", str(uid), f"({item})")
    if typ != "OK":
        raise AssertionError(f"UID FETCH {uid} {item}: {typ} {data}")
    items = literal_items(data)
    if len(items) != 1:
        raise AssertionError(f"UID FETCH {uid} {item}: expected one literal in {data}")
    return items[0]


def uid_flags(conn, uid):
    typ, data = conn.uid("FETCH", str(uid), "(FLAGS)")
    if typ != "OK" or not data or data[0] is None:
        raise AssertionError(f"UID FETCH {uid} FLAGS: {typ} {data}")
    return re.search(rb"FLAGS \(([^)]*)\)", data[0]).group(1).split()


def pg_inbox():
    """(uidvalidity, uidnext, message count, unseen count) of the demo user's INBOX."""
    rows = stack.psql(
        "SELECT m.uidvalidity, m.uidnext, "
        "(SELECT count(*) FROM messages x WHERE x.account_id = m.account_id "
        " AND x.mailbox_id = m.mailbox_id), "
        "(SELECT count(*) FROM messages x WHERE x.account_id = m.account_id "
        " AND x.mailbox_id = m.mailbox_id AND NOT ('\\Seen' = ANY(x.flags))) "
        "FROM mailboxes m JOIN accounts a USING (account_id) "
        "WHERE a.uid = :'p1' AND m.name = 'INBOX'", ENV["MAILSTACK_DEMO_USER"])
    return tuple(int(v) for v in rows[0]) if rows else None


class RawIMAP:
    """A plain socket for what imaplib will not send (malformed commands)."""

    def __init__(self):
        self.sock = socket.create_connection(("127.0.0.1", imap_port()), timeout=30)
        self.buf = b""
        self.greeting = self.line()

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def command(self, tag, text):
        """Sends raw bytes; returns (untagged lines, the tagged line)."""
        self.sock.sendall(text)
        untagged = []
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                return untagged, line
            untagged.append(line)

    def close(self):
        self.sock.close()


@stack.needs("smtp-edge", "lmtp-store", "imap-gateway", "directory-sync", "auth-service")
class FirstMailImapTest(unittest.TestCase):
    def test_greeting_and_capability(self):
        conn = connect()
        try:
            self.assertTrue(conn.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1"), conn.welcome)
            self.assertIn(b"mailstack IMAP4rev1 server ready", conn.welcome)
            typ, data = conn.capability()
            self.assertEqual(typ, "OK")
            caps = data[0].split()
            for cap in (b"IMAP4rev1", b"LITERAL+", b"ID", b"NAMESPACE", b"UNSELECT"):
                self.assertIn(cap, caps)
            # The dev stack has a certificate and allows plaintext LOGIN on loopback.
            self.assertIn(b"STARTTLS", caps)
            self.assertNotIn(b"LOGINDISABLED", caps)
            greeting_caps = re.search(rb"\[CAPABILITY ([^\]]*)\]", conn.welcome).group(1).split()
            self.assertEqual(sorted(greeting_caps), sorted(caps))
        finally:
            conn.logout()

    def test_login_wrong_password_then_right(self):
        conn = connect()
        try:
            with self.assertRaises(imaplib.IMAP4.error) as ctx:
                conn.login(ENV["MAILSTACK_DEMO_USER"], ENV["MAILSTACK_DEMO_PASSWORD"] + "x")
            self.assertIn("[AUTHENTICATIONFAILED]", str(ctx.exception))
            typ, data = conn.login(ENV["MAILSTACK_DEMO_USER"], ENV["MAILSTACK_DEMO_PASSWORD"])
            self.assertEqual(typ, "OK")
            self.assertIn(b"Logged in", data[0])
            caps = re.search(rb"\[CAPABILITY ([^\]]*)\]", data[0]).group(1).split()
            self.assertIn(b"IMAP4rev1", caps)
            self.assertNotIn(b"STARTTLS", caps)
        finally:
            conn.logout()

    def test_list_and_select_inbox_answer_the_seeds_lines(self):
        conn = login()
        try:
            typ, data = conn.list('""', "*")
            self.assertEqual(typ, "OK")
            self.assertTrue(any(re.fullmatch(rb'\((\\HasNoChildren|\\HasChildren)\) "\." "INBOX"', d)
                                for d in data), data)
            typ, data = conn.select("INBOX")
            self.assertEqual(typ, "OK")
            untagged = conn.untagged_responses
            uidvalidity, uidnext, count, unseen = pg_inbox()
            self.assertEqual(untagged["FLAGS"], [SEED_FLAGS])
            self.assertEqual(untagged["PERMANENTFLAGS"],
                             [rb"(\Answered \Flagged \Draft \Deleted \Seen \*)"])
            self.assertEqual(int(data[0]), count)
            self.assertIn("RECENT", untagged)
            self.assertEqual(int(untagged["UIDVALIDITY"][0]), uidvalidity)
            self.assertEqual(int(untagged["UIDNEXT"][0]), uidnext)
            self.assertEqual("UNSEEN" in untagged, unseen > 0)
            self.assertIn("READ-WRITE", untagged)
        finally:
            conn.logout()

    def test_first_mail_fetch_flags_uid_size_date_header_and_body(self):
        token = uuid.uuid4().hex
        message = make_message(token)
        sent_at = time.time()
        send(message)
        conn = login()
        try:
            uid = find_uid(conn, token)
            typ, data = conn.uid("FETCH", str(uid),
                                 "(FLAGS UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER])")
            self.assertEqual(typ, "OK")
            (prefix, header), = literal_items(data)
            self.assertIn(f"UID {uid}".encode(), prefix)
            self.assertNotIn(rb"\Seen", re.search(rb"FLAGS \(([^)]*)\)", prefix).group(1))
            size = int(re.search(rb"RFC822.SIZE (\d+)", prefix).group(1))
            date = imaplib.Internaldate2tuple(prefix)
            self.assertIsNotNone(date, prefix)
            self.assertLess(abs(time.mktime(date) - sent_at), 300)
            self.assertTrue(header.endswith(b"\r\n\r\n"), header[-20:])
            self.assertIn(b"Subject: Test!!\r\n", header)
            self.assertIn(f"Message-ID: <{token}@test.example>".encode(), header)

            prefix, body = uid_fetch_literal(conn, uid, "BODY[]")
            self.assertTrue(body.endswith(message), body[-200:])
            self.assertEqual(len(body), size)
            self.assertTrue(body.startswith(header))
            _, text = uid_fetch_literal(conn, uid, "BODY.PEEK[TEXT]")
            self.assertEqual(header + text, body)
            _, rfc822 = uid_fetch_literal(conn, uid, "RFC822.HEADER")
            self.assertEqual(rfc822, header)
            prefix, part = uid_fetch_literal(conn, uid, "BODY.PEEK[]<5.20>")
            self.assertIn(b"BODY[]<5>", prefix)
            self.assertEqual(part, body[5:25])
        finally:
            conn.logout()

    def test_korean_headers_come_back_byte_for_byte(self):
        token = uuid.uuid4().hex
        subject = "아싸 테스트...".encode()
        message = make_message(token, subject=subject,
                               sender="최영봉 <foo@example.test>".encode(),
                               to="채림 <hurd@example.test>".encode(),
                               body="이것은 테스트 메일입니다. ^^;\r\n\r\n".encode())
        send(message)
        conn = login()
        try:
            uid = find_uid(conn, token)
            _, body = uid_fetch_literal(conn, uid, "BODY.PEEK[]")
            self.assertTrue(body.endswith(message), body[-200:])
            _, field = uid_fetch_literal(conn, uid, "BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]")
            self.assertEqual(field, b"From: " + "최영봉 <foo@example.test>".encode() + b"\r\n"
                             b"Subject: " + subject + b"\r\n\r\n")
            typ, data = conn.uid("FETCH", str(uid), "(ENVELOPE)")
            self.assertEqual(typ, "OK")
            envelope = b"".join(part for item in data if item
                                for part in (item if isinstance(item, tuple) else (item,)))
            self.assertIn(subject, envelope)
            self.assertIn("최영봉".encode(), envelope)
        finally:
            conn.logout()

    def test_body_sets_seen_and_peek_does_not(self):
        token = uuid.uuid4().hex
        send(make_message(token))
        conn = login()
        try:
            uid = find_uid(conn, token)
            uid_fetch_literal(conn, uid, "BODY.PEEK[]")
            self.assertNotIn(rb"\Seen", uid_flags(conn, uid))
            typ, data = conn.uid("FETCH", str(uid), "(BODY[])")
            self.assertEqual(typ, "OK")
            # The implicit \Seen is reported in the same response.
            flags = re.search(rb"FLAGS \(([^)]*)\)", response_text(data))
            self.assertIsNotNone(flags, data)
            self.assertIn(rb"\Seen", flags.group(1).split())
            self.assertIn(rb"\Seen", uid_flags(conn, uid))
            rows = stack.psql("SELECT m.flags FROM messages m JOIN accounts a USING (account_id) "
                              "WHERE a.uid = :'p1' AND m.uid = :'p2'",
                              ENV["MAILSTACK_DEMO_USER"], str(uid))
            self.assertIn("\\Seen", rows[0][0])
        finally:
            conn.logout()

    def test_examine_is_read_only(self):
        token = uuid.uuid4().hex
        send(make_message(token))
        conn = login()
        try:
            uid = find_uid(conn, token)
            typ, data = conn.select("INBOX", readonly=True)
            self.assertEqual(typ, "OK")
            self.assertIn("READ-ONLY", conn.untagged_responses)
            self.assertEqual(conn.untagged_responses["PERMANENTFLAGS"], [b"()"])
            uid_fetch_literal(conn, uid, "BODY[]")
            self.assertNotIn(rb"\Seen", uid_flags(conn, uid))
        finally:
            conn.logout()

    def test_malformed_commands_get_bad_and_the_session_goes_on(self):
        raw = RawIMAP()
        try:
            self.assertTrue(raw.greeting.startswith(b"* OK"))
            _, tagged = raw.command(b"b1", b"b1 SELECT INBOX\r\n")
            self.assertTrue(tagged.startswith(b"b1 BAD"), tagged)
            user, password = ENV["MAILSTACK_DEMO_USER"], ENV["MAILSTACK_DEMO_PASSWORD"]
            _, tagged = raw.command(b"b2", b"b2 LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n" % (
                len(user), user.encode(), len(password), password.encode()))
            self.assertTrue(tagged.startswith(b"b2 OK"), tagged)
            for tag, line in ((b"b3", b"b3 FETCH 1 (FLAGS\r\n"),
                              (b"b4", b'b4 LOGIN "unterminated\r\n'),
                              (b"b5", b"b5 FROBNICATE\r\n"),
                              (b"b6", b"b6 FETCH 1 (FLAGS)\r\n"),
                              (b"b7", b"b7 LIST ) {3+}\r\nxyz\r\n")):
                _, tagged = raw.command(tag, line)
                self.assertTrue(tagged.startswith(tag + b" BAD "), (line, tagged))
            untagged, tagged = raw.command(b"b8", b"b8 SELECT INBOX\r\n")
            self.assertTrue(tagged.startswith(b"b8 OK [READ-WRITE]"), tagged)
            self.assertIn(b"* FLAGS " + SEED_FLAGS, untagged)
            _, tagged = raw.command(b"b9", b"b9 FETCH 1:x FLAGS\r\n")
            self.assertTrue(tagged.startswith(b"b9 BAD"), tagged)
            _, tagged = raw.command(b"c1", b"c1 NOOP\r\n")
            self.assertEqual(tagged, b"c1 OK NOOP completed")
        finally:
            raw.close()

    def test_repeated_failures_end_the_session_and_big_preauth_literals_are_refused(self):
        raw = RawIMAP()
        try:
            _, tagged = raw.command(b"f0", b"f0 LOGIN {70000}\r\n")
            self.assertTrue(tagged.startswith(b"f0 NO [TOOBIG]"), tagged)
            # An unknown user, so that no real account is slowed down or locked out.
            user = f"nosuch-{uuid.uuid4().hex[:8]}".encode()
            for tag in (b"f1", b"f2"):
                _, tagged = raw.command(tag, tag + b" LOGIN " + user + b" wrong\r\n")
                self.assertTrue(tagged.startswith(tag + b" NO [AUTHENTICATIONFAILED]"), tagged)
            untagged, tagged = raw.command(b"f3", b"f3 LOGIN " + user + b" wrong\r\n")
            self.assertTrue(tagged.startswith(b"f3 NO [AUTHENTICATIONFAILED]"), tagged)
            self.assertTrue(raw.line().startswith(b"* BYE"))
            self.assertEqual(raw.sock.recv(100), b"")
        finally:
            raw.close()

    def test_starttls_then_login(self):
        conn = connect()
        try:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            typ, _ = conn.starttls(ssl_context=ctx)
            self.assertEqual(typ, "OK")
            typ, data = conn.capability()
            self.assertNotIn(b"STARTTLS", data[0].split())
            login(conn)
            typ, data = conn.select("INBOX")
            self.assertEqual(typ, "OK")
        finally:
            conn.logout()

    def test_logout_says_bye_and_closes(self):
        conn = login()
        typ, data = conn.logout()
        self.assertEqual(typ, "BYE")
        self.assertIn(b"LOGOUT", data[0])
        raw = RawIMAP()
        untagged, tagged = raw.command(b"z1", b"z1 LOGOUT\r\n")
        self.assertEqual(untagged, [b"* BYE LOGOUT received"])
        self.assertTrue(tagged.startswith(b"z1 OK"), tagged)
        self.assertEqual(raw.sock.recv(100), b"")
        raw.close()


if __name__ == "__main__":
    unittest.main()
