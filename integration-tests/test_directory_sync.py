"""test_directory_sync: directory-sync's live mirror (syncrepl refreshAndPersist) against the
stack's real slapd and PostgreSQL. An ldapadd, ldapmodify, ldapmodrdn or ldapdelete must
reach directory-sync's GET /v1/lookup, smtp-edge's RCPT and lmtp-store's LMTP RCPT within
1 second (measured by polling every 20 ms; the figures are printed); groups land in the
group tables; rows follow entries across renames (entryUUID); entries under a domain's own
base carry that domain. Outages: with slapd stopped the mirror keeps serving and mail for
known users is still accepted, /readyz says degraded ("ldap unreachable"), and changes
made after slapd is back arrive; a restarted directory-sync resumes from its saved cookie
(and gets what changed while it was down), while a missing or unusable cookie means a
full refresh that removes what disappeared."""

import imaplib
import json
import secrets
import smtplib
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import stack
from stack import ENV

BOUND = 1.0    # seconds an LDAP change may take to reach the mail path (issue 3)
POLL = 0.02    # seconds between polls


def get_json(url, data=None, headers=None):
    """(status, parsed JSON) of a GET (a POST of `data` when given); HTTP errors are answers
    too."""
    try:
        req = urllib.request.Request(url, data=data, headers=headers or {})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def lookup(address):
    q = urllib.parse.urlencode({"address": address})
    return get_json(f"{ENV['MAILSTACK_DIRECTORY_URL']}/v1/lookup?{q}")


def readyz():
    return get_json(f"{ENV['MAILSTACK_DIRECTORY_URL']}/readyz")


def domain():
    return ENV["MAILSTACK_DOMAIN"]


def other_domain_base():
    """A served domain with an LDAP base of its own, as run.py configures the stack."""
    for item in stack.RUN_ENV.get("MAILSTACK_LDAP_DOMAIN_BASES", "").split(";"):
        name, _, base = item.partition("=")
        if name.strip() and base.strip():
            return name.strip().lower(), base.strip()
    return None, None


def account_ldif(uid, base=None, maildrop=None, aliases=()):
    dn = f"uid={uid},{base or ENV['MAILSTACK_LDAP_USER_BASE']}"
    lines = [f"dn: {dn}", "objectClass: top", "objectClass: account",
             "objectClass: posixAccount", "objectClass: xMail", f"uid: {uid}", f"cn: {uid}",
             f"uidNumber: {30000 + secrets.randbelow(30000)}", "gidNumber: 100",
             "homeDirectory: /no/shell", f"maildrop: {maildrop or uid + '@lmtp-store'}",
             f"mailacceptinggeneralid: {uid}"]
    lines += [f"mailacceptinggeneralid: {a}" for a in aliases]
    return "\n".join(lines) + "\n"


def admin(tool, args=(), ldif=None):
    r = stack.ldap_client(tool, list(args), bind_dn=stack.admin_dn(),
                          password=ENV["MAILSTACK_LDAP_ADMIN_PASSWORD"], input_text=ldif)
    if r.returncode != 0:
        raise RuntimeError(f"{tool} failed ({r.returncode}): {r.stderr.strip()}")


def modify(dn, *changes):
    """ldapmodify with changes like ("add", "mailacceptinggeneralid", "x")."""
    ldif = f"dn: {dn}\nchangetype: modify\n" + "-\n".join(
        f"{op}: {attr}\n" + "".join(f"{attr}: {v}\n" for v in values)
        for op, attr, *values in changes)
    admin("ldapmodify", ldif=ldif)


def measure(checks, seconds=5.0):
    """Polls every check (name -> callable, true once the change shows) every POLL seconds
    from now; returns {name: seconds until it first held} (missing: never, within seconds)."""
    t0 = time.monotonic()
    seen = {}
    while len(seen) < len(checks) and time.monotonic() - t0 < seconds:
        for name, check in checks.items():
            if name not in seen and check():
                seen[name] = time.monotonic() - t0
        time.sleep(POLL)
    return seen


def wait_for(check, what, seconds=15.0):
    """Polls check until it holds; AssertionError after `seconds`."""
    if what not in measure({what: check}, seconds):
        raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def account_row(uid):
    """The live (not soft-deleted) row of an account."""
    rows = stack.psql("SELECT account_id, dn, domain, maildrop FROM accounts"
                      " WHERE uid = :'p1' AND deleted_at IS NULL", uid)
    return tuple(rows[0]) if rows else None


