"""test_lmtp_store: lmtp-store as any LMTP client (Postfix's lmtp, smtp-source -L,
smtplib.LMTP) sees it: one reply per accepted recipient after the data, each with its own
outcome (delivered, over quota, temporary failure), bytes stored exactly, the body stored
once, quota edges and the quotawarn notice, duplicate suppression and its window, +detail
folders, bad input answered, and nothing half-written or lost across a kill -9; AUTH and
STARTTLS for TCP clients outside the trusted networks."""

import base64
import imaplib
import os
import re
import secrets
import signal
import smtplib
import ssl
import subprocess
import time
import unittest
from pathlib import Path

import stack
from stack import ENV
from test_auth_service import PrivateService, free_port, plain_b64
from test_directory_auth import refresh, user_ldif


def LmtpConn(port=None):
    """A raw LMTP conversation (the stack's lmtp-store unless `port`), so multi-reply
    answers can be read one by one."""
    return stack.ReplyConn(port or int(ENV["MAILSTACK_LMTP_PORT"]), timeout=15)


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


def new_user():
    """A fresh LDAP user whose maildrop is on lmtp-store, once the mirror has it."""
    uid = f"dlv{secrets.token_hex(4)}"
    stack.ldap_add(user_ldif(uid, f"{uid}@lmtp-store", [uid], "{CRYPT}x",
                             20000 + secrets.randbelow(40000)))
    refresh()
    deadline = time.monotonic() + 15
    while not stack.psql("SELECT 1 FROM accounts WHERE uid = :'p1'", uid):
        if time.monotonic() > deadline:
            raise AssertionError(f"{uid} never reached the mirror")
        time.sleep(0.2)
    return uid


def lmtp_transaction(rcpts, message, sender="a@example.org"):
    """One pipelined LMTP transaction; returns (RCPT codes, [(code, text)] after the data)."""
    c = LmtpConn()
    wire = [b"LHLO test.example", f"MAIL FROM:<{sender}>".encode()]
    wire += [f"RCPT TO:<{r}>".encode() for r in rcpts]
    c.send(b"\r\n".join(wire + [b"DATA"]) + b"\r\n")
    c.reply()
    c.reply()
    rcpt_codes = [c.reply()[0] for _ in rcpts]
    accepted = rcpt_codes.count(250)
    if accepted == 0:
        c.close()
        return rcpt_codes, []
    code, _ = c.reply()
    assert code == 354, code
    stuffed = re.sub(rb"(?m)^\.", b"..", message)
    c.send(stuffed + b".\r\n")
    replies = [c.reply() for _ in range(accepted)]
    c.send(b"QUIT\r\n")
    c.reply()
    c.close()
    return rcpt_codes, [(code, lines[0]) for code, lines in replies]


def deliver(rcpt, message, sender="a@example.org"):
    """The one post-data reply code for a single recipient."""
    _, replies = lmtp_transaction([rcpt], message, sender)
    return replies[0][0]


def prefix_for(rcpt, sender="a@example.org"):
    return f"Return-Path: <{sender}>\r\nDelivered-To: {rcpt}\r\n".encode()


def quota_row(uid):
    """(storage_limit_kb, message_limit, storage_used, messages_used, warned) of an account."""
    rows = stack.psql("SELECT coalesce(storage_limit_kb::text, ''), coalesce(message_limit::text, ''),"
                      " storage_used, messages_used, warned FROM quotas q"
                      " JOIN accounts a USING (account_id) WHERE a.uid = :'p1'", uid)
    return tuple(rows[0]) if rows else None


def actual_usage(uid):
    """What the account's messages really add up to: (bytes, count)."""
    rows = stack.psql("SELECT coalesce(sum(size), 0), count(*) FROM messages m"
                      " JOIN accounts a USING (account_id) WHERE a.uid = :'p1'", uid)
    return int(rows[0][0]), int(rows[0][1])


def set_quota(uid, storage_kb, messages):
    stack.psql("UPDATE quotas SET storage_limit_kb = nullif(:'p2', '')::bigint,"
               " message_limit = nullif(:'p3', '')::bigint, warned = false"
               " WHERE account_id = (SELECT account_id FROM accounts WHERE uid = :'p1')",
               uid, "" if storage_kb is None else str(storage_kb),
               "" if messages is None else str(messages))


def mailbox_count(uid, mailbox, marker=""):
    rows = stack.psql("SELECT count(*) FROM messages m JOIN mailboxes x USING (account_id, mailbox_id)"
                      " JOIN accounts a USING (account_id)"
                      " JOIN message_blobs b ON b.sha256 = m.blob_sha256"
                      " WHERE a.uid = :'p1' AND x.name = :'p2'"
                      " AND position(convert_to(:'p3', 'UTF8') IN b.data) > 0",
                      uid, mailbox, marker)
    return int(rows[0][0])


