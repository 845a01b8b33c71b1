"""test_lookup_rules: the seed's recipient lookup rules (§3.1, §3.2) end to end — through
directory-sync's GET /v1/lookup, through smtp-edge's RCPT and DATA (smtplib), and into the
mailbox lmtp-store files the message in: the aliases table and its admin API, alias chains,
loops and the depth limit, forwards, sub-addresses, case, pipe/program maildrops, virtual
domains with an LDAP base of their own, LDAP groups as distribution lists, and hostile
addresses. Accounts and lists are real LDAP entries (ldapadd/ldapmodify/ldapdelete) that
reach the mirror through directory-sync's syncrepl. The stack serves example.test and
other.test (base ou=other.test,...; see run.py)."""

import secrets
import smtplib
import unittest
import urllib.parse

import stack
from stack import ENV
from test_directory_auth import http, lookup, user_ldif
from test_directory_sync import domain, modify, other_domain_base, wait_for

SEED_ALIASES = (stack.REPO / "schema" / "aliases" / "seed.aliases").read_text()
OTHER = "other.test"


def other_base():
    name, base = other_domain_base()
    assert name == OTHER, "run.py configures other.test with a base of its own"
    return base


def aliases_url(domain_name=None):
    q = f"?{urllib.parse.urlencode({'domain': domain_name})}" if domain_name is not None else ""
    return f"{ENV['MAILSTACK_DIRECTORY_URL']}/v1/aliases{q}"


def put_aliases(text, domain_name=None):
    return http("PUT", aliases_url(domain_name), raw=text.encode(), admin=True)


def set_aliases(extra, domain_name=None):
    """Replaces a table: the seed's aliases plus `extra` for the every-domain table."""
    text = (SEED_ALIASES if domain_name is None else "") + extra
    status, body = put_aliases(text, domain_name)
    assert status == 200, (status, body)


def new_user(prefix="lk", maildrop=None, aliases=(), dn_base=None):
    """A fresh LDAP account (ldapadd) once the mirror shows it; returns its uid."""
    uid = f"{prefix}{secrets.token_hex(4)}"
    ldif = user_ldif(uid, maildrop or f"{uid}@lmtp-store", [uid, *aliases], "{CRYPT}x",
                     20000 + secrets.randbelow(40000))
    if dn_base:
        ldif = ldif.replace(stack.user_dn(uid), f"uid={uid},{dn_base}")
    stack.ldap_add(ldif)
    wait_for(lambda: stack.psql("SELECT 1 FROM accounts WHERE uid = :'p1'", uid),
             f"{uid} in the mirror")
    return uid


def targets(address):
    status, body = lookup(address)
    assert status == 200, (address, status, body)
    return [(t["type"], t.get("account") or t.get("address")) for t in body["targets"]]


def error_code(address):
    status, body = lookup(address)
    return status, body["error"]["code"] if body and "error" in body else None


def rcpt(address):
    """smtp-edge's reply to RCPT TO:<address> (code, text)."""
    with smtplib.SMTP("127.0.0.1", int(ENV["MAILSTACK_SMTP_PORT"]), timeout=30) as smtp:
        smtp.ehlo("client.example.org")
        smtp.mail("foo@example.org")
        code, text = smtp.rcpt(address)
        return code, text.decode(errors="replace")


def send(recipients, marker):
    """One message through smtp-edge; returns sendmail's refused-recipients dict."""
    msg = (f"From: foo@example.org\r\nSubject: lookup {marker}\r\n"
           f"Message-ID: <{marker}@test.example>\r\n\r\nmarker {marker}\r\n")
    with smtplib.SMTP("127.0.0.1", int(ENV["MAILSTACK_SMTP_PORT"]), timeout=60) as smtp:
        return smtp.sendmail("foo@example.org", recipients, msg.encode())