class RcptProbe:
    """One SMTP or LMTP session kept open to ask RCPT again and again (RSET between)."""

    def __init__(self, lmtp=False):
        if lmtp:
            self.conn = smtplib.LMTP("127.0.0.1", int(ENV["MAILSTACK_LMTP_PORT"]), timeout=10)
        else:
            self.conn = smtplib.SMTP("127.0.0.1", int(ENV["MAILSTACK_SMTP_PORT"]), timeout=10)
        self.conn.ehlo("probe.example.org")  # LHLO for LMTP

    def code(self, address):
        self.conn.mail("probe@example.org")
        code, _ = self.conn.rcpt(address)
        self.conn.rset()
        return code

    def close(self):
        try:
            self.conn.quit()
        except (smtplib.SMTPException, OSError):
            pass


@stack.needs("directory-sync", "smtp-edge", "lmtp-store")
class PropagationTest(unittest.TestCase):
    """Each change is timed from the moment the LDAP client returned."""

    def setUp(self):
        self.smtp, self.lmtp = RcptProbe(), RcptProbe(lmtp=True)
        self.cleanup = []

    def tearDown(self):
        self.smtp.close()
        self.lmtp.close()
        for dn in self.cleanup:
            stack.ldap_client("ldapdelete", [dn], bind_dn=stack.admin_dn(),
                              password=ENV["MAILSTACK_LDAP_ADMIN_PASSWORD"])

    def assert_within_bound(self, what, checks):
        seen = measure(checks)
        figures = ", ".join(f"{name} {seen[name] * 1000:.0f} ms" if name in seen
                            else f"{name} never" for name in checks)
        print(f"\n    propagation of {what}: {figures}", end=" ", flush=True)
        self.assertEqual(sorted(seen), sorted(checks), f"{what}: {figures}")
        for name, seconds in seen.items():
            self.assertLess(seconds, BOUND, f"{what} reached {name} after {seconds:.3f} s")

    def delivery_checks(self, address, accepted):
        """lookup API, smtp-edge RCPT and lmtp-store RCPT for `address` all saying yes (or
        all saying no)."""
        want = (200, 250, 250) if accepted else (404, 550, 550)
        return {
            "lookup": lambda: lookup(address)[0] == want[0],
            "smtp-edge RCPT": lambda: self.smtp.code(address) == want[1],
            "lmtp-store RCPT": lambda: self.lmtp.code(address) == want[2],
        }

    def new_account(self, **kw):
        uid = f"ps{secrets.token_hex(4)}"
        admin("ldapadd", ldif=account_ldif(uid, **kw))
        self.cleanup.append(stack.user_dn(uid))
        return uid

    def test_add(self):
        uid = f"ps{secrets.token_hex(4)}"
        address = f"{uid}@{domain()}"
        for verdict in self.delivery_checks(address, accepted=False).values():
            self.assertTrue(verdict())
        admin("ldapadd", ldif=account_ldif(uid))
        self.cleanup.append(stack.user_dn(uid))
        self.assert_within_bound("ldapadd", self.delivery_checks(address, accepted=True))

    def test_modify_adds_an_alias(self):
        uid = self.new_account()
        wait_for(lambda: account_row(uid), f"{uid} in the mirror")
        alias = f"Alias{secrets.token_hex(3)}"
        address = f"{alias}@{domain()}"
        self.assertEqual(lookup(address)[0], 404)
        modify(stack.user_dn(uid), ("add", "mailacceptinggeneralid", alias))
        checks = self.delivery_checks(address, accepted=True)
        checks["lookup names the account"] = lambda: lookup(address)[1].get("account") == uid
        self.assert_within_bound("ldapmodify (alias added)", checks)
        # stored as lookups compare it: lower-cased (MAILSTACK_LOOKUP_CASE_INSENSITIVE=1)
        self.assertEqual(stack.psql("SELECT localpart FROM account_addresses JOIN accounts"
                                    " USING (account_id) WHERE uid = :'p1' ORDER BY 1", uid),
                         sorted([[alias.lower()], [uid]]))

    def test_modify_changes_the_maildrop(self):
        uid = self.new_account()
        address = f"{uid}@{domain()}"
        wait_for(lambda: lookup(address)[0] == 200, f"{uid} in the lookup API")
        # A pipe is never a target (the seed's filter): smtp-edge refuses at RCPT.
        modify(stack.user_dn(uid), ("replace", "maildrop", "|/usr/bin/procmail"))
        self.assert_within_bound("ldapmodify (maildrop to a pipe)", {
            "lookup": lambda: lookup(address)[0] == 404,
            "smtp-edge RCPT": lambda: self.smtp.code(address) == 550,
            "mirror row (lmtp-store's table)":
                lambda: account_row(uid)[3] == "|/usr/bin/procmail",
        })
        modify(stack.user_dn(uid), ("replace", "maildrop", f"{uid}@lmtp-store"))
        self.assert_within_bound("ldapmodify (maildrop back to a mailbox)", {
            "lookup": lambda: lookup(address)[1].get("maildrop") == f"{uid}@lmtp-store",
            "smtp-edge RCPT": lambda: self.smtp.code(address) == 250,
            "lmtp-store RCPT": lambda: self.lmtp.code(address) == 250,
        })

    def test_delete(self):
        uid = self.new_account(aliases=[f"gone{secrets.token_hex(3)}"])
        address = f"{uid}@{domain()}"
        wait_for(lambda: lookup(address)[0] == 200, f"{uid} in the lookup API")
        admin("ldapdelete", [stack.user_dn(uid)])
        self.cleanup.clear()
        self.assert_within_bound("ldapdelete", self.delivery_checks(address, accepted=False))
        self.assertIsNone(account_row(uid))
        # soft-deleted: the row stays (with its mail) for the retention period, without
        # addresses
        self.assertEqual(stack.psql("SELECT deleted_at IS NOT NULL, (SELECT count(*) FROM"
                                    " account_addresses x WHERE x.account_id = a.account_id)"
                                    " FROM accounts a WHERE uid = :'p1'", uid), [["t", "0"]])

    def test_rename_keeps_the_row(self):
        uid = self.new_account()
        wait_for(lambda: lookup(f"{uid}@{domain()}")[0] == 200, f"{uid} in the lookup API")
        account_id = account_row(uid)[0]
        new_uid = f"rn{secrets.token_hex(4)}"
        # modrdn replacing the uid RDN value (-r): the entry keeps its entryUUID
        admin("ldapmodrdn", ["-r", stack.user_dn(uid), f"uid={new_uid}"])
        self.cleanup = [stack.user_dn(new_uid)]
        # its mailacceptinggeneralid still names the old uid: that address now reaches
        # the renamed account
        self.assert_within_bound("ldapmodrdn", {
            "mirror row renamed": lambda: account_row(new_uid) is not None,
            "lookup names the new uid":
                lambda: lookup(f"{uid}@{domain()}")[1].get("account") == new_uid,
            "smtp-edge RCPT": lambda: self.smtp.code(f"{uid}@{domain()}") == 250,
        })
        row = account_row(new_uid)
        self.assertEqual(row[0], account_id, "the rename must keep the account's row")
        self.assertEqual(row[1], stack.user_dn(new_uid))
        self.assertIsNone(account_row(uid))


