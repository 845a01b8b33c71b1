"""test_lmtp_store: lmtp-store as any LMTP client (Postfix's lmtp, smtplib.LMTP) sees it:
one reply per accepted recipient after the data, bytes stored exactly, the body stored
once, bad input answered, and nothing half-written or lost across a kill -9."""

import os
import secrets
import signal
import smtplib
import socket
import time
import unittest
from pathlib import Path

import stack
from stack import ENV


class LmtpConn:
    """A raw LMTP conversation, so multi-reply answers can be read one by one."""

    def __init__(self):
        self.sock = socket.create_connection(("127.0.0.1", int(ENV["MAILSTACK_LMTP_PORT"])),
                                             timeout=15)
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        lines = [self.line()]
        while lines[-1][3:4] == "-":
            lines.append(self.line())
        return int(lines[-1][:3]), lines

    def close(self):
        self.sock.close()


def message_rows(marker):
    """(uid, account uid, full bytes) of stored messages whose body holds marker."""
    rows = stack.psql(
        "SELECT m.uid, a.uid, encode(m.header_prefix || b.data, 'hex'), m.size"
        " FROM messages m JOIN message_blobs b ON b.sha256 = m.blob_sha256"
        " JOIN accounts a ON a.account_id = m.account_id"
        " WHERE position(convert_to(:'p1', 'UTF8') IN b.data) > 0 ORDER BY m.uid",
        marker)
    return [(int(r[0]), r[1], bytes.fromhex(r[2]), int(r[3])) for r in rows]


def lmtp_pid():
    return int(Path(ENV["MAILSTACK_STACK_DIR"], "run", "lmtp-store.pid").read_text())