def restart_lmtp(**settings):
    """Stops lmtp-store and starts it again with extra MAILSTACK_* settings (none: as the
    stack started it)."""
    pid = lmtp_pid()
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    r = stack.run(["bash", str(stack.STACK_SH), "start", ENV["MAILSTACK_STACK_DIR"]],
                  env={**stack.RUN_ENV, **settings}, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def log_events(event, **fields):
    """lmtp-store log lines of an event whose fields contain the given values."""
    text = Path(ENV["MAILSTACK_STACK_DIR"], "log", "lmtp-store.log").read_text(errors="replace")
    found = []
    for line in text.splitlines():
        if f'"event":"{event}"' not in line.replace(" ", ""):
            continue
        if all(f'"{k}":"{v}"' in line.replace(" ", "") for k, v in fields.items()):
            found.append(line)
    return found


def message_of_size(total, rcpt, marker, sender="a@example.org"):
    """A message whose stored size (with the per-recipient prefix) is exactly total."""
    head = f"Subject: {marker}\r\n\r\n".encode()
    fill = total - len(prefix_for(rcpt, sender)) - len(head) - 2
    assert fill >= 0, total
    return head + b"x" * fill + b"\r\n"


def set_script(uid, text, name="main"):
    """Stores text as the account's one active Sieve script (as ManageSieve will)."""
    stack.psql("UPDATE sieve_scripts SET active = false WHERE account_id ="
               " (SELECT account_id FROM accounts WHERE uid = :'p1');"
               " INSERT INTO sieve_scripts (account_id, name, script, active)"
               " SELECT account_id, :'p2', :'p3', true FROM accounts WHERE uid = :'p1'"
               " ON CONFLICT (account_id, name) DO UPDATE SET script = excluded.script,"
               " active = true", uid, name, text)


def make_folder(uid, name):
    stack.psql("INSERT INTO mailboxes (account_id, name, uidvalidity)"
               " SELECT account_id, :'p2', 1 FROM accounts WHERE uid = :'p1'"
               " ON CONFLICT DO NOTHING", uid, name)


def outbound(uid, kind):
    """(recipient, sender, bytes) of the account's pending outbound mail of a kind."""
    rows = stack.psql("SELECT o.recipient, o.sender,"
                      " encode(coalesce(o.message, o.header_prefix || b.data), 'hex')"
                      " FROM outbound_pending o JOIN accounts a USING (account_id)"
                      " LEFT JOIN message_blobs b ON b.sha256 = o.blob_sha256"
                      " WHERE a.uid = :'p1' AND o.kind = :'p2' ORDER BY o.outbound_id", uid, kind)
    return [(r[0], r[1], bytes.fromhex(r[2])) for r in rows]


SEED_SCRIPT = """require ["reject", "fileinto"];

if address :contains :all "From" "hurd@mydomain.co.kr" {
        reject "Testing..";
}
"""

ROUTING_SCRIPT = r"""require ["fileinto", "copy", "imap4flags", "vacation"];
if header :contains "Subject" "tolists" { fileinto :copy :flags "\\Flagged" "INBOX.lists"; }
elsif header :contains "Subject" "short name" { fileinto "lists"; }
elsif header :contains "Subject" "spam" { discard; }
elsif header :contains "Subject" "forward" { redirect "elsewhere@example.org"; }
elsif header :contains "Subject" "away" { vacation :days 3 :subject "Away" "I am away."; }
"""


@stack.needs("lmtp-store", "directory-sync")
class SieveDeliveryTest(unittest.TestCase):
    """The recipient's active script decides where each copy goes."""

    def test_seed_script_rejects_as_written(self):
        uid, other = new_user(), new_user()
        set_script(uid, SEED_SCRIPT)
        marker = secrets.token_hex(8)
        message = (f"From: hurd <hurd@mydomain.co.kr>\r\nTo: {uid}@example.test\r\n"
                   f"Subject: {marker}\r\n\r\n메일 발신 테스트입니다.\r\n").encode()
        _, replies = lmtp_transaction([f"{uid}@lmtp-store", f"{other}@lmtp-store"], message)
        self.assertEqual([code for code, _ in replies], [550, 250])
        self.assertIn("5.7.1", replies[0][1])
        self.assertIn("Testing..", replies[0][1])
        self.assertEqual(mailbox_count(uid, "INBOX", marker), 0)
        self.assertEqual(mailbox_count(other, "INBOX", marker), 1)
        # Mail from anyone else is kept.
        self.assertEqual(deliver(f"{uid}@lmtp-store", message.replace(b"mydomain.co.kr", b"sds.co.kr")), 250)
        self.assertEqual(mailbox_count(uid, "INBOX", marker), 1)

    def test_broken_or_oversized_script_keeps_the_mail(self):
        uid = new_user()
        for script in ('require "fileinto";\nif header :is "Subject" {\n', "#" * 102401 + "\nkeep;"):
            set_script(uid, script)
            marker = secrets.token_hex(8)
            self.assertEqual(deliver(f"{uid}@lmtp-store", f"Subject: {marker}\r\n\r\nx\r\n".encode()), 250)
            self.assertEqual(mailbox_count(uid, "INBOX", marker), 1)
        self.assertEqual(len(log_events("lmtp.sieve_invalid", rcpt=f"{uid}@lmtp-store")), 2)

    def test_fileinto_copy_flags_discard_redirect_vacation(self):
        uid = new_user()
        rcpt = f"{uid}@lmtp-store"
        make_folder(uid, "INBOX.lists")
        set_script(uid, ROUTING_SCRIPT)

        def send(subject, sender="someone@example.org"):
            marker = secrets.token_hex(8)
            body = (f"From: <{sender}>\r\nTo: <{uid}@lmtp-store>\r\nSubject: {subject} {marker}\r\n"
                    f"Message-ID: <{marker}@example.org>\r\n\r\nx\r\n").encode()
            self.assertEqual(deliver(rcpt, body, sender), 250)
            return marker

        copied = send("tolists")
        self.assertEqual((mailbox_count(uid, "INBOX", copied), mailbox_count(uid, "INBOX.lists", copied)), (1, 1))
        flags = stack.psql("SELECT x.name, m.flags FROM messages m JOIN mailboxes x USING (account_id, mailbox_id)"
                           " JOIN message_blobs b ON b.sha256 = m.blob_sha256"
                           " WHERE position(convert_to(:'p1', 'UTF8') IN b.data) > 0 ORDER BY 1", copied)
        self.assertEqual(flags, [["INBOX", "{}"], ["INBOX.lists", '{"\\\\Flagged"}']])
        short = send("short name")
        self.assertEqual((mailbox_count(uid, "INBOX", short), mailbox_count(uid, "INBOX.lists", short)), (0, 1))
        spam = send("spam")
        self.assertEqual(mailbox_count(uid, "INBOX", spam), 0)
        forwarded = send("forward")
        self.assertEqual(mailbox_count(uid, "INBOX", forwarded), 0)  # redirect cancels keep
        pending = outbound(uid, "redirect")
        self.assertEqual(len(pending), 1)
        self.assertEqual(pending[0][:2], ("elsewhere@example.org", "someone@example.org"))
        self.assertIn(forwarded.encode(), pending[0][2])
        self.assertTrue(pending[0][2].startswith(prefix_for(rcpt, "someone@example.org")))
        away = send("away", "friend@example.org")
        send("away again", "friend@example.org")  # one reply per sender per period
        send("away", "other@example.org")
        self.assertEqual(mailbox_count(uid, "INBOX", away), 1)  # vacation keeps the mail
        replies = outbound(uid, "vacation")
        self.assertEqual([(r[0], r[1]) for r in replies],
                         [("friend@example.org", ""), ("other@example.org", "")])
        self.assertIn(b"Subject: Away", replies[0][2])
        self.assertIn(b"I am away.", replies[0][2])
        self.assertIn(b"Auto-Submitted: auto-replied", replies[0][2])
        self.assertTrue(replies[0][2].startswith(b"Date: "))
        self.assertTrue(log_events("lmtp.redirect_pending", rcpt=rcpt))


def encoded_word(text, charset):
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def if_yes_else_no(require, test):
    return (f'require {require};\n'
            f'if {test} {{ fileinto "yes"; }} else {{ fileinto "no"; }}\n')


YES, NO, INBOX = ["INBOX.yes"], ["INBOX.no"], ["INBOX"]
KOREAN_AD = "(광고) 특가 안내"

# One row per Sieve construct: (name, script, [(message, envelope sender, outcome)]), the
# outcome being the places the copy landed ("mailbox[ flags]", sorted) or (550, reason).
# Each construct has a message that must match and one that must not, so a test that
# always answers the same fails.
SIEVE_CONSTRUCTS = [
    ("address :localpart", if_yes_else_no('"fileinto"', 'address :localpart :is "From" "boss"'),
     [("From: Boss <BOSS@corp.example>\n", None, YES),
      ("From: <bossy@corp.example>\n", None, NO)]),
    ("address :domain", if_yes_else_no('"fileinto"', 'address :domain :is "To" "example.test"'),
     [("To: someone@Example.TEST\n", None, YES),
      ("To: someone@example.testing\n", None, NO)]),
    ("address :user and :detail (subaddress)",
     if_yes_else_no('["fileinto", "subaddress"]',
                    'allof (address :user :is "To" "box", address :detail :is "To" "lists")'),
     [("To: box+lists@example.test\n", None, YES),
      ("To: box+other@example.test\n", None, NO),
      ("To: boxes+lists@example.test\n", None, NO)]),
    ("header :contains", if_yes_else_no('"fileinto"', 'header :contains "Subject" "invoice"'),
     [("Subject: Your INVOICE 42\n", None, YES), ("Subject: Your receipt\n", None, NO)]),
    ("header :matches", if_yes_else_no('"fileinto"', 'header :matches "Subject" "report-??-*"'),
     [("Subject: report-07-final\n", None, YES), ("Subject: report-7-final\n", None, NO)]),
    ("header :is with i;octet",
     if_yes_else_no('"fileinto"', 'header :is :comparator "i;octet" "Subject" "ABC"'),
     [("Subject: ABC\n", None, YES), ("Subject: abc\n", None, NO)]),
    ("envelope", if_yes_else_no('["fileinto", "envelope"]',
                                'envelope :domain :is "from" "lists.example.org"'),
     [("From: <a@example.org>\n", "owner@lists.example.org", YES),
      ("From: <owner@lists.example.org>\n", "a@example.org", NO)]),
    ("exists", if_yes_else_no('"fileinto"', 'exists ["X-Spam-Flag", "List-Id"]'),
     [("X-Spam-Flag: YES\nList-Id: <l.example.org>\n", None, YES),
      ("X-Spam-Flag: YES\n", None, NO)]),
    ("size :over", if_yes_else_no('"fileinto"', "size :over 2K"),
     [("Subject: big\n\n" + "x" * 3000 + "\n", None, YES), ("Subject: small\n", None, NO)]),
    ("size :under", if_yes_else_no('"fileinto"', "size :under 1K"),
     [("Subject: small\n", None, YES), ("Subject: big\n\n" + "x" * 3000 + "\n", None, NO)]),
    ("allof", if_yes_else_no('"fileinto"', 'allof (header :contains "Subject" "a1",'
                                           ' header :contains "Subject" "b2")'),
     [("Subject: a1 b2\n", None, YES), ("Subject: a1 only\n", None, NO)]),
    ("anyof", if_yes_else_no('"fileinto"', 'anyof (header :is "X-Prio" "high",'
                                           ' header :contains "Subject" "urgent")'),
     [("Subject: urgent\n", None, YES), ("X-Prio: high\n", None, YES),
      ("X-Prio: low\nSubject: later\n", None, NO)]),
    ("not", if_yes_else_no('"fileinto"', 'not header :contains "Subject" "newsletter"'),
     [("Subject: hello\n", None, YES), ("Subject: our newsletter\n", None, NO)]),
    ("true and false", 'require "fileinto";\nif false { fileinto "no"; }\n'
                       'if true { fileinto "yes"; }\n',
     [("Subject: any\n", None, YES)]),
    ("elsif and else", 'require "fileinto";\nif header :is "X-N" "1" { fileinto "no"; }\n'
                       'elsif header :is "X-N" "2" { fileinto "yes"; }\nelse { keep; }\n',
     [("X-N: 2\n", None, YES), ("X-N: 1\n", None, NO), ("X-N: 3\n", None, INBOX)]),
    ("stop", 'require "fileinto";\nif header :contains "Subject" "one" { fileinto "yes"; stop; }\n'
             'fileinto "no";\n',
     [("Subject: one\n", None, YES), ("Subject: two\n", None, NO)]),
    ("body :text", if_yes_else_no('["fileinto", "body"]', 'body :text :contains "unsubscribe"'),
     [("Subject: hi\n\nclick to UNSUBSCRIBE here\n", None, YES),
      ("Subject: unsubscribe\n\nnothing to see\n", None, NO)]),
    ("variables: ${1} from :matches into fileinto",
     'require ["fileinto", "variables"];\n'
     'if header :matches "Subject" "[*] *" { set :lower "folder" "${1}";'
     ' fileinto "INBOX.${folder}"; }\n',
     [("Subject: [PROJ] kickoff\n", None, ["INBOX.proj"]),
      ("Subject: no brackets\n", None, INBOX)]),
    ("imap4flags setflag/addflag/removeflag/hasflag",
     'require ["fileinto", "imap4flags"];\n'
     'if header :contains "Subject" "flagme" { setflag ["\\\\Seen", "$Work"];'
     ' addflag "\\\\Flagged"; removeflag "\\\\Seen"; }\n'
     'if hasflag :is "\\\\Flagged" { fileinto "yes"; }\n',
     [("Subject: flagme\n", None, ["INBOX.yes $Work \\Flagged"]),
      ("Subject: leave me\n", None, INBOX)]),
    ("reject on an RFC 2047 Korean subject",
     'require "reject";\nif header :contains "Subject" "광고" { reject "no ads please"; }\n',
     [(f"Subject: {encoded_word(KOREAN_AD, 'utf-8')}\n", None, (550, "no ads please")),
      (f"Subject: {encoded_word(KOREAN_AD, 'euc-kr')}\n", None, (550, "no ads please")),
      (f"Subject: {encoded_word('회의 안내', 'euc-kr')}\n", None, INBOX)]),
    ("ereject", 'require "ereject";\nif address :is "From" "spammer@example.org"'
                ' { ereject "go away"; }\n',
     [("From: <spammer@example.org>\n", None, (550, "go away")),
      ("From: <friend@example.org>\n", None, INBOX)]),
]


def places(marker):
    """Where the copies of the message marked by marker landed: "mailbox[ flags]", sorted."""
    rows = stack.psql(
        "SELECT rtrim(x.name || ' ' || array_to_string(ARRAY(SELECT f FROM unnest(m.flags) f"
        " ORDER BY f COLLATE \"C\"), ' ')) FROM messages m"
        " JOIN mailboxes x USING (account_id, mailbox_id)"
        " JOIN message_blobs b ON b.sha256 = m.blob_sha256"
        " WHERE position(convert_to(:'p1', 'UTF8') IN b.data) > 0 ORDER BY 1", marker)
    return [r[0] for r in rows]


@stack.needs("lmtp-store", "directory-sync")
class SieveConstructTest(unittest.TestCase):
    """Every Sieve construct of issue 4 through LMTP, one table row each."""

    def test_each_construct(self):
        uid = new_user()
        for folder in ("INBOX.yes", "INBOX.no", "INBOX.proj"):
            make_folder(uid, folder)
        rcpt = f"{uid}@lmtp-store"
        for name, script, cases in SIEVE_CONSTRUCTS:
            set_script(uid, script)
            for i, (headers, sender, expected) in enumerate(cases):
                with self.subTest(construct=name, case=i):
                    marker = secrets.token_hex(8)
                    text = f"X-Marker: {marker}\n" + headers
                    if "\n\n" not in text:
                        text += "\nbody\n"
                    message = text.replace("\n", "\r\n").encode()
                    _, replies = lmtp_transaction([rcpt], message, sender or "a@example.org")
                    code, line = replies[0]
                    if isinstance(expected, tuple):
                        self.assertEqual(code, expected[0], line)
                        self.assertIn(expected[1], line)
                        self.assertEqual(places(marker), [])
                    else:
                        self.assertEqual(code, 250, line)
                        self.assertEqual(places(marker), expected)
        self.assertFalse(log_events("lmtp.sieve_invalid", rcpt=rcpt))
        self.assertFalse(log_events("lmtp.sieve_failed", rcpt=rcpt))

@stack.needs("lmtp-store", "directory-sync")
class DeliveryTest(unittest.TestCase):
    """Per-recipient delivery: quota, quotawarn, duplicates, +detail, real LMTP clients."""

    def test_mixed_outcomes_in_one_transaction(self):
        full, fine = new_user(), new_user()
        self.assertEqual(deliver(f"{full}@lmtp-store", b"Subject: first\r\n\r\nx\r\n"), 250)
        self.assertEqual(quota_row(full)[:2], ("10240", ""))  # the seed's autocreatequota
        set_quota(full, 1, None)
        before = quota_row(full)
        marker = secrets.token_hex(8)
        message = f"Subject: {marker}\r\n\r\n".encode() + b"y" * 2000 + b"\r\n"
        rcpt_codes, replies = lmtp_transaction(
            [f"{full}@lmtp-store", "nobody@lmtp-store", f"{fine}@lmtp-store", "hurd@lmtp-store"],
            message)
        self.assertEqual(rcpt_codes, [250, 550, 250, 250])
        self.assertEqual([code for code, _ in replies], [552, 250, 250])
        self.assertIn("5.2.2", replies[0][1])
        self.assertIn(full, replies[0][1])
        self.assertIn(fine, replies[1][1])
        self.assertIn("hurd@lmtp-store", replies[2][1])
        self.assertEqual(mailbox_count(full, "INBOX", marker), 0)
        self.assertEqual(mailbox_count(fine, "INBOX", marker), 1)
        self.assertEqual(mailbox_count("hurd", "INBOX", marker), 1)
        self.assertEqual(quota_row(full), before)  # the refused copy left no trace
        blobs = stack.psql("SELECT count(*) FROM message_blobs"
                           " WHERE position(convert_to(:'p1', 'UTF8') IN data) > 0", marker)
        self.assertEqual(blobs, [["1"]])

    def test_a_failing_recipient_does_not_cost_the_others_their_message(self):
        broken, fine = new_user(), new_user()
        self.assertEqual(deliver(f"{broken}@lmtp-store", b"Subject: first\r\n\r\nx\r\n"), 250)
        # A UIDNEXT set back below a stored UID: filing there fails in the database.
        stack.psql("UPDATE mailboxes SET uidnext = 1 WHERE account_id ="
                   " (SELECT account_id FROM accounts WHERE uid = :'p1')", broken)
        before = quota_row(broken)
        marker = secrets.token_hex(8)
        _, replies = lmtp_transaction([f"{fine}@lmtp-store", f"{broken}@lmtp-store", "cyrus"],
                                      f"Subject: {marker}\r\n\r\nx\r\n".encode())
        self.assertEqual([code for code, _ in replies], [250, 451, 250])
        self.assertIn("4.3.0", replies[1][1])
        self.assertEqual(mailbox_count(fine, "INBOX", marker), 1)
        self.assertEqual(mailbox_count("cyrus", "INBOX", marker), 1)
        self.assertEqual(mailbox_count(broken, "INBOX", marker), 0)
        self.assertEqual(quota_row(broken), before)
        stack.psql("UPDATE mailboxes SET uidnext = 2 WHERE account_id ="
                   " (SELECT account_id FROM accounts WHERE uid = :'p1')", broken)
        self.assertEqual(deliver(f"{broken}@lmtp-store", f"Subject: {marker}\r\n\r\nx\r\n".encode()), 250)

    def test_notify_per_mailbox_after_commit(self):
        """imap-gateway's IDLE wakes on NOTIFY mailstack_mailbox 'account_id:mailbox_id'."""
        one, full = new_user(), new_user()
        for uid in (one, full):
            self.assertEqual(deliver(f"{uid}@lmtp-store", b"Subject: first\r\n\r\nx\r\n"), 250)
        set_quota(full, 0, None)
        listener = subprocess.Popen(["psql", "-X", "-q", "-At"], env=stack.pg_env(),
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
        listener.stdin.write("LISTEN mailstack_mailbox;\nSELECT 'listening';\n")
        listener.stdin.flush()
        self.assertEqual(listener.stdout.readline().strip(), "listening")
        _, replies = lmtp_transaction([f"{one}@lmtp-store", f"{full}@lmtp-store"],
                                      b"Subject: notify\r\n\r\nx\r\n")
        self.assertEqual([code for code, _ in replies], [250, 552])
        out, _ = listener.communicate("SELECT 'done';\n", timeout=30)
        payloads = re.findall(r'"mailstack_mailbox" with payload "([^"]*)"', out)
        expected = stack.psql("SELECT m.account_id || ':' || m.mailbox_id FROM mailboxes m"
                              " JOIN accounts a USING (account_id)"
                              " WHERE a.uid = :'p1' AND m.name = 'INBOX'", one)
        self.assertEqual(payloads, [expected[0][0]])  # none for the refused recipient

    def test_directory_quota_sets_the_storage_limit(self):
        uid = new_user()
        self.assertEqual(deliver(f"{uid}@lmtp-store", b"Subject: first\r\n\r\nx\r\n"), 250)
        self.assertEqual(quota_row(uid)[0], "10240")
        # What directory-sync writes when LDAP's quota attribute changes.
        stack.psql("UPDATE accounts SET quota_kb = 2 WHERE uid = :'p1'", uid)
        self.assertEqual(quota_row(uid)[0], "2")
        self.assertEqual(deliver(f"{uid}@lmtp-store", b"Subject: big\r\n\r\n" + b"z" * 3000 + b"\r\n"), 552)

    def test_quota_edges_storage_and_message_count(self):
        uid = new_user()
        rcpt = f"{uid}@lmtp-store"
        self.assertEqual(deliver(rcpt, b"Subject: first\r\n\r\nx\r\n"), 250)
        used, count = actual_usage(uid)
        self.assertEqual(quota_row(uid)[2:4], (str(used), str(count)))
        limit_kb = used // 1024 + 4
        room = limit_kb * 1024 - used
        set_quota(uid, limit_kb, None)
        over, exact = secrets.token_hex(8), secrets.token_hex(8)
        code = deliver(rcpt, message_of_size(room + 1, rcpt, over))
        self.assertEqual(code, 552)  # one byte over
        self.assertEqual(deliver(rcpt, message_of_size(room, rcpt, exact)), 250)  # exactly full
        self.assertEqual(mailbox_count(uid, "INBOX", over), 0)
        self.assertEqual(mailbox_count(uid, "INBOX", exact), 1)
        self.assertEqual(quota_row(uid)[2:4], (str(limit_kb * 1024), str(count + 1)))
        self.assertEqual(actual_usage(uid), (limit_kb * 1024, count + 1))
        # A full mailbox refuses even a small message, through smtplib.LMTP too.
        lmtp = smtplib.LMTP("127.0.0.1", int(ENV["MAILSTACK_LMTP_PORT"]))
        with self.assertRaises(smtplib.SMTPDataError) as refused:
            lmtp.sendmail("a@example.org", [rcpt], b"Subject: tiny\r\n\r\nx\r\n")
        lmtp.quit()
        self.assertEqual(refused.exception.smtp_code, 552)
        # The message count: room for exactly one more.
        set_quota(uid, None, count + 2)
        self.assertEqual(deliver(rcpt, b"Subject: one more\r\n\r\nx\r\n"), 250)
        self.assertEqual(deliver(rcpt, b"Subject: one too many\r\n\r\nx\r\n"), 552)
        self.assertEqual(actual_usage(uid)[1], count + 2)
        self.assertEqual(quota_row(uid)[3], str(count + 2))

    def test_quotawarn_once_and_again_after_falling_below(self):
        uid = new_user()
        rcpt = f"{uid}@lmtp-store"
        self.assertEqual(deliver(rcpt, b"Subject: first\r\n\r\nx\r\n"), 250)
        used, _ = actual_usage(uid)
        set_quota(uid, 10, None)  # 10 KiB: the seed's quotawarn 80 % is 8192 bytes
        big = secrets.token_hex(8)
        self.assertEqual(deliver(rcpt, message_of_size(8192 - used, rcpt, big)), 250)
        self.assertEqual(deliver(rcpt, b"Subject: small\r\n\r\nx\r\n"), 250)
        self.assertEqual(deliver(rcpt, b"Subject: small\r\n\r\ny\r\n"), 250)
        self.assertEqual(mailbox_count(uid, "INBOX", "Subject: Quota warning"), 1)
        self.assertEqual(quota_row(uid)[4], "t")
        self.assertEqual(len(log_events("lmtp.quota_warning", rcpt=rcpt)), 1)
        self.assertEqual(actual_usage(uid), tuple(int(v) for v in quota_row(uid)[2:4]))
        # Deleting mail (as an EXPUNGE would) brings usage down through the trigger; the
        # next delivery re-arms the warning, and crossing again warns again.
        stack.psql("DELETE FROM messages m USING accounts a, message_blobs b"
                   " WHERE a.account_id = m.account_id AND a.uid = :'p1'"
                   " AND b.sha256 = m.blob_sha256"
                   " AND position(convert_to(:'p2', 'UTF8') IN b.data) > 0", uid, big)
        self.assertEqual(actual_usage(uid), tuple(int(v) for v in quota_row(uid)[2:4]))
        self.assertEqual(deliver(rcpt, b"Subject: small\r\n\r\nz\r\n"), 250)
        self.assertEqual(quota_row(uid)[4], "f")
        used, _ = actual_usage(uid)
        self.assertEqual(deliver(rcpt, message_of_size(8500 - used, rcpt, big)), 250)
        self.assertEqual(mailbox_count(uid, "INBOX", "Subject: Quota warning"), 2)

    def test_duplicate_message_id_is_filed_once_per_mailbox(self):
        uid, other = new_user(), new_user()
        mid = f"<{secrets.token_hex(8)}@example.org>"
        message = f"Message-ID: {mid}\r\nSubject: dup\r\n\r\nbody\r\n".encode()
        self.assertEqual(deliver(f"{uid}@lmtp-store", message), 250)
        self.assertEqual(deliver(f"{uid}@lmtp-store", message), 250)  # accepted, not stored
        folded = f"Subject: dup\r\nMessage-id:\r\n {mid}\r\n\r\nother bytes\r\n".encode()
        _, replies = lmtp_transaction([f"{uid}@lmtp-store", f"{other}@lmtp-store"], folded)
        self.assertEqual([code for code, _ in replies], [250, 250])
        self.assertEqual(mailbox_count(uid, "INBOX", mid), 1)
        self.assertEqual(mailbox_count(other, "INBOX", mid), 1)  # another mailbox: filed
        self.assertEqual(len(log_events("lmtp.duplicate_suppressed",
                                        rcpt=f"{uid}@lmtp-store")), 2)
        # Without a Message-ID nothing is ever suppressed.
        plain = f"Subject: {secrets.token_hex(8)}\r\n\r\nsame\r\n".encode()
        self.assertEqual(deliver(f"{uid}@lmtp-store", plain), 250)
        self.assertEqual(deliver(f"{uid}@lmtp-store", plain), 250)
        self.assertEqual(mailbox_count(uid, "INBOX", plain.decode()[9:25]), 2)

    def test_duplicate_window_and_pruning(self):
        uid = new_user()
        rcpt = f"{uid}@lmtp-store"
        # 0.001 h = 3.6 s, pruning at most every second.
        restart_lmtp(MAILSTACK_DUPLICATE_WINDOW_HOURS="0.001",
                     MAILSTACK_DUPLICATE_PRUNE_INTERVAL_S="1")
        try:
            mid, gone = (f"<{secrets.token_hex(8)}@example.org>" for _ in range(2))
            message = f"Message-ID: {mid}\r\n\r\nx\r\n".encode()
            self.assertEqual(deliver(rcpt, message), 250)
            self.assertEqual(deliver(rcpt, f"Message-ID: {gone}\r\n\r\nx\r\n".encode()), 250)
            self.assertEqual(deliver(rcpt, message), 250)
            self.assertEqual(mailbox_count(uid, "INBOX", mid), 1)
            time.sleep(4.5)
            self.assertEqual(deliver(rcpt, message), 250)  # the window has passed
            self.assertEqual(mailbox_count(uid, "INBOX", mid), 2)
            deadline = time.monotonic() + 10
            while stack.psql("SELECT 1 FROM delivery_duplicates WHERE message_id = convert_to(:'p1', 'UTF8')",
                             gone) and time.monotonic() < deadline:
                time.sleep(0.5)
                deliver(rcpt, b"Subject: nudge\r\n\r\nx\r\n")
            self.assertEqual(stack.psql("SELECT count(*) FROM delivery_duplicates"
                                        " WHERE message_id = convert_to(:'p1', 'UTF8')", gone), [["0"]])
            self.assertTrue(log_events("lmtp.duplicates_pruned"))
        finally:
            restart_lmtp()

    def test_detail_files_into_existing_folder_else_inbox(self):
        stack.psql("INSERT INTO mailboxes (account_id, name, uidvalidity)"
                   " SELECT account_id, 'INBOX.lists', 1 FROM accounts WHERE uid = 'hurd'"
                   " ON CONFLICT DO NOTHING")
        into, missing = secrets.token_hex(8), secrets.token_hex(8)
        self.assertEqual(deliver("hurd+lists@lmtp-store", f"Subject: {into}\r\n\r\nx\r\n".encode()), 250)
        self.assertEqual(deliver("hurd+nosuch@lmtp-store", f"Subject: {missing}\r\n\r\nx\r\n".encode()), 250)
        self.assertEqual((mailbox_count("hurd", "INBOX.lists", into), mailbox_count("hurd", "INBOX", into)), (1, 0))
        self.assertEqual((mailbox_count("hurd", "INBOX.lists", missing), mailbox_count("hurd", "INBOX", missing)), (0, 1))
        if not {"imap-gateway", "auth-service"} <= stack.started_services():
            return  # the rows are checked; reading them over IMAP needs both services
        imap = imaplib.IMAP4("127.0.0.1", int(ENV["MAILSTACK_IMAP_PORT"]), timeout=30)
        try:
            imap.login(ENV["MAILSTACK_DEMO_USER"], ENV["MAILSTACK_DEMO_PASSWORD"])
            typ, _ = imap.select("INBOX.lists", readonly=True)
            self.assertEqual(typ, "OK")
            typ, data = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT DELIVERED-TO)])")
            headers = b"".join(part[1] for part in data if isinstance(part, tuple))
            self.assertIn(into.encode(), headers)
            self.assertIn(b"Delivered-To: hurd+lists@lmtp-store", headers)
        finally:
            imap.logout()

    def test_korean_8bit_headers_through_smtp_source_and_quota_in_bytes(self):
        uid = new_user()
        rcpt = f"{uid}@lmtp-store"
        mid = "<한글-" + secrets.token_hex(6) + "@예제.test>"
        message = (f"From: 최영봉 <foo@example.test>\r\nSubject: 아싸 테스트...\r\n"
                   f"Message-ID: {mid}\r\n\r\n이것은 테스트 메일입니다.\r\n").encode()
        self.assertEqual(deliver(rcpt, message), 250)
        self.assertEqual(deliver(rcpt, message), 250)  # 8-bit Message-ID: still a duplicate
        rows = message_rows(mid)
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][2], prefix_for(rcpt) + message)
        self.assertEqual(actual_usage(uid), tuple(int(v) for v in quota_row(uid)[2:4]))
        self.assertEqual(actual_usage(uid)[0], len(prefix_for(rcpt)) + len(message))

    def test_smtp_source_kill_9_during_1000_messages(self):
        """Postfix's own LMTP client: 1,000 messages over 5 sessions, lmtp-store killed
        with SIGKILL part-way. Every 250 it printed is a stored message, nothing is stored
        twice or half, and usage still matches the messages exactly."""
        uid = new_user()
        rcpt = f"{uid}@lmtp-store"
        sender = f"run{secrets.token_hex(4)}@example.org"
        self.assertEqual(deliver(rcpt, b"Subject: first\r\n\r\nx\r\n"), 250)
        set_quota(uid, None, None)
        # -v prints every reply; into a file, since a full pipe would stall the client.
        transcript = Path(ENV["MAILSTACK_STACK_DIR"], "log", f"smtp-source-{sender}.log")
        with open(transcript, "wb") as out:
            proc = subprocess.Popen(["smtp-source", "-L", "-v", "-s", "5", "-m", "1000",
                                     "-f", sender, "-t", rcpt,
                                     f"127.0.0.1:{ENV['MAILSTACK_LMTP_PORT']}"],
                                    stdout=subprocess.DEVNULL, stderr=out)

        def stored():
            return int(stack.psql("SELECT count(*) FROM messages"
                                  " WHERE position(convert_to(:'p1', 'UTF8') IN header_prefix) > 0",
                                  sender)[0][0])
        deadline = time.monotonic() + 60
        while stored() < 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        pid = lmtp_pid()
        os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=120)
        answered = transcript.read_text(errors="replace").count(f"<<< 250 2.1.5 <{rcpt}> delivered")
        while alive(pid):
            time.sleep(0.1)
        r = stack.stack_sh("start", ENV["MAILSTACK_STACK_DIR"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        total = stored()
        self.assertGreaterEqual(answered, 200)
        self.assertLess(answered, 1000, "the kill came too late to test anything")
        # Every 250 is stored; at most the 5 messages in flight were committed unanswered.
        self.assertGreaterEqual(total, answered)
        self.assertLessEqual(total, answered + 5)
        ids = stack.psql("SELECT count(DISTINCT substring(convert_from(b.data, 'UTF8')"
                         " FROM 'Message-Id: (<[^>]*>)')) FROM messages m"
                         " JOIN message_blobs b ON b.sha256 = m.blob_sha256"
                         " WHERE position(convert_to(:'p1', 'UTF8') IN m.header_prefix) > 0", sender)
        self.assertEqual(int(ids[0][0]), total)
        # Nothing half-written: every row whole, UIDs below UIDNEXT, usage exact.
        broken = stack.psql("SELECT count(*) FROM messages m"
                            " JOIN message_blobs b ON b.sha256 = m.blob_sha256"
                            " JOIN mailboxes x USING (account_id, mailbox_id)"
                            " JOIN accounts a ON a.account_id = m.account_id"
                            " WHERE a.uid = :'p1' AND (m.size <> octet_length(m.header_prefix) + b.size"
                            "  OR b.size <> octet_length(b.data) OR m.uid >= x.uidnext)", uid)
        self.assertEqual(broken, [["0"]])
        self.assertEqual(actual_usage(uid), tuple(int(v) for v in quota_row(uid)[2:4]))


if __name__ == "__main__":
    unittest.main()


def b64(text):
    return base64.b64encode(text.encode()).decode()


def no_verify_tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@stack.needs("lmtp-store", "auth-service", "directory-sync")
class LmtpAuthTest(unittest.TestCase):
    """TCP clients outside MAILSTACK_LMTP_TRUSTED_NETWORKS must AUTH before MAIL. Every test
    client is on loopback, so private lmtp-store instances trust only networks that leave
    127.0.0.1 out: one with the loopback plaintext exception (and a UNIX socket, which is
    always trusted), one that needs STARTTLS first, one whose auth-service is down."""

    @classmethod
    def setUpClass(cls):
        cls.uid = new_user()  # its LDAP password ({CRYPT}x) matches nothing
        cls.sock = str(Path(stack.DIR, "run", f"lmtp-auth-{secrets.token_hex(3)}.sock"))
        untrusted = {"MAILSTACK_LMTP_TRUSTED_NETWORKS": "192.0.2.0/24, 2001:db8::/32"}
        cls.ports = {name: free_port() for name in ("dev", "tls", "down")}
        cls.services = {
            "dev": PrivateService("lmtp-store", "auth-dev", MAILSTACK_ALLOW_PLAINTEXT_LOOPBACK="1",
                                  MAILSTACK_LMTP_SOCKET=cls.sock, **untrusted),
            "tls": PrivateService("lmtp-store", "auth-tls", MAILSTACK_ALLOW_PLAINTEXT_LOOPBACK="0",
                                  **untrusted),
            "down": PrivateService("lmtp-store", "auth-down", MAILSTACK_ALLOW_PLAINTEXT_LOOPBACK="1",
                                   MAILSTACK_AUTH_URL=f"http://127.0.0.1:{free_port()}",
                                   **untrusted),
        }
        started = []
        try:
            for name, svc in cls.services.items():
                svc.settings["MAILSTACK_LMTP_PORT"] = str(cls.ports[name])
                svc.start("MAILSTACK_LMTP_STORE_CONTROL_PORT")
                started.append(svc)
        except Exception:
            for svc in started:
                svc.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        for svc in cls.services.values():
            svc.stop()

    def conn(self, name):
        c = LmtpConn(self.ports[name])
        c.send(b"LHLO test.example\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250)
        return c, lines

    def ask(self, c, line):
        c.send(line.encode() + b"\r\n")
        code, lines = c.reply()
        return code, lines[-1]

    def send_mail(self, c, marker):
        self.assertEqual(self.ask(c, "MAIL FROM:<a@example.org>")[0], 250)
        self.assertEqual(self.ask(c, f"RCPT TO:<{self.uid}@lmtp-store>")[0], 250)
        self.assertEqual(self.ask(c, "DATA")[0], 354)
        return self.ask(c, f"Subject: {marker}\r\n\r\nx\r\n.")

    def test_mail_needs_auth_wrong_is_535_right_is_235_then_delivery(self):
        c, lines = self.conn("dev")
        self.assertIn("250-AUTH PLAIN LOGIN", lines)
        self.assertIn("250-STARTTLS", lines)
        code, text = self.ask(c, "MAIL FROM:<a@example.org>")
        self.assertEqual((code, text[4:9]), (530, "5.7.0"))
        self.assertEqual(self.ask(c, f"RCPT TO:<{self.uid}@lmtp-store>")[0], 503)
        code, text = self.ask(c, "AUTH PLAIN " + plain_b64(self.uid, "wrong-password"))
        self.assertEqual((code, text[4:9]), (535, "5.7.8"))
        password = ENV["MAILSTACK_DEMO_PASSWORD"]
        code, text = self.ask(c, "AUTH PLAIN " + plain_b64("hurd", password))
        self.assertEqual((code, text[4:9]), (235, "2.7.0"))
        self.assertEqual(self.ask(c, "AUTH PLAIN " + plain_b64("hurd", password))[0], 503)
        marker = secrets.token_hex(8)
        self.assertEqual(self.send_mail(c, marker)[0], 250)
        c.close()
        self.assertEqual(mailbox_count(self.uid, "INBOX", marker), 1)
        log = self.services["dev"].log_path.read_text(errors="replace")
        self.assertRegex(log, r'"event":\s*"lmtp.auth".*"account":\s*"hurd"')
        self.assertRegex(log, r'"event":\s*"lmtp.auth_failed".*"reason":\s*"credentials"')
        self.assertNotIn(password, log)
        self.assertNotIn("wrong-password", log)
        self.assertNotIn(plain_b64("hurd", password), log)

    def test_login_mechanism_challenges_cancel_and_bad_data(self):
        c, _ = self.conn("dev")
        self.assertEqual(self.ask(c, "AUTH LOGIN"), (334, "334 " + b64("Username:")))
        self.assertEqual(self.ask(c, b64("hurd")), (334, "334 " + b64("Password:")))
        self.assertEqual(self.ask(c, b64(ENV["MAILSTACK_DEMO_PASSWORD"]))[0], 235)
        c.close()
        c, _ = self.conn("dev")
        self.assertEqual(self.ask(c, "AUTH LOGIN")[0], 334)
        self.assertEqual(self.ask(c, "*")[0], 501)
        self.assertEqual(self.ask(c, "AUTH PLAIN !!!notbase64")[0], 501)
        self.assertEqual(self.ask(c, "AUTH CRAM-MD5")[0], 504)
        self.assertEqual(self.ask(c, "AUTH")[0], 501)
        self.assertEqual(self.ask(c, "MAIL FROM:<a@example.org>")[0], 530)
        self.assertEqual(self.ask(c, "NOOP")[0], 250)  # the session carries on
        c.close()

    def test_smtplib_lmtp_login(self):
        with smtplib.LMTP("127.0.0.1", self.ports["dev"], timeout=15) as client:
            with self.assertRaises(smtplib.SMTPSenderRefused) as ctx:
                client.sendmail("a@example.org", [f"{self.uid}@lmtp-store"], b"Subject: no\r\n\r\nx\r\n")
            self.assertEqual(ctx.exception.smtp_code, 530)
            with self.assertRaises(smtplib.SMTPAuthenticationError) as ctx:
                client.login(self.uid, "wrong-password")
            self.assertEqual(ctx.exception.smtp_code, 535)
            code, _ = client.login("hurd", ENV["MAILSTACK_DEMO_PASSWORD"])
            self.assertEqual(code, 235)
            marker = secrets.token_hex(8)
            refused = client.sendmail("a@example.org", [f"{self.uid}@lmtp-store"],
                                      f"Subject: {marker}\r\n\r\nx\r\n".encode())
            self.assertEqual(refused, {})
        self.assertEqual(mailbox_count(self.uid, "INBOX", marker), 1)

    def test_without_loopback_exception_auth_needs_starttls(self):
        c, lines = self.conn("tls")
        self.assertIn("250-STARTTLS", lines)
        self.assertFalse([line for line in lines if "AUTH" in line], lines)
        code, text = self.ask(c, "AUTH PLAIN " + plain_b64("hurd", ENV["MAILSTACK_DEMO_PASSWORD"]))
        self.assertEqual((code, text[4:10]), (538, "5.7.11"))
        self.assertEqual(self.ask(c, "MAIL FROM:<a@example.org>")[0], 530)
        c.close()
        with smtplib.LMTP("127.0.0.1", self.ports["tls"], timeout=15) as client:
            self.assertEqual(client.starttls(context=no_verify_tls())[0], 220)
            client.ehlo_or_helo_if_needed()
            self.assertEqual(client.esmtp_features.get("auth", "").split(), ["PLAIN", "LOGIN"])
            self.assertNotIn("starttls", client.esmtp_features)
            self.assertEqual(client.login("hurd", ENV["MAILSTACK_DEMO_PASSWORD"])[0], 235)
            marker = secrets.token_hex(8)
            self.assertEqual(client.sendmail("a@example.org", [f"{self.uid}@lmtp-store"],
                                             f"Subject: {marker}\r\n\r\nx\r\n".encode()), {})
        self.assertEqual(mailbox_count(self.uid, "INBOX", marker), 1)

    def test_auth_service_down_is_454(self):
        c, _ = self.conn("down")
        code, text = self.ask(c, "AUTH PLAIN " + plain_b64("hurd", ENV["MAILSTACK_DEMO_PASSWORD"]))
        self.assertEqual((code, text[4:9]), (454, "4.7.0"))
        self.assertEqual(self.ask(c, "MAIL FROM:<a@example.org>")[0], 530)
        c.close()

    def test_unix_socket_and_trusted_clients_need_no_auth(self):
        marker = secrets.token_hex(8)
        with smtplib.LMTP(self.sock, timeout=15) as client:
            self.assertEqual(client.sendmail("a@example.org", [f"{self.uid}@lmtp-store"],
                                             f"Subject: {marker}\r\n\r\nx\r\n".encode()), {})
        self.assertEqual(mailbox_count(self.uid, "INBOX", marker), 1)
        c = LmtpConn()  # the stack's own lmtp-store trusts 127.0.0.0/8 by default
        c.send(b"LHLO test.example\r\n")
        c.reply()
        self.assertEqual(self.ask(c, "MAIL FROM:<a@example.org>")[0], 250)
        c.close()