@stack.needs("directory-sync")
class MirrorContentTest(unittest.TestCase):
    """What the mirror holds for groups and for entries of a domain's own base."""

    def setUp(self):
        self.cleanup = []

    def tearDown(self):
        for dn in reversed(self.cleanup):
            stack.ldap_client("ldapdelete", [dn], bind_dn=stack.admin_dn(),
                              password=ENV["MAILSTACK_LDAP_ADMIN_PASSWORD"])

    def add(self, ldif):
        admin("ldapadd", ldif=ldif)
        self.cleanup.append(ldif.split("\n", 1)[0][len("dn: "):])

    def group(self, dn):
        """(addresses, member DNs, member addresses, domain) of the group row for dn."""
        rows = stack.psql("SELECT group_id, domain FROM mail_groups WHERE dn = :'p1'", dn)
        if not rows:
            return None
        gid, dom = rows[0]
        addrs = stack.psql("SELECT localpart FROM group_addresses WHERE group_id = :'p1'"
                           " ORDER BY 1", gid)
        members = stack.psql("SELECT coalesce(member_dn, ''), coalesce(member_address, '')"
                             " FROM group_members WHERE group_id = :'p1' ORDER BY 1, 2", gid)
        return ([a[0] for a in addrs], [m[0] for m in members if m[0]],
                [m[1] for m in members if m[1]], dom)

    def test_groups_land_in_the_group_tables(self):
        tag = secrets.token_hex(3)
        groups = f"ou=Group,{ENV['MAILSTACK_LDAP_BASE']}"
        hurd = stack.user_dn("hurd")
        team, nis, xlist, plain = (f"cn=team{tag},{groups}", f"cn=Nis{tag},{groups}",
                                   f"cn=x{tag},{groups}", f"cn=plain{tag},{groups}")
        self.add(f"dn: {team}\nobjectClass: groupOfNames\nobjectClass: extensibleObject\n"
                 f"cn: team{tag}\nmail: Team{tag}@Example.TEST\nmember: {hurd}\n"
                 f"member: {stack.user_dn('cyrus')}\n")
        self.add(f"dn: {nis}\nobjectClass: nisMailAlias\ncn: Nis{tag}\n"
                 f"rfc822MailMember: hurd\nrfc822MailMember: friend@elsewhere.example\n")
        self.add(f"dn: {xlist}\nobjectClass: groupOfNames\nobjectClass: xMail\ncn: x{tag}\n"
                 f"uid: x{tag}\nmailacceptinggeneralid: XL{tag}\nmember: {team}\n")
        self.add(f"dn: {plain}\nobjectClass: groupOfNames\ncn: plain{tag}\nmember: {hurd}\n")
        wait_for(lambda: all(self.group(dn) for dn in (team, nis, xlist)), "the group rows",
                 seconds=BOUND)
        self.assertEqual(self.group(team), ([f"team{tag}@example.test"],
                                            sorted([hurd, stack.user_dn("cyrus")]), [], ""))
        self.assertEqual(self.group(nis), ([f"nis{tag}"], [],
                                           ["friend@elsewhere.example", "hurd"], ""))
        self.assertEqual(self.group(xlist), ([f"xl{tag}"], [team], [], ""))
        # a group without an address receives no mail: not mirrored, and no account either
        self.assertIsNone(self.group(plain))
        self.assertEqual(stack.psql("SELECT count(*) FROM accounts WHERE uid = :'p1'",
                                    f"x{tag}"), [["0"]])

        modify(team, ("delete", "member", hurd), ("add", "member", f"uid=ghost,{groups}"))
        wait_for(lambda: self.group(team)[1] == sorted([stack.user_dn("cyrus"),
                                                        f"uid=ghost,{groups}"]),
                 "the member change", seconds=BOUND)
        # the list loses its address: its rows go
        modify(team, ("delete", "mail"))
        wait_for(lambda: self.group(team) is None, "the group without mail to go",
                 seconds=BOUND)
        admin("ldapdelete", [nis])
        self.cleanup.remove(nis)
        wait_for(lambda: self.group(nis) is None, "the deleted group to go", seconds=BOUND)

    def test_a_duplicate_uid_is_refused_and_the_sync_goes_on(self):
        uid = f"du{secrets.token_hex(4)}"
        self.add(account_ldif(uid))
        wait_for(lambda: account_row(uid), f"{uid} in the mirror", seconds=BOUND)
        first = account_row(uid)
        offset = directory_sync_log().stat().st_size
        # LDAP lets a second entry carry the same uid; the mirror's uid is unique
        twin = f"cn={uid}-twin,{ENV['MAILSTACK_LDAP_USER_BASE']}"
        self.add(account_ldif(uid).replace(f"dn: {stack.user_dn(uid)}", f"dn: {twin}")
                 .replace(f"maildrop: {uid}@lmtp-store", "maildrop: twin@lmtp-store"))
        wait_for(lambda: log_events(offset, "mirror.entry_rejected"), "the refusal in the log",
                 seconds=BOUND)
        self.assertEqual(log_events(offset, "mirror.entry_rejected")[0]["dn"], twin)
        self.assertEqual(account_row(uid), first)
        # later changes still arrive
        later = f"du{secrets.token_hex(4)}"
        self.add(account_ldif(later))
        wait_for(lambda: account_row(later), "a later change", seconds=BOUND)

    def test_entries_of_a_domain_base_carry_the_domain(self):
        name, base = other_domain_base()
        if not name:
            self.skipTest("the stack configures no MAILSTACK_LDAP_DOMAIN_BASES")
        rdn = base.split(",", 1)[0]
        attr, _, value = rdn.partition("=")
        if not stack.ldap_search_admin(base, "(objectClass=*)", scope="base")[1]:
            admin("ldapadd", ldif=f"dn: {base}\nobjectClass: organizationalUnit\n{attr}: {value}\n")
        uid, mover = f"vd{secrets.token_hex(4)}", f"mv{secrets.token_hex(4)}"
        self.add(account_ldif(uid, base=base, aliases=[f"Sales@{name.upper()}"]))
        self.add(account_ldif(mover))
        wait_for(lambda: account_row(uid) and account_row(mover), "both accounts",
                 seconds=BOUND)
        self.assertEqual(account_row(uid)[1:3], (f"uid={uid},{base}", name))
        self.assertEqual(account_row(mover)[2], "")
        self.assertEqual(stack.psql("SELECT localpart FROM account_addresses JOIN accounts"
                                    " USING (account_id) WHERE uid = :'p1' ORDER BY 1", uid),
                         sorted([[f"sales@{name}"], [uid]]))
        # moved into the domain's base: same row, now of that domain
        account_id = account_row(mover)[0]
        admin("ldapmodrdn", ["-s", base, stack.user_dn(mover), f"uid={mover}"])
        self.cleanup[-1] = f"uid={mover},{base}"
        wait_for(lambda: account_row(mover)[2] == name, "the moved account's domain",
                 seconds=BOUND)
        self.assertEqual(account_row(mover)[:2], (account_id, f"uid={mover},{base}"))