def alive(pid):
    """True while pid runs (a zombie waiting for its parent counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@stack.needs("lmtp-store", "directory-sync")
class LmtpStoreTest(unittest.TestCase):
    def test_one_reply_per_recipient_in_order(self):
        marker = secrets.token_hex(8)
        c = LmtpConn()
        self.assertEqual(c.greeting[0], 220)
        # Pipelined, as Postfix's LMTP client sends it.
        c.send(b"LHLO test.example\r\nMAIL FROM:<sender@example.org>\r\n"
               b"RCPT TO:<hurd@lmtp-store>\r\nRCPT TO:<nobody@lmtp-store>\r\n"
               b"RCPT TO:<cyrus@lmtp-store>\r\nDATA\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250)
        self.assertIn("PIPELINING", "\n".join(lines))
        self.assertEqual([c.reply()[0] for _ in range(5)], [250, 250, 550, 250, 354])
        c.send(f"Subject: {marker}\r\n\r\nbody\r\n.\r\n".encode())
        first, second = c.reply(), c.reply()
        self.assertEqual(first[0], 250)
        self.assertIn("hurd@lmtp-store", first[1][0])
        self.assertEqual(second[0], 250)
        self.assertIn("cyrus@lmtp-store", second[1][0])
        c.send(b"QUIT\r\n")
        self.assertEqual(c.reply()[0], 221)
        c.close()
        rows = message_rows(marker)
        self.assertEqual(sorted(r[1] for r in rows), ["cyrus", "hurd"])

    def test_bdat_chunks_one_reply_per_recipient(self):
        """CHUNKING (RFC 3030): chunks taken as they are (a lone dot line is content, a
        CRLF may straddle two chunks), 250 per chunk, one reply per recipient after LAST."""
        marker = secrets.token_hex(8)
        body = (f"Subject: {marker}\r\n\r\n.\r\n..two dots stay\r\n"
                f"채림\r\n").encode()
        first, second = body[:len(body) - 9], body[len(body) - 9:]
        c = LmtpConn()
        c.send(b"LHLO test.example\r\n")
        code, lines = c.reply()
        self.assertIn("CHUNKING", "\n".join(lines))
        c.send(b"MAIL FROM:<sender@example.org>\r\nRCPT TO:<hurd@lmtp-store>\r\n"
               b"RCPT TO:<nobody@lmtp-store>\r\nRCPT TO:<cyrus@lmtp-store>\r\n")
        self.assertEqual([c.reply()[0] for _ in range(4)], [250, 250, 550, 250])
        # Pipelined: both BDATs and a NOOP after them in one write.
        c.send(b"BDAT %d\r\n" % len(first) + first + b"BDAT %d LAST\r\n" % len(second)
               + second + b"NOOP\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250)
        self.assertIn(f"{len(first)} octets", lines[0])
        replies = [c.reply(), c.reply()]
        self.assertEqual([r[0] for r in replies], [250, 250])
        self.assertIn("hurd@lmtp-store", replies[0][1][0])
        self.assertIn("cyrus@lmtp-store", replies[1][1][0])
        self.assertEqual(c.reply()[0], 250)  # the NOOP: the stream stayed in step
        rows = message_rows(marker)
        self.assertEqual(sorted(r[1] for r in rows), ["cyrus", "hurd"])
        for _, _, data, _ in rows:
            self.assertTrue(data.endswith(body), data)
        # A refused BDAT still has its bytes read: they never run as commands.
        c.send(b"RSET\r\n")
        self.assertEqual(c.reply()[0], 250)
        evil = b"QUIT\r\n"
        c.send(b"BDAT %d LAST\r\n" % len(evil) + evil + b"NOOP\r\n")
        self.assertEqual(c.reply()[0], 503)
        self.assertEqual(c.reply()[0], 250)
        # DATA after BDAT in one transaction is refused; a bad size is a syntax error.
        c.send(b"MAIL FROM:<>\r\nRCPT TO:<hurd@lmtp-store>\r\nBDAT 2\r\nabDATA\r\n"
               b"BDAT x\r\nRSET\r\n")
        self.assertEqual([c.reply()[0] for _ in range(6)], [250, 250, 250, 503, 501, 250])
        c.send(b"QUIT\r\n")
        self.assertEqual(c.reply()[0], 221)
        c.close()

    def test_bdat_over_the_size_limit_is_refused_per_recipient(self):
        limit = int(ENV.get("MAILSTACK_MESSAGE_SIZE_LIMIT", "20971520"))
        c = LmtpConn()
        c.send(b"LHLO test.example\r\nMAIL FROM:<a@example.org>\r\n"
               b"RCPT TO:<hurd@lmtp-store>\r\nRCPT TO:<cyrus@lmtp-store>\r\n")
        self.assertEqual([c.reply()[0] for _ in range(4)], [250, 250, 250, 250])
        chunk = b"x" * (1 << 20)
        n = limit // len(chunk) + 1
        for i in range(n):
            c.send(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if i == n - 1 else b"") + chunk)
        for _ in range(n - 1):
            self.assertEqual(c.reply()[0], 250)
        replies = [c.reply(), c.reply()]
        self.assertEqual([r[0] for r in replies], [552, 552], replies)
        c.send(b"QUIT\r\n")
        self.assertEqual(c.reply()[0], 221)
        c.close()

    def test_bytes_kept_exactly_and_body_stored_once(self):
        marker = secrets.token_hex(8)
        # Raw UTF-8 headers as in the seed's test mail, a line that needs dot-stuffing on
        # the wire, and bytes that are not UTF-8 at all: all must come back unchanged.
        body = (f"From: 최영봉 <foo@example.test>\r\nTo: 채림 <hurd@example.test>\r\n"
                f"Subject: 아싸 테스트... {marker}\r\n\r\n이것은 테스트 메일입니다. ^^;\r\n"
                f".leading dot\r\n").encode() + b"8-bit \xb0\xa1\r\n"
        lmtp = smtplib.LMTP("127.0.0.1", int(ENV["MAILSTACK_LMTP_PORT"]))
        try:
            refused = lmtp.sendmail("foo@example.org", ["hurd@lmtp-store", "youngbong"], body)
        finally:
            lmtp.quit()
        self.assertEqual(refused, {})
        rows = message_rows(marker)
        self.assertEqual(len(rows), 2)
        for (uid, account, data, size), rcpt in zip(rows, ["hurd@lmtp-store", "youngbong"]):
            self.assertEqual(account, "hurd")
            prefix = f"Return-Path: <foo@example.org>\r\nDelivered-To: {rcpt}\r\n".encode()
            self.assertEqual(data, prefix + body)
            self.assertEqual(size, len(data))
        blobs = stack.psql("SELECT count(*) FROM message_blobs"
                           " WHERE position(convert_to(:'p1', 'UTF8') IN data) > 0", marker)
        self.assertEqual(blobs, [["1"]])
        self.assertEqual(rows[1][0], rows[0][0] + 1)  # ascending UIDs in one INBOX

    def test_large_message_intact_and_oversized_refused_per_recipient(self):
        marker = secrets.token_hex(8)
        line = (secrets.token_hex(40) + "\r\n").encode()
        body = f"Subject: {marker}\r\n\r\n".encode() + line * 30000  # about 2.5 MB
        lmtp = smtplib.LMTP("127.0.0.1", int(ENV["MAILSTACK_LMTP_PORT"]))
        self.assertEqual(lmtp.sendmail("a@example.org", ["hurd@lmtp-store"], body), {})
        lmtp.quit()
        rows = message_rows(marker)
        self.assertEqual(len(rows), 1)
        self.assertTrue(rows[0][2].endswith(body))
        # Over the seed's message_size_limit (20 MiB): each recipient hears 552 after the dot.
        c = LmtpConn()
        c.send(b"LHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<hurd@lmtp-store>\r\n"
               b"RCPT TO:<cyrus@lmtp-store>\r\nDATA\r\n")
        self.assertEqual([c.reply()[0] for _ in range(5)], [250, 250, 250, 250, 354])
        big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 21600
        c.send(big + b".\r\n")
        self.assertEqual([c.reply()[0] for _ in range(2)], [552, 552])
        c.send(b"NOOP\r\n")
        self.assertEqual(c.reply()[0], 250)
        c.close()

    def test_bad_input_gets_clear_errors(self):
        c = LmtpConn()
        c.send(b"HELO x\r\n")
        self.assertEqual(c.reply()[0], 500)
        c.send(b"MAIL FROM:<a@b>\r\n")
        self.assertEqual(c.reply()[0], 503)  # LHLO first
        c.send(b"LHLO x\r\n")
        c.reply()
        c.send(b"X" * 5000 + b"\r\n")
        self.assertEqual(c.reply()[0], 500)
        c.send(b"DATA\r\n")
        self.assertEqual(c.reply()[0], 503)
        c.send(b"MAIL FROM:<a@b> SIZE=999999999999\r\n")
        self.assertEqual(c.reply()[0], 552)
        c.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<a b c>\r\nDATA\r\n")
        self.assertEqual([c.reply()[0] for _ in range(3)], [250, 501, 554])
        c.send(b"NOOP\r\n")
        self.assertEqual(c.reply()[0], 250)  # the session goes on
        c.close()

    def test_kill_9_loses_nothing_answered_and_leaves_nothing_half_written(self):
        answered, partial = secrets.token_hex(8), secrets.token_hex(8)
        c = LmtpConn()
        c.send(b"LHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<hurd@lmtp-store>\r\nDATA\r\n")
        [c.reply() for _ in range(4)]
        c.send(f"Subject: {answered}\r\n\r\nkept\r\n.\r\n".encode())
        self.assertEqual(c.reply()[0], 250)
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<hurd@lmtp-store>\r\nDATA\r\n")
        [c.reply() for _ in range(3)]
        c.send(f"Subject: {partial}\r\n\r\nhalf a message\r\n".encode())
        time.sleep(0.3)
        pid = lmtp_pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        c.close()
        self.assertEqual(len(message_rows(answered)), 1)
        self.assertEqual(message_rows(partial), [])
        # The stack brings back what is missing; delivery goes on with fresh UIDs.
        r = stack.stack_sh("start", ENV["MAILSTACK_STACK_DIR"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        again = secrets.token_hex(8)
        lmtp = smtplib.LMTP("127.0.0.1", int(ENV["MAILSTACK_LMTP_PORT"]))
        lmtp.sendmail("a@example.org", ["hurd@lmtp-store"], f"Subject: {again}\r\n\r\nx\r\n")
        lmtp.quit()
        self.assertGreater(message_rows(again)[0][0], message_rows(answered)[0][0])


if __name__ == "__main__":
    unittest.main()
