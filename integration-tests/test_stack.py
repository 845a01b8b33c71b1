"""test_stack: the dev stack itself - the seed's directory in slapd, the migrated
PostgreSQL schema, stack.env, and that tools/stack.sh start is idempotent."""

import re
import subprocess
import unittest
import uuid

import stack
from stack import ENV

# Every key the services and tests may rely on (tools/stack.sh promises these).
STACK_ENV_KEYS = """
MAILSTACK_STACK_DIR MAILSTACK_HOST MAILSTACK_BIND_ADDR MAILSTACK_DOMAIN MAILSTACK_HOSTNAME
MAILSTACK_SMTP_PORT MAILSTACK_LMTP_PORT MAILSTACK_IMAP_PORT
MAILSTACK_SMTP_EDGE_CONTROL_PORT MAILSTACK_LMTP_STORE_CONTROL_PORT
MAILSTACK_IMAP_GATEWAY_CONTROL_PORT MAILSTACK_DIRECTORY_SYNC_CONTROL_PORT
MAILSTACK_AUTH_SERVICE_CONTROL_PORT
MAILSTACK_SMTP_EDGE_CONTROL_URL MAILSTACK_LMTP_STORE_CONTROL_URL
MAILSTACK_IMAP_GATEWAY_CONTROL_URL MAILSTACK_DIRECTORY_SYNC_CONTROL_URL
MAILSTACK_AUTH_SERVICE_CONTROL_URL MAILSTACK_DIRECTORY_URL MAILSTACK_AUTH_URL
MAILSTACK_LDAP_PORT MAILSTACK_LDAP_URI MAILSTACK_LDAP_BASE MAILSTACK_LDAP_ADMIN_DN
MAILSTACK_LDAP_ADMIN_PASSWORD MAILSTACK_LDAP_BIND_DN MAILSTACK_LDAP_BIND_PASSWORD
MAILSTACK_LDAP_USER_BASE MAILSTACK_PG_PORT MAILSTACK_PG_DSN MAILSTACK_DEMO_USER
MAILSTACK_DEMO_PASSWORD MAILSTACK_ADMIN_USER MAILSTACK_ADMIN_PASSWORD
MAILSTACK_LMTP_TRANSPORTS MAILSTACK_TLS_CERT MAILSTACK_TLS_KEY
MAILSTACK_ALLOW_PLAINTEXT_LOOPBACK MAILSTACK_AUTH_SECRET MAILSTACK_ADMIN_TOKEN
""".split()

# The seed's xmail.schema (§3.1), with xMail AUXILIARY as DESIGN.md requires.
XMAIL_ATTRIBUTE_TYPES = {
    "1.3.6.1.4.1.7290.2.1.1": ("maildrop", ["SUP mail", "SINGLE-VALUE"]),
    "1.3.6.1.4.1.7290.2.1.2": ("mailacceptinggeneralid", ["SUP uid"]),
}
XMAIL_OBJECT_CLASS = ("1.3.6.1.4.1.7290.2.2.1", "xMail",
                      ["SUP top", "AUXILIARY", "MUST uid",
                       "MAY ( maildrop $ mailacceptinggeneralid )"])

# The migrated tables and their exact columns (other services are written against them).
TABLE_COLUMNS = {
    "accounts": {"account_id", "entry_uuid", "dn", "uid", "maildrop", "display_name",
                 "quota_kb", "created_at", "updated_at", "domain", "deleted_at"},
    "mail_groups": {"group_id", "entry_uuid", "dn", "domain", "updated_at"},
    "group_addresses": {"group_id", "localpart"},
    "group_members": {"group_id", "member_dn", "member_address"},
    "mail_aliases": {"domain", "name", "targets"},
    "account_addresses": {"account_id", "localpart"},
    "directory_state": {"key", "value"},
    "mailboxes": {"account_id", "mailbox_id", "name", "uidvalidity", "uidnext",
                  "highestmodseq", "special_use", "subscribed", "created_at"},
    "message_blobs": {"sha256", "size", "data", "created_at"},
    "messages": {"account_id", "mailbox_id", "uid", "modseq", "flags", "internaldate", "size",
                 "blob_sha256", "header_prefix", "envelope", "bodystructure"},
    "schema_migrations": {"version", "applied_at"},
    "quotas": {"account_id", "storage_limit_kb", "message_limit", "storage_used",
               "messages_used", "warned", "updated_at"},
    "delivery_duplicates": {"account_id", "mailbox_id", "message_id", "delivered_at"},
    "sieve_scripts": {"account_id", "name", "script", "active", "updated_at"},
    "vacation_replies": {"account_id", "sender", "handle", "replied_at"},
    "outbound_pending": {"outbound_id", "account_id", "kind", "sender", "recipient",
                         "blob_sha256", "header_prefix", "message", "created_at"},
}