def post(path):
    """(status, parsed JSON) of a POST without a body to directory-sync's admin API."""
    return get_json(f"{ENV['MAILSTACK_DIRECTORY_URL']}{path}", data=b"",
                    headers=stack.admin_headers())


def mail_rows(account_id):
    """(mailboxes, messages) of an account id."""
    return tuple(int(v) for v in stack.psql(
        "SELECT (SELECT count(*) FROM mailboxes WHERE account_id = :'p1'),"
        " (SELECT count(*) FROM messages WHERE account_id = :'p1')", str(account_id))[0])


@stack.needs("directory-sync", "smtp-edge", "lmtp-store", "imap-gateway", "auth-service")
class SoftDeleteTest(unittest.TestCase):
    """An entry leaving LDAP ends its account's mail service at once but keeps its mail:
    the row is only marked deleted until MAILSTACK_ACCOUNT_RETENTION_DAYS (default 30) have
    passed; the same uid added again gets the row and its mail back."""

    def setUp(self):
        self.smtp, self.lmtp = RcptProbe(), RcptProbe(lmtp=True)
        self.uid = f"sd{secrets.token_hex(4)}"
        self.address = f"{self.uid}@{domain()}"
        self.ldif = account_ldif(self.uid) + "userPassword: soft-delete-pw\n"

    def tearDown(self):
        self.smtp.close()
        self.lmtp.close()
        stack.ldap_client("ldapdelete", [stack.user_dn(self.uid)], bind_dn=stack.admin_dn(),
                          password=ENV["MAILSTACK_LDAP_ADMIN_PASSWORD"])

    def deliver(self, subject):
        lmtp = smtplib.LMTP("127.0.0.1", int(ENV["MAILSTACK_LMTP_PORT"]), timeout=30)
        try:
            self.assertEqual(lmtp.sendmail("a@example.org", [f"{self.uid}@lmtp-store"],
                                           f"Subject: {subject}\r\n\r\nkept\r\n"), {})
        finally:
            lmtp.quit()

    def login(self):
        conn = imaplib.IMAP4("127.0.0.1", int(ENV["MAILSTACK_IMAP_PORT"]), timeout=30)
        try:
            conn.login(self.uid, "soft-delete-pw")
        except imaplib.IMAP4.error:
            conn.logout()
            return None
        return conn

    def delete_and_check(self, account_id):
        """ldapdelete: RCPT refused within BOUND, IMAP login refused, the mail kept."""
        admin("ldapdelete", [stack.user_dn(self.uid)])
        seen = measure({"smtp-edge RCPT 550": lambda: self.smtp.code(self.address) == 550,
                        "lmtp-store RCPT 550": lambda: self.lmtp.code(self.address) == 550})
        print(f"\n    soft delete refused RCPT after: "
              + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in seen.items()), end=" ",
              flush=True)
        self.assertEqual(len(seen), 2, seen)
        self.assertLess(max(seen.values()), BOUND)
        self.assertEqual(self.lmtp.code(f"{self.uid}@lmtp-store"), 550)
        self.assertIsNone(self.login(), "a deleted user must not log in")
        self.assertEqual(mail_rows(account_id), (1, 1), "the mail must be kept")

    def test_delete_keeps_the_mail_and_the_uid_added_again_gets_it_back(self):
        admin("ldapadd", ldif=self.ldif)
        wait_for(lambda: self.lmtp.code(self.address) == 250, f"{self.uid} deliverable")
        self.deliver("before the delete")
        account_id = account_row(self.uid)[0]
        _, before = get_json(f"{ENV['MAILSTACK_DIRECTORY_URL']}/v1/status")
        self.delete_and_check(account_id)
        _, during = get_json(f"{ENV['MAILSTACK_DIRECTORY_URL']}/v1/status")
        self.assertEqual(during["mirror"]["deleted_accounts"],
                         before["mirror"]["deleted_accounts"] + 1)
        # re-created: a new entry (new entryUUID) with the same uid takes the row over
        admin("ldapadd", ldif=self.ldif)
        wait_for(lambda: self.lmtp.code(self.address) == 250, f"{self.uid} deliverable again",
                 seconds=BOUND)
        self.assertEqual(account_row(self.uid)[0], account_id)
        conn = self.login()
        self.assertIsNotNone(conn, "the re-created user must log in")
        try:
            self.assertEqual(conn.select("INBOX")[0], "OK")
            typ, data = conn.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            self.assertEqual(typ, "OK")
            self.assertIn(b"before the delete", b"".join(
                part[1] for part in data if isinstance(part, tuple)))
        finally:
            conn.logout()

    def test_purge_after_the_retention_period_removes_the_account_and_its_mail(self):
        admin("ldapadd", ldif=self.ldif)
        wait_for(lambda: self.lmtp.code(self.address) == 250, f"{self.uid} deliverable")
        self.deliver("to be purged")
        account_id = account_row(self.uid)[0]
        self.delete_and_check(account_id)
        # within the retention period: kept
        status, body = post("/v1/accounts/purge")
        self.assertEqual((status, body["retention_days"]), (200, 30), body)
        self.assertEqual(mail_rows(account_id), (1, 1))
        # past it (deleted 31 days ago): purged with its mail, and logged
        stack.psql("UPDATE accounts SET deleted_at = now() - interval '31 days'"
                   " WHERE account_id = :'p1'", str(account_id))
        offset = directory_sync_log().stat().st_size
        status, body = post("/v1/accounts/purge")
        self.assertEqual(status, 200, body)
        self.assertGreaterEqual(body["purged"], 1)
        self.assertEqual(stack.psql("SELECT count(*) FROM accounts WHERE account_id = :'p1'",
                                    str(account_id)), [["0"]])
        self.assertEqual(mail_rows(account_id), (0, 0))
        purged = [e for e in log_events(offset, "mirror.account_purged")
                  if e.get("uid") == self.uid]
        self.assertEqual([e.get("messages") for e in purged], ["1"], purged)
        _, after = get_json(f"{ENV['MAILSTACK_DIRECTORY_URL']}/v1/status")
        self.assertEqual(after["mirror"]["deleted_accounts"], int(stack.psql(
            "SELECT count(*) FROM accounts WHERE deleted_at IS NOT NULL")[0][0]))