def stored(marker):
    """(uid, mailbox, Delivered-To) of every stored copy of the message holding marker."""
    rows = stack.psql(
        "SELECT a.uid, x.name, encode(m.header_prefix, 'hex') FROM messages m"
        " JOIN mailboxes x USING (account_id, mailbox_id)"
        " JOIN accounts a ON a.account_id = m.account_id"
        " JOIN message_blobs b ON b.sha256 = m.blob_sha256"
        " WHERE position(convert_to(:'p1', 'UTF8') IN b.data) > 0 ORDER BY a.uid, x.name",
        f"marker {marker}")
    out = []
    for uid, mailbox, prefix in rows:
        lines = bytes.fromhex(prefix).decode().split("\r\n")
        delivered = [line for line in lines if line.startswith("Delivered-To:")]
        out.append((uid, mailbox, delivered[0][len("Delivered-To: "):] if delivered else None))
    return sorted(out)


def restart(names, **settings):
    """Stops these services and starts them again with extra MAILSTACK_* settings (none:
    as the stack started them)."""
    for name in names:
        stack.stop_component(name)
    r = stack.run(["bash", str(stack.STACK_SH), "start", ENV["MAILSTACK_STACK_DIR"]],
                  env={**stack.RUN_ENV, **settings}, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def group_base():
    return f"ou=Group,{ENV['MAILSTACK_LDAP_BASE']}"


def user_dn(uid, base=None):
    return f"uid={uid},{base or ENV['MAILSTACK_LDAP_USER_BASE']}"


def ldap_list(name, members=(), rfc822=(), base=None, mail_domain=None):
    """Adds a distribution list to LDAP — a groupOfNames whose `mail` (extensibleObject) is
    name@domain, with member DNs, or, given rfc822 values, a nisMailAlias whose cn is its
    address — and returns its DN once directory-sync has mirrored it."""
    dn = f"cn={name},{base or group_base()}"
    if rfc822:
        lines = ["objectClass: nisMailAlias", f"cn: {name}"]
        lines += [f"rfc822MailMember: {a}" for a in rfc822]
    else:
        lines = ["objectClass: groupOfNames", "objectClass: extensibleObject", f"cn: {name}",
                 f"mail: {name}@{mail_domain or domain()}"]
        lines += [f"member: {m}" for m in members]
    stack.ldap_add("\n".join([f"dn: {dn}", *lines]) + "\n")
    wait_for(lambda: stack.psql("SELECT 1 FROM mail_groups WHERE lower(dn) = lower(:'p1')", dn),
             f"{dn} in the mirror")
    return dn


def ldap_drop(*dns):
    """Deletes entries and waits until the mirror has let them go."""
    stack.ldap_delete(*dns)
    for dn in dns:
        wait_for(lambda: not stack.psql(
            "SELECT 1 FROM mail_groups WHERE lower(dn) = lower(:'p1')"
            " UNION ALL SELECT 1 FROM accounts WHERE lower(dn) = lower(:'p1')"
            " AND deleted_at IS NULL", dn),
            f"{dn} gone from the mirror")


@stack.needs("directory-sync")
class AliasesApiTest(unittest.TestCase):
    """PUT/GET /v1/aliases: the aliases(5) format and its refusals."""

    def tearDown(self):
        set_aliases("")
        set_aliases("", OTHER)

    def test_seed_aliases_are_imported_at_first_start(self):
        status, body = http("GET", aliases_url(), admin=True)
        self.assertEqual(status, 200)
        table = {(a["domain"], a["name"]): a["targets"] for a in body["aliases"]}
        self.assertEqual(table[("", "postmaster")], ["root"])
        self.assertEqual(table[("", "root")], ["hurd"])
        self.assertEqual(table[("", "mailer-daemon")], ["postmaster"])  # folded
        self.assertNotIn(("", "nobody"), table)

    def test_put_replaces_one_domains_table_in_one_go(self):
        text = ("# comment\n"
                "staff:  hurd,\n"
                "        cyrus , \"john doe\"@example.org\n"
                "\n"
                "Sales: \"quoted name\", root\n")
        status, body = put_aliases(text, OTHER)
        self.assertEqual((status, body), (200, {"domain": OTHER, "aliases": 2}))
        status, body = http("GET", aliases_url(OTHER), admin=True)
        self.assertEqual(body["aliases"], [
            {"domain": OTHER, "name": "sales", "targets": ["\"quoted name\"", "root"]},
            {"domain": OTHER, "name": "staff",
             "targets": ["hurd", "cyrus", "\"john doe\"@example.org"]}])
        # the every-domain table is untouched
        status, body = http("GET", aliases_url(""), admin=True)
        self.assertIn("postmaster", [a["name"] for a in body["aliases"]])
        status, body = put_aliases("staff: hurd\n", OTHER)
        self.assertEqual(body["aliases"], 1)
        _, body = http("GET", aliases_url(OTHER), admin=True)
        self.assertEqual([a["name"] for a in body["aliases"]], ["staff"])

    def test_refusals_name_the_line_and_change_nothing(self):
        set_aliases("keep: hurd\n", OTHER)
        for text, line, words in (
                ("a: hurd\nb: |/usr/bin/procmail\n", 2, "pipe"),
                ("a: hurd,\n   \"|/usr/bin/vacation hurd\"\n", 2, "pipe"),
                ("list: :include:/etc/mail/list\n", 1, ":include:"),
                ("# c\n\nlog: /var/log/copy\n", 3, "file"),
                ("root hurd\n", 1, "missing ':'"),
                ("  hurd\n", 1, "continuation"),
                ("a: hurd\nA: cyrus\n", 2, "duplicate alias 'a'"),
                ("a: hurd\0x\n", 1, "NUL"),
                ("a: hu rd\n", 1, "not an address"),
                ("x@example.test: hurd\n", 1, "not an alias name")):
            status, body = put_aliases(text, OTHER)
            self.assertEqual(status, 400, text)
            self.assertEqual(body["error"]["code"], "bad_aliases")
            self.assertTrue(body["error"]["message"].startswith(f"line {line}: "), body)
            self.assertIn(words, body["error"]["message"])
        _, body = http("GET", aliases_url(OTHER), admin=True)
        self.assertEqual([a["name"] for a in body["aliases"]], ["keep"])

    def test_domain_must_be_ours_and_methods_are_checked(self):
        status, body = put_aliases("a: hurd\n", "yahoo.co.kr")
        self.assertEqual((status, body["error"]["code"]), (400, "domain_not_local"))
        status, body = http("DELETE", aliases_url(), admin=True)
        self.assertEqual(status, 405)

    def test_sql_in_a_target_is_only_text(self):
        hostile = "\"x'); DROP TABLE mail_aliases; --\"@example.org"
        set_aliases(f"evil: {hostile}\n", OTHER)
        _, body = http("GET", aliases_url(OTHER), admin=True)
        self.assertEqual(body["aliases"][0]["targets"], [hostile])
        self.assertEqual(targets(f"evil@{OTHER}"),
                         [("forward", "\"x'); DROP TABLE mail_aliases; --\"@example.org")])


@stack.needs("directory-sync", "smtp-edge", "lmtp-store")
class LookupRulesTest(unittest.TestCase):
    def tearDown(self):
        set_aliases("")
        set_aliases("", OTHER)

    def test_postmaster_chain_reaches_hurd_out_of_the_box(self):
        status, body = lookup(f"postmaster@{domain()}")
        self.assertEqual(status, 200, body)
        self.assertEqual((body["account"], body["maildrop"]), ("hurd", "hurd@lmtp-store"))
        self.assertEqual(body["targets"], [{
            "type": "mailbox", "account": "hurd", "maildrop": "hurd@lmtp-store",
            "store": f"127.0.0.1:{ENV['MAILSTACK_LMTP_PORT']}", "detail": None}])
        self.assertEqual(targets(f"MAILER-DAEMON@{domain()}"), [("mailbox", "hurd")])
        # The every-domain table applies in other.test too, where its names are other.test's:
        # root@other.test is hurd@other.test, and hurd is no entry of other.test's base.
        self.assertEqual(error_code(f"postmaster@{OTHER}"), (404, "unknown_recipient"))
        set_aliases(f"root: hurd@{domain()}\n", OTHER)
        self.assertEqual(targets(f"postmaster@{OTHER}"), [("mailbox", "hurd")])
        marker = secrets.token_hex(8)
        self.assertEqual(send([f"postmaster@{domain()}", "Postmaster"], marker), {})
        self.assertEqual(stored(marker), [("hurd", "INBOX", "hurd@lmtp-store")])

    def test_alias_loop_is_refused_with_5_4_6(self):
        a, b = f"loopa{secrets.token_hex(3)}", f"loopb{secrets.token_hex(3)}"
        set_aliases(f"{a}: {b}\n{b}: hurd, {a}@{domain()}\n")
        self.assertEqual(error_code(f"{a}@{domain()}"), (422, "alias_loop"))
        code, text = rcpt(f"{a}@{domain()}")
        self.assertEqual(code, 550)
        self.assertTrue(text.startswith("5.4.6 "), text)
        # a list that contains itself (its DN in another case) is the same loop, and so are
        # two lists that contain each other
        one = f"cn=selfish{a},{group_base()}"
        ldap_list(f"selfish{a}", [one.upper()])
        two = ldap_list(f"ping{a}", [f"cn=pong{a},{group_base()}"])
        three = ldap_list(f"pong{a}", [two, user_dn("hurd")])
        try:
            self.assertEqual(error_code(f"selfish{a}@{domain()}"), (422, "alias_loop"))
            self.assertEqual(error_code(f"ping{a}@{domain()}"), (422, "alias_loop"))
            self.assertEqual(rcpt(f"pong{a}@{domain()}")[0], 550)
        finally:
            ldap_drop(one, two, three)

    def test_an_alias_naming_itself_is_its_entry(self):
        """aliases(5): `user: user, other` keeps a copy in user's own mailbox."""
        uid, other = new_user(), new_user()
        set_aliases(f"{uid}: {uid}, {other}\n")
        self.assertEqual(targets(f"{uid}@{domain()}"), [("mailbox", uid), ("mailbox", other)])
        marker = secrets.token_hex(8)
        self.assertEqual(send([f"{uid}@{domain()}"], marker), {})
        self.assertEqual([r[0] for r in stored(marker)], sorted([uid, other]))

    def test_depth_limit(self):
        """MAILSTACK_ALIAS_DEPTH_LIMIT (20): 20 nested aliases resolve, 21 are refused."""
        tag = secrets.token_hex(3)
        chain = "".join(f"d{tag}x{i}: d{tag}x{i + 1}\n" for i in range(1, 21)) + f"d{tag}x21: hurd\n"
        set_aliases(chain)
        self.assertEqual(targets(f"d{tag}x2@{domain()}"), [("mailbox", "hurd")])   # 20 deep
        self.assertEqual(error_code(f"d{tag}x1@{domain()}"), (422, "alias_too_deep"))  # 21
        code, text = rcpt(f"d{tag}x1@{domain()}")
        self.assertEqual(code, 550)
        self.assertTrue(text.startswith("5.4.6 "), text)
        marker = secrets.token_hex(8)
        self.assertEqual(send([f"d{tag}x2@{domain()}"], marker), {})
        self.assertEqual([r[0] for r in stored(marker)], ["hurd"])

    def test_shared_targets_are_expanded_once(self):
        """A diamond of aliases 15 levels deep has 2^15 paths but 31 names: it stays well
        inside the expansion limit because a name already expanded is not expanded again."""
        t = secrets.token_hex(3)
        lines = [f"m{t}x{i}a: m{t}x{i + 1}a, m{t}x{i + 1}b\nm{t}x{i}b: m{t}x{i + 1}a, m{t}x{i + 1}b\n"
                 for i in range(15)]
        set_aliases("".join(lines) + f"m{t}x15a: hurd\nm{t}x15b: hurd\n")
        self.assertEqual(targets(f"m{t}x0a@{domain()}"), [("mailbox", "hurd")])

    def test_expansion_limit(self):
        """MAILSTACK_ALIAS_EXPANSION_LIMIT (1000) bounds the names one lookup may visit."""
        name = f"huge{secrets.token_hex(3)}"
        dn = ldap_list(name, rfc822=[f"nobody{i}" for i in range(1000)])
        try:
            self.assertEqual(error_code(f"{name}@{domain()}"), (422, "expansion_too_large"))
            code, text = rcpt(f"{name}@{domain()}")
            self.assertEqual(code, 550)
            self.assertTrue(text.startswith("5.5.3 "), text)
        finally:
            ldap_drop(dn)

    def test_external_forward_is_451_until_there_is_a_queue(self):
        fw, mix = f"fw{secrets.token_hex(3)}", f"mix{secrets.token_hex(3)}"
        set_aliases(f"{fw}: Someone@Yahoo.CO.KR\n{mix}: hurd, someone@yahoo.co.kr\n")
        status, body = lookup(f"{fw}@{domain()}")
        self.assertEqual(status, 200)
        self.assertEqual(body["targets"], [{"type": "forward", "address": "Someone@yahoo.co.kr"}])
        self.assertIsNone(body["account"])
        self.assertEqual(targets(f"{mix}@{domain()}"),
                         [("mailbox", "hurd"), ("forward", "someone@yahoo.co.kr")])
        for address in (f"{fw}@{domain()}", f"{mix}@{domain()}"):
            code, text = rcpt(address)
            self.assertEqual(code, 451, address)
            self.assertIn("4.3.0", text)
            self.assertIn("forwarding not available yet", text)

    def test_sub_address_detail_reaches_the_store(self):
        uid = new_user()
        self.assertEqual(lookup(f"{uid}+lists@{domain()}")[1]["detail"], "lists")
        stack.psql("INSERT INTO mailboxes (account_id, name, uidvalidity)"
                   " SELECT account_id, 'INBOX.lists', 1 FROM accounts WHERE uid = :'p1'", uid)
        marker = secrets.token_hex(8)
        self.assertEqual(send([f"{uid}+lists@{domain()}"], marker), {})
        self.assertEqual(stored(marker), [(uid, "INBOX.lists", f"{uid}+lists@lmtp-store")])
        # a detail without a folder of that name lands in INBOX, still marked
        marker = secrets.token_hex(8)
        self.assertEqual(send([f"{uid}+nofolder@{domain()}"], marker), {})
        self.assertEqual(stored(marker), [(uid, "INBOX", f"{uid}+nofolder@lmtp-store")])

    def test_whole_local_part_is_tried_before_the_delimiter(self):
        """Postfix's order: owner+list@ is an address of its own when an entry accepts it."""
        base, owner = new_user(), None
        owner = new_user(aliases=[f"{base}+owner"])
        self.assertEqual(targets(f"{base}+owner@{domain()}"), [("mailbox", owner)])
        status, body = lookup(f"{base}+other@{domain()}")
        self.assertEqual((body["account"], body["detail"]), (base, "other"))
        marker = secrets.token_hex(8)
        self.assertEqual(send([f"{base}+owner@{domain()}"], marker), {})
        self.assertEqual([r[:2] for r in stored(marker)], [(owner, "INBOX")])

    def test_local_parts_compare_case_insensitively(self):
        status, body = lookup(f"HuRd@Example.Test")
        self.assertEqual((status, body["account"]), (200, "hurd"))
        self.assertEqual(targets(f"PostMaster@{domain().upper()}"), [("mailbox", "hurd")])
        marker = secrets.token_hex(8)
        self.assertEqual(send(["HuRd@Example.Test"], marker), {})
        self.assertEqual([r[0] for r in stored(marker)], ["hurd"])

    def test_several_accepted_ids_and_routes_give_one_mailbox(self):
        uid = new_user(aliases=["a" + secrets.token_hex(3), "b" + secrets.token_hex(3)])
        names = [r[0] for r in stack.psql(
            "SELECT localpart FROM account_addresses JOIN accounts USING (account_id)"
            " WHERE uid = :'p1' ORDER BY localpart", uid)]
        self.assertEqual(len(names), 3)
        dup = f"dup{secrets.token_hex(3)}"
        set_aliases(f"{dup}: {names[0]}, {names[1]}@{domain()}, {names[2].upper()}, "
                    f"{uid}@{domain()}\n")
        self.assertEqual(targets(f"{dup}@{domain()}"), [("mailbox", uid)])
        marker = secrets.token_hex(8)
        self.assertEqual(send([f"{n}@{domain()}" for n in names] + [f"{dup}@{domain()}"],
                              marker), {})
        self.assertEqual([r[0] for r in stored(marker)], [uid])

    def test_pipe_and_program_maildrops_are_never_targets(self):
        pipe = new_user("pipe", maildrop="|/usr/bin/procmail")
        prog = new_user("prog", maildrop="prog:/usr/local/bin/filter")
        real = new_user()
        both = f"both{secrets.token_hex(3)}"
        set_aliases(f"{both}: {pipe}, {prog}\n")
        for address in (f"{pipe}@{domain()}", f"{prog}@{domain()}", f"{both}@{domain()}"):
            self.assertEqual(error_code(address), (404, "unknown_recipient"), address)
            self.assertEqual(rcpt(address)[0], 550, address)
        dn = ldap_list(f"mixed{both}", [user_dn(pipe), user_dn(prog), user_dn(real)])
        try:
            self.assertEqual(targets(f"mixed{both}@{domain()}"), [("mailbox", real)])
        finally:
            ldap_drop(dn)

    def test_unknown_alias_targets_are_skipped_and_all_unknown_is_404(self):
        some, none = f"some{secrets.token_hex(3)}", f"none{secrets.token_hex(3)}"
        set_aliases(f"{some}: gone{some}, hurd\n{none}: gone{none}\n")
        self.assertEqual(targets(f"{some}@{domain()}"), [("mailbox", "hurd")])
        self.assertEqual(error_code(f"{none}@{domain()}"), (404, "unknown_recipient"))


@stack.needs("directory-sync", "smtp-edge", "lmtp-store")
class VirtualDomainTest(unittest.TestCase):
    """other.test has an LDAP base of its own: its entries serve it alone, and the shared
    base's entries serve only domains without a base of their own."""

    def tearDown(self):
        set_aliases("", OTHER)

    @classmethod
    def setUpClass(cls):
        r = stack.ldap_client("ldapadd", [], bind_dn=stack.admin_dn(),
                              password=ENV["MAILSTACK_LDAP_ADMIN_PASSWORD"],
                              input_text=f"dn: {other_base()}\nobjectClass: organizationalUnit\n"
                                         f"ou: {OTHER}\n")
        assert r.returncode in (0, 68), r.stderr  # 68: it exists already

    def other_account(self):
        """An entry of other.test's own LDAP base."""
        return new_user("vh", dn_base=other_base())

    def test_entries_are_scoped_by_their_base(self):
        alice = self.other_account()
        self.assertEqual(targets(f"{alice}@{OTHER}"), [("mailbox", alice)])
        self.assertEqual(error_code(f"{alice}@{domain()}"), (404, "unknown_recipient"))
        # hurd is in the shared base: not valid in a domain with a base of its own
        self.assertEqual(error_code(f"hurd@{OTHER}"), (404, "unknown_recipient"))
        marker = secrets.token_hex(8)
        self.assertEqual(send([f"{alice}@{OTHER}"], marker), {})
        self.assertEqual([r[0] for r in stored(marker)], [alice])
        self.assertEqual(rcpt(f"hurd@{OTHER}")[0], 550)

    def test_whole_address_values_name_their_domain(self):
        sales = f"sales{secrets.token_hex(3)}"
        uid = new_user(aliases=[f"{sales}@{OTHER}"])
        self.assertEqual(targets(f"{sales}@{OTHER}"), [("mailbox", uid)])
        self.assertEqual(error_code(f"{sales}@{domain()}"), (404, "unknown_recipient"))

    def test_a_domains_own_aliases_come_first(self):
        alice = self.other_account()
        set_aliases(f"postmaster: {alice}\n", OTHER)
        self.assertEqual(targets(f"postmaster@{OTHER}"), [("mailbox", alice)])
        self.assertEqual(targets(f"postmaster@{domain()}"), [("mailbox", "hurd")])
        # a bare name in other.test's table means a name in other.test
        set_aliases("boss: hurd\n", OTHER)
        self.assertEqual(error_code(f"boss@{OTHER}"), (404, "unknown_recipient"))
        set_aliases(f"boss: hurd@{domain()}\n", OTHER)
        self.assertEqual(targets(f"boss@{OTHER}"), [("mailbox", "hurd")])

    def test_a_list_of_a_domains_base_serves_that_domain(self):
        alice = self.other_account()
        name = f"crew{secrets.token_hex(3)}"
        dn = ldap_list(name, [user_dn(alice, other_base())], base=other_base(), mail_domain=OTHER)
        try:
            self.assertEqual(targets(f"{name}@{OTHER}"), [("mailbox", alice)])
            self.assertEqual(error_code(f"{name}@{domain()}"), (404, "unknown_recipient"))
        finally:
            ldap_drop(dn)

    def test_foreign_domains_are_not_ours(self):
        self.assertEqual(error_code("hurd@third.test"), (404, "domain_not_local"))
        self.assertEqual(rcpt("hurd@third.test")[0], 554)


@stack.needs("directory-sync", "smtp-edge", "lmtp-store")
class GroupTest(unittest.TestCase):
    """LDAP groups as distribution lists, added with ldapadd: groupOfNames (member DNs,
    nested groups) and nisMailAlias (rfc822MailMember addresses)."""

    def test_group_of_names_expands_to_its_members(self):
        one, two = new_user(), new_user()
        tag = secrets.token_hex(3)
        inner = ldap_list(f"inner{tag}", [user_dn(two)])
        outer = ldap_list(f"team{tag}", [
            user_dn(one), user_dn(two).upper(),  # twice, in another case
            inner, user_dn(f"ghost{tag}")])      # a nested list, and a DN that is no entry
        try:
            self.assertEqual(sorted(targets(f"team{tag}@{domain()}")),
                             sorted([("mailbox", one), ("mailbox", two)]))
            marker = secrets.token_hex(8)
            self.assertEqual(send([f"team{tag}@{domain()}"], marker), {})
            self.assertEqual([r[0] for r in stored(marker)], sorted([one, two]))
        finally:
            ldap_drop(outer, inner)

    def test_nis_mail_alias_expands_its_addresses(self):
        uid = new_user()
        name = f"nis{secrets.token_hex(3)}"
        dn = ldap_list(name, rfc822=[uid, f"{uid}@{domain()}", "postmaster",
                                     "friend@yahoo.co.kr", "|/bin/sh"])
        try:
            self.assertEqual(sorted(targets(f"{name}@{domain()}")), sorted([
                ("mailbox", uid), ("mailbox", "hurd"), ("forward", "friend@yahoo.co.kr")]))
            self.assertEqual(rcpt(f"{name}@{domain()}")[0], 451)
            modify(dn, ("delete", "rfc822MailMember", "friend@yahoo.co.kr"))
            wait_for(lambda: len(targets(f"{name}@{domain()}")) == 2, "the forward to go")
            marker = secrets.token_hex(8)
            self.assertEqual(send([f"{name}@{domain()}"], marker), {})
            self.assertEqual([r[0] for r in stored(marker)], sorted([uid, "hurd"]))
        finally:
            ldap_drop(dn)

    def test_an_entry_wins_over_a_list_with_its_name(self):
        uid = new_user()
        dn = ldap_list(uid, [user_dn("hurd")])
        try:
            self.assertEqual(targets(f"{uid}@{domain()}"), [("mailbox", uid)])
        finally:
            ldap_drop(dn)


@stack.needs("directory-sync", "smtp-edge", "lmtp-store")
class SettingsTest(unittest.TestCase):
    """MAILSTACK_RECIPIENT_DELIMITER and MAILSTACK_LOOKUP_CASE_INSENSITIVE=0, honoured alike
    by directory-sync's lookup, smtp-edge's hand-over and lmtp-store's own resolution."""

    SERVICES = ("directory-sync", "lmtp-store", "smtp-edge")

    def test_delimiter_and_exact_case(self):
        uid = new_user()
        restart(self.SERVICES, MAILSTACK_RECIPIENT_DELIMITER="-",
                MAILSTACK_LOOKUP_CASE_INSENSITIVE="0")
        try:
            status, body = lookup(f"{uid}-lists@{domain()}")
            self.assertEqual((status, body["account"], body["detail"]), (200, uid, "lists"))
            self.assertEqual(error_code(f"{uid}+lists@{domain()}"), (404, "unknown_recipient"))
            self.assertEqual(error_code(f"{uid.upper()}@{domain()}"), (404, "unknown_recipient"))
            self.assertEqual(rcpt(f"{uid.upper()}@{domain()}")[0], 550)
            marker = secrets.token_hex(8)
            self.assertEqual(send([f"{uid}-lists@{domain()}"], marker), {})
            self.assertEqual(stored(marker), [(uid, "INBOX", f"{uid}-lists@lmtp-store")])
            marker = secrets.token_hex(8)
            upper = f"{uid.upper()}@lmtp-store"
            with smtplib.LMTP("127.0.0.1", int(ENV["MAILSTACK_LMTP_PORT"]), timeout=30) as lmtp:
                refused = lmtp.sendmail("foo@example.org", [f"{uid}-x@lmtp-store", upper],
                                        f"Subject: x\r\n\r\nmarker {marker}\r\n".encode())
            self.assertEqual(list(refused), [upper])
            self.assertEqual(refused[upper][0], 550)
            self.assertEqual(stored(marker), [(uid, "INBOX", f"{uid}-x@lmtp-store")])
        finally:
            restart(self.SERVICES)
        self.assertEqual(lookup(f"{uid.upper()}+lists@{domain()}")[1]["detail"], "lists")


@stack.needs("directory-sync", "smtp-edge")
class HostileAddressTest(unittest.TestCase):
    """Filter syntax, SQL quotes, NUL/CRLF and oversized parts: 400 or 404, never a match
    and never a 500."""

    def test_lookup_api(self):
        d = domain()
        for address, want in (
                (f"*)(uid=*@{d}", 400), (f"\"*)(uid=*\"@{d}", 404), (f"*@{d}", 404),
                (f"hurd*@{d}", 404), (f"o'brien@{d}", 404), (f"hurd'--@{d}", 404),
                (f"\"hurd' OR '1'='1\"@{d}", 404), (f"hurd\"; DROP TABLE accounts;--@{d}", 400),
                (f"hurd\0@{d}", 400), (f"hurd@{d}\0x", 400), (f"hurd\r\n@{d}", 400),
                (f"hurd@{d}\r\nX: y", 400), ("h" * 1000 + f"@{d}", 400),
                ("h" * 65 + f"@{d}", 400), (f"%@{d}", 404), (f"hurd%00@{d}", 404),
                (f"\"hurd\\\\\"@{d}", 404)):
            status, body = lookup(address)
            self.assertEqual(status, want, repr(address))
            self.assertEqual(body["error"]["code"],
                             "bad_address" if want == 400 else "unknown_recipient")
        self.assertNotEqual(stack.psql("SELECT count(*) FROM accounts"), [["0"]])

    def test_smtp_rcpt(self):
        d = domain()
        for address, want in ((f"\"*)(uid=*\"@{d}", 550), (f"o'brien@{d}", 550),
                              (f"\"a'; DROP TABLE accounts; --\"@{d}", 550),
                              ("h" * 65 + f"@{d}", 501)):
            self.assertEqual(rcpt(address)[0], want, address)


if __name__ == "__main__":
    unittest.main()