def people():
    return ENV["MAILSTACK_LDAP_USER_BASE"]


def normalise(definition):
    return re.sub(r"\s+", " ", definition.replace("(", " ( ").replace(")", " ) ")).strip()


class DirectoryTest(unittest.TestCase):
    def admin_entry(self, uid, *attrs):
        rc, entries, err = stack.ldap_search_admin(people(), f"(uid={uid})", *attrs)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(entries), 1, f"expected one entry for uid={uid}: {entries}")
        return entries[0]

    def test_hurd_has_both_aliases_maildrop_and_ssha_password(self):
        hurd = self.admin_entry("hurd")
        self.assertEqual(hurd["dn"], [stack.user_dn("hurd")])
        self.assertEqual(sorted(hurd["mailacceptinggeneralid"]), ["hurd", "youngbong"])
        self.assertEqual(hurd["maildrop"], ["hurd@lmtp-store"])
        self.assertEqual(sorted(hurd["objectClass"]),
                         sorted(["top", "account", "posixAccount", "shadowAccount", "xMail"]))
        self.assertEqual((hurd["uidNumber"], hurd["gidNumber"]), (["1005"], ["100"]))
        self.assertRegex(hurd["userPassword"][0], r"^\{SSHA\}[A-Za-z0-9+/]+=*$")

    def test_cyrus_is_the_seeds_admin_with_ssha_password(self):
        cyrus = self.admin_entry("cyrus")
        self.assertEqual(cyrus["mailacceptinggeneralid"], ["cyrus"])
        self.assertEqual(cyrus["maildrop"], ["cyrus@lmtp-store"])
        self.assertEqual((cyrus["uidNumber"], cyrus["gidNumber"]), (["76"], ["12"]))
        self.assertTrue(cyrus["userPassword"][0].startswith("{SSHA}"), cyrus["userPassword"])

    def test_alias_finds_the_entry_the_seeds_way(self):
        # The seed's Postfix filter: an alias, excluding pipe and program maildrops.
        rc, entries, err = stack.ldap_search_admin(
            people(), '(&(mailacceptinggeneralid=youngbong)(!(|(maildrop=*|*)(maildrop=*:*))))',
            "uid", "maildrop")
        self.assertEqual(rc, 0, err)
        self.assertEqual([(e["uid"], e["maildrop"]) for e in entries],
                         [(["hurd"], ["hurd@lmtp-store"])])

    def test_anonymous_cannot_read_entries_or_passwords(self):
        _, entries, _ = stack.ldap_search(people(), "(uid=hurd)", "userPassword", "maildrop")
        readable = [e for e in entries if "userPassword" in e or "maildrop" in e]
        self.assertEqual(readable, [])

    def test_user_cannot_read_another_users_password(self):
        rc, entries, err = stack.ldap_search(people(), "(uid=cyrus)", "userPassword",
                                             bind_dn=stack.user_dn("hurd"),
                                             password=ENV["MAILSTACK_DEMO_PASSWORD"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(entries), 1)
        self.assertNotIn("userPassword", entries[0])

    def test_bind_as_hurd_with_the_demo_password(self):
        r = stack.ldap_client("ldapwhoami", [], bind_dn=stack.user_dn("hurd"),
                              password=ENV["MAILSTACK_DEMO_PASSWORD"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "dn:" + stack.user_dn("hurd"))

    def test_bind_as_hurd_with_a_wrong_password_fails(self):
        r = stack.ldap_client("ldapwhoami", [], bind_dn=stack.user_dn("hurd"),
                              password=ENV["MAILSTACK_DEMO_PASSWORD"] + "x")
        self.assertEqual(r.returncode, 49, r.stdout + r.stderr)  # invalidCredentials

    def test_bind_as_cyrus_with_the_admin_password(self):
        r = stack.ldap_client("ldapwhoami", [], bind_dn=stack.user_dn("cyrus"),
                              password=ENV["MAILSTACK_ADMIN_PASSWORD"])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_xmail_schema_has_the_seeds_oids(self):
        rc, entries, err = stack.ldap_search_admin("cn=Subschema", "(objectClass=subschema)",
                                                   "attributeTypes", "objectClasses",
                                                   scope="base")
        self.assertEqual(rc, 0, err)
        schema = entries[0]
        attribute_types = {normalise(d).split()[1]: normalise(d)
                           for d in schema["attributeTypes"]}
        for oid, (name, parts) in XMAIL_ATTRIBUTE_TYPES.items():
            self.assertIn(oid, attribute_types)
            self.assertIn(f"NAME '{name}'", attribute_types[oid])
            for part in parts:
                self.assertIn(part, attribute_types[oid])
        object_classes = {normalise(d).split()[1]: normalise(d) for d in schema["objectClasses"]}
        oid, name, parts = XMAIL_OBJECT_CLASS
        self.assertIn(oid, object_classes)
        self.assertIn(f"NAME '{name}'", object_classes[oid])
        for part in parts:
            self.assertIn(part, object_classes[oid])

    def test_schema_file_matches_what_slapd_loaded(self):
        text = normalise((stack.REPO / "schema/ldap/xmail.schema").read_text())
        for oid, (name, _) in XMAIL_ATTRIBUTE_TYPES.items():
            self.assertIn(f"attributetype ( {oid} NAME '{name}'", text)
        self.assertIn(f"objectclass ( {XMAIL_OBJECT_CLASS[0]} NAME 'xMail'", text)

    def test_new_account_with_xmail_can_be_added(self):
        uid = "it-" + uuid.uuid4().hex[:8]
        stack.ldap_add(f"""dn: {stack.user_dn(uid)}
objectClass: top
objectClass: account
objectClass: posixAccount
objectClass: xMail
uid: {uid}
cn: {uid}
uidNumber: 20000
gidNumber: 100
homeDirectory: /no/shell
maildrop: {uid}@lmtp-store
mailacceptinggeneralid: {uid}
mailacceptinggeneralid: {uid}-alias
""")
        try:
            rc, entries, err = stack.ldap_search_admin(
                people(), f"(mailacceptinggeneralid={uid}-alias)", "uid")
            self.assertEqual(rc, 0, err)
            self.assertEqual([e["uid"] for e in entries], [[uid]])
        finally:
            stack.ldap_delete(stack.user_dn(uid))

    def test_maildrop_stays_single_valued(self):
        uid = "it-" + uuid.uuid4().hex[:8]
        try:
            stack.ldap_add(f"""dn: {stack.user_dn(uid)}
objectClass: account
objectClass: xMail
uid: {uid}
maildrop: a@lmtp-store
maildrop: b@lmtp-store
""")
        except RuntimeError as refused:
            self.assertIn("multiple values", str(refused))
        else:
            stack.ldap_delete(stack.user_dn(uid))
            self.fail("slapd accepted two maildrop values")


class DatabaseTest(unittest.TestCase):
    def test_every_migration_is_recorded_once(self):
        files = sorted(p.stem for p in (stack.REPO / "schema/postgres").glob("[0-9][0-9][0-9]_*.sql"))
        self.assertTrue(files)
        recorded = [row[0] for row in stack.psql("SELECT version FROM schema_migrations ORDER BY 1")]
        self.assertEqual(recorded, files)

    def test_tables_have_exactly_the_agreed_columns(self):
        rows = stack.psql("SELECT table_name, column_name FROM information_schema.columns "
                          "WHERE table_schema = 'public'")
        columns = {}
        for table, column in rows:
            columns.setdefault(table, set()).add(column)
        for table, expected in TABLE_COLUMNS.items():
            self.assertEqual(columns.get(table), expected, table)

    def test_migrate_again_is_a_no_op(self):
        r = subprocess.run([str(stack.REPO / "tools/migrate.sh")], capture_output=True, text=True,
                           env={**stack.RUN_ENV, "MAILSTACK_PG_DSN": ENV["MAILSTACK_PG_DSN"]},
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "migrate: up to date")

    def test_a_body_is_stored_once_and_a_message_is_prefix_plus_blob(self):
        uid = "it-" + uuid.uuid4().hex[:8]
        body = f"Subject: {uid}\r\n\r\nbody\r\n"
        prefix = f"Delivered-To: {uid}@example.test\r\n"
        rows = stack.psql("""
            BEGIN;
            INSERT INTO accounts (dn, uid) VALUES ('uid=' || :'p1', :'p1');
            INSERT INTO mailboxes (account_id, name, uidvalidity)
                SELECT account_id, 'INBOX', 1 FROM accounts WHERE uid = :'p1';
            INSERT INTO message_blobs (sha256, size, data)
                VALUES (sha256(convert_to(:'p2', 'UTF8')), octet_length(:'p2'),
                        convert_to(:'p2', 'UTF8'));
            INSERT INTO messages (account_id, mailbox_id, uid, modseq, size, blob_sha256,
                                  header_prefix)
                SELECT account_id, mailbox_id, n, n,
                       octet_length(:'p3') + octet_length(:'p2'),
                       sha256(convert_to(:'p2', 'UTF8')), convert_to(:'p3', 'UTF8')
                FROM mailboxes JOIN accounts USING (account_id), generate_series(1, 2) AS n
                WHERE accounts.uid = :'p1';
            SELECT m.uid, m.size, octet_length(m.header_prefix || b.data),
                   encode(m.header_prefix || b.data, 'hex'),
                   (SELECT count(*) FROM message_blobs WHERE sha256 = m.blob_sha256)
                FROM messages m JOIN message_blobs b ON b.sha256 = m.blob_sha256
                JOIN accounts a USING (account_id) WHERE a.uid = :'p1' ORDER BY m.uid;
            ROLLBACK;
        """, uid, body, prefix)
        whole = (prefix + body).encode()
        expected = [str(len(whole)), str(len(whole)), whole.hex(), "1"]
        self.assertEqual(rows, [["1", *expected], ["2", *expected]])


class StackTest(unittest.TestCase):
    def test_stack_env_has_every_key(self):
        missing = [k for k in STACK_ENV_KEYS if not ENV.get(k)]
        self.assertEqual(missing, [])

    def test_stack_env_values_agree(self):
        self.assertEqual(ENV["MAILSTACK_LDAP_URI"], f"ldap://127.0.0.1:{ENV['MAILSTACK_LDAP_PORT']}")
        self.assertEqual(ENV["MAILSTACK_DIRECTORY_URL"], ENV["MAILSTACK_DIRECTORY_SYNC_CONTROL_URL"])
        self.assertEqual(ENV["MAILSTACK_AUTH_URL"], ENV["MAILSTACK_AUTH_SERVICE_CONTROL_URL"])
        for svc in ("SMTP_EDGE", "LMTP_STORE", "IMAP_GATEWAY", "DIRECTORY_SYNC", "AUTH_SERVICE"):
            self.assertEqual(ENV[f"MAILSTACK_{svc}_CONTROL_URL"],
                             f"http://127.0.0.1:{ENV[f'MAILSTACK_{svc}_CONTROL_PORT']}")
        self.assertEqual(ENV["MAILSTACK_LMTP_TRANSPORTS"],
                         f"lmtp-store=127.0.0.1:{ENV['MAILSTACK_LMTP_PORT']}")
        self.assertIn(f"port={ENV['MAILSTACK_PG_PORT']} ", ENV["MAILSTACK_PG_DSN"] + " ")
        ports = [v for k, v in ENV.items() if k.endswith("_PORT")]
        self.assertEqual(len(ports), len(set(ports)), "two settings share a port")
        for name in ("DEMO", "ADMIN", "LDAP_ADMIN", "PG"):
            key = f"MAILSTACK_{name}_PASSWORD"
            self.assertEqual(ENV[key], stack.RUN_ENV[key], "the stack ignored a given password")

    def test_tls_certificate_names_the_host(self):
        r = subprocess.run(["openssl", "x509", "-noout", "-subject", "-in", ENV["MAILSTACK_TLS_CERT"]],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"CN = {ENV['MAILSTACK_HOSTNAME']}", r.stdout)

    def test_second_start_starts_nothing_twice(self):
        slapd_dir = str(stack.DIR / "ldap" / "slapd.d")
        slapds = stack.live_pids(slapd_dir)
        self.assertEqual(len(slapds), 1, slapds)
        r = stack.stack_sh("start", str(stack.DIR))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("already running", r.stdout)
        self.assertEqual(stack.live_pids(slapd_dir), slapds)
        self.assertEqual(stack.parse_env_file(stack.DIR / "run" / "stack.env"), ENV)

    def test_status_reports_running(self):
        r = stack.stack_sh("status", str(stack.DIR))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"slapd +running")
        self.assertRegex(r.stdout, r"postgres +running")


if __name__ == "__main__":
    unittest.main()