def restart_directory_sync(**settings):
    """directory-sync stopped and started again with extra MAILSTACK_* settings (none: as
    the stack started it)."""
    stack.stop_component("directory-sync")
    r = stack.run(["bash", str(stack.STACK_SH), "start", ENV["MAILSTACK_STACK_DIR"]],
                  env={**stack.RUN_ENV, **settings}, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def directory_sync_log():
    return Path(ENV["MAILSTACK_STACK_DIR"], "log", "directory-sync.log")


def log_events(offset, event):
    """The directory-sync log lines with this event written after byte offset."""
    with open(directory_sync_log(), "rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    out = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == event:
            out.append(record)
    return out


@stack.needs("directory-sync")
class RefreshTest(unittest.TestCase):
    """Full refreshes: forced through the API, and after a change of what rows look like."""

    def test_forced_refresh_is_full_and_removes_strays(self):
        tag = secrets.token_hex(4)
        # rows no entry stands for: one under the sync root, one under no root at all
        stack.psql("INSERT INTO mail_groups (entry_uuid, dn) VALUES (:'p1', :'p2'), (:'p3', :'p4')",
                   f"stray-{tag}", f"cn=stray{tag},ou=Group,{ENV['MAILSTACK_LDAP_BASE']}",
                   f"lost-{tag}", f"cn=lost{tag},o=elsewhere")
        offset = directory_sync_log().stat().st_size
        req = urllib.request.Request(f"{ENV['MAILSTACK_DIRECTORY_URL']}/v1/mirror/refresh",
                                     data=b"", method="POST", headers=stack.admin_headers())
        with urllib.request.urlopen(req, timeout=30) as r:
            self.assertEqual(r.status, 200)
        self.assertEqual(stack.psql("SELECT count(*) FROM mail_groups WHERE entry_uuid IN"
                                    " (:'p1', :'p2')", f"stray-{tag}", f"lost-{tag}"), [["0"]])
        refreshed = log_events(offset, "mirror.refreshed")
        self.assertTrue(refreshed and all(e["mode"] == "full" for e in refreshed), refreshed)
        status, body = get_json(f"{ENV['MAILSTACK_DIRECTORY_URL']}/v1/status")
        self.assertEqual(status, 200)
        self.assertEqual([s["state"] for s in body["sync"]["sessions"]],
                         ["live"] * len(body["sync"]["sessions"]))
        self.assertEqual(body["mirror"]["entries"], int(stack.psql(
            "SELECT count(*) FROM accounts WHERE deleted_at IS NULL")[0][0]))

    def test_quota_attribute(self):
        uid = f"qt{secrets.token_hex(4)}"
        # any attribute slapd knows can carry the quota; extensibleObject lets an account
        # hold `description`
        ldif = account_ldif(uid).replace("objectClass: xMail\n",
                                         "objectClass: xMail\nobjectClass: extensibleObject\n")
        admin("ldapadd", ldif=ldif + "description: 20480\n")
        try:
            restart_directory_sync(MAILSTACK_LDAP_QUOTA_ATTRIBUTE="description")
            quota = lambda: stack.psql("SELECT quota_kb FROM accounts WHERE uid = :'p1'", uid)
            wait_for(lambda: quota() == [["20480"]], "the quota from description")
            modify(stack.user_dn(uid), ("replace", "description", "lots"))
            wait_for(lambda: quota() == [[""]], "a quota that is no number to be none",
                     seconds=BOUND)
        finally:
            admin("ldapdelete", [stack.user_dn(uid)])
            restart_directory_sync()


@stack.needs("directory-sync", "smtp-edge", "lmtp-store")
class OutageTest(unittest.TestCase):
    """slapd stopped and started again; directory-sync stopped and started again."""

    def tearDown(self):
        stack.start_stopped()

    def test_slapd_outage(self):
        mail = ("From: foo@example.org\r\nSubject: during the LDAP outage\r\n"
                "\r\nslapd is down and mail still flows\r\n")
        stack.stop_component("slapd")
        wait_for(lambda: readyz()[1].get("status") == "degraded", "readyz to say degraded")
        status, body = readyz()
        self.assertEqual(status, 200)
        self.assertTrue(body["reason"].startswith("ldap unreachable"), body)
        # the mirror keeps serving: known users are accepted, unknown refused
        self.assertEqual(lookup(f"youngbong@{domain()}")[1]["account"], "hurd")
        with smtplib.SMTP("127.0.0.1", int(ENV["MAILSTACK_SMTP_PORT"]), timeout=30) as smtp:
            self.assertEqual(smtp.sendmail("foo@example.org", [f"hurd@{domain()}"], mail), {})
        probe = RcptProbe()
        try:
            self.assertEqual(probe.code(f"nobody{secrets.token_hex(3)}@{domain()}"), 550)
        finally:
            probe.close()
        time.sleep(2)  # a few reconnect attempts (each is logged)
        self.assertTrue(readyz()[1]["reason"].startswith("ldap unreachable"))

        stack.start_stopped()
        t0 = time.monotonic()
        uid = f"ao{secrets.token_hex(4)}"
        admin("ldapadd", ldif=account_ldif(uid))
        try:
            wait_for(lambda: lookup(f"{uid}@{domain()}")[0] == 200,
                     "a change made after slapd came back", seconds=35)
            caught_up = time.monotonic() - t0
            wait_for(lambda: readyz()[1].get("status") == "ready", "readyz ready again")
            print(f"\n    change after slapd restart visible after {caught_up:.2f} s",
                  end=" ", flush=True)
        finally:
            admin("ldapdelete", [stack.user_dn(uid)])

    def test_restart_resumes_from_the_cookie(self):
        keep, drop = f"rk{secrets.token_hex(4)}", f"rd{secrets.token_hex(4)}"
        admin("ldapadd", ldif=account_ldif(drop))
        wait_for(lambda: account_row(drop), f"{drop} in the mirror")
        stack.stop_component("directory-sync")
        offset = directory_sync_log().stat().st_size
        # changes while directory-sync is down
        admin("ldapadd", ldif=account_ldif(keep))
        admin("ldapdelete", [stack.user_dn(drop)])
        try:
            stack.start_stopped()
            wait_for(lambda: lookup(f"{keep}@{domain()}")[0] == 200, f"{keep} after the restart")
            wait_for(lambda: account_row(drop) is None, f"{drop} gone after the restart")
            started = log_events(offset, "mirror.sync_started")
            refreshed = log_events(offset, "mirror.refreshed")
            self.assertEqual([e["mode"] for e in started], ["resume"], started)
            self.assertEqual([e["mode"] for e in refreshed], ["incremental"], refreshed)
            total = int(stack.psql("SELECT count(*) FROM accounts")[0][0])
            # only what changed came again, not the whole directory
            self.assertLess(int(refreshed[0]["entries"]), total, refreshed)
            status, body = get_json(f"{ENV['MAILSTACK_DIRECTORY_URL']}/v1/status")
            self.assertTrue(all(s["resumed"] for s in body["sync"]["sessions"]), body)
        finally:
            admin("ldapdelete", [stack.user_dn(keep)])

    def cookie_lost(self, damage):
        """Stops directory-sync, deletes an entry and a group meanwhile, damages the saved
        cookie with the SQL `damage`, starts it: a full refresh must remove both rows."""
        uid, tag = f"ck{secrets.token_hex(4)}", secrets.token_hex(3)
        group = f"cn=ck{tag},ou=Group,{ENV['MAILSTACK_LDAP_BASE']}"
        admin("ldapadd", ldif=account_ldif(uid) + f"\ndn: {group}\nobjectClass: nisMailAlias\n"
                                                  f"cn: ck{tag}\nrfc822MailMember: hurd\n")
        wait_for(lambda: account_row(uid) and stack.psql(
            "SELECT 1 FROM mail_groups WHERE dn = :'p1'", group), "the entries in the mirror")
        stack.stop_component("directory-sync")
        offset = directory_sync_log().stat().st_size
        admin("ldapdelete", [stack.user_dn(uid), group])
        stack.psql(damage)
        stack.start_stopped()
        wait_for(lambda: account_row(uid) is None and not stack.psql(
            "SELECT 1 FROM mail_groups WHERE dn = :'p1'", group), "both rows removed")
        self.assertEqual([e["mode"] for e in log_events(offset, "mirror.refreshed")], ["full"])

    def test_missing_cookie_means_a_full_refresh(self):
        self.cookie_lost("DELETE FROM directory_state WHERE key LIKE 'syncrepl_cookie:%'")

    def test_unusable_cookie_means_a_full_refresh(self):
        self.cookie_lost("UPDATE directory_state SET value = 'rid=000'"
                         " WHERE key LIKE 'syncrepl_cookie:%'")


if __name__ == "__main__":
    unittest.main()
