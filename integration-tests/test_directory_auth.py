"""test_directory_auth: directory-sync's mirror and lookup rules (the seed's §3.1/§3.2)
through its JSON API as the other services call it, and every service's control API,
against the real slapd and PostgreSQL of the stack. (auth-service's credential checks
are in test_auth_service.py.)"""

import json
import secrets
import subprocess
import unittest
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import stack
from stack import ENV


def http(method, url, body=None, raw=None, admin=False):
    """(status, parsed JSON or None) for one request; HTTP errors are answers too. admin=True
    sends the admin API's token."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/json"}
    if admin:
        headers.update(stack.admin_headers())
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, text = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, None


def lookup(address):
    q = urllib.parse.urlencode({"address": address})
    return http("GET", f"{ENV['MAILSTACK_DIRECTORY_URL']}/v1/lookup?{q}")


def refresh():
    status, body = http("POST", f"{ENV['MAILSTACK_DIRECTORY_URL']}/v1/mirror/refresh",
                        admin=True)
    assert status == 200, (status, body)


def user_ldif(uid, maildrop, aliases, password_value, number):
    lines = [f"dn: {stack.user_dn(uid)}", "objectClass: top", "objectClass: account",
             "objectClass: posixAccount", "objectClass: shadowAccount", "objectClass: xMail",
             f"uid: {uid}", f"cn: {uid}", f"userPassword: {password_value}",
             f"uidNumber: {number}", "gidNumber: 100", "homeDirectory: /no/shell",
             f"maildrop: {maildrop}"]
    lines += [f"mailacceptinggeneralid: {a}" for a in aliases]
    return "\n".join(lines) + "\n"


@stack.needs("directory-sync")
class LookupTest(unittest.TestCase):
    def test_demo_user_and_alias_resolve_to_maildrop(self):
        for address in ("hurd@example.test", "youngbong@example.test", "HURD@Example.TEST"):
            status, body = lookup(address)
            self.assertEqual(status, 200, address)
            self.assertEqual(body["account"], "hurd")
            self.assertEqual(body["maildrop"], "hurd@lmtp-store")
            self.assertIsNone(body["detail"])

    def test_subaddress_carries_detail(self):
        status, body = lookup("hurd+lists@example.test")
        self.assertEqual(status, 200)
        self.assertEqual(body["account"], "hurd")
        self.assertEqual(body["detail"], "lists")

    def test_unknown_foreign_and_malformed(self):
        status, body = lookup("nobody@example.test")
        self.assertEqual((status, body["error"]["code"]), (404, "unknown_recipient"))
        status, body = lookup("hurd@yahoo.co.kr")
        self.assertEqual((status, body["error"]["code"]), (404, "domain_not_local"))
        for bad in ("hurd@", "a b@example.test", "<hurd@example.test>", "x" * 600):
            status, body = lookup(bad)
            self.assertEqual(status, 400, bad)
            self.assertEqual(body["error"]["code"], "bad_address")
        status, _ = http("GET", f"{ENV['MAILSTACK_DIRECTORY_URL']}/v1/lookup")
        self.assertEqual(status, 400)

    def test_pipe_and_program_maildrops_are_never_targets(self):
        # The seed's ldap_query_filter: (!(|(maildrop="*|*")(maildrop="*:*")))
        suffix = secrets.token_hex(3)
        pipe, prog = f"pipe{suffix}", f"prog{suffix}"
        stack.ldap_add(user_ldif(pipe, "|/usr/bin/procmail", [pipe], "{CRYPT}x", 3001) + "\n" +
                       user_ldif(prog, "prog:/usr/local/bin/filter", [prog], "{CRYPT}x", 3002))
        try:
            refresh()
            for uid in (pipe, prog):
                # mirrored, but not deliverable
                self.assertEqual(len(stack.psql("SELECT 1 FROM accounts WHERE uid = :'p1'", uid)), 1)
                status, body = lookup(f"{uid}@example.test")
                self.assertEqual(status, 404, uid)
        finally:
            stack.ldap_delete(stack.user_dn(pipe), stack.user_dn(prog))
            refresh()

    def test_add_modify_delete_reach_the_mirror(self):
        uid = f"new{secrets.token_hex(3)}"
        alias = f"alias{secrets.token_hex(3)}"
        self.assertEqual(lookup(f"{uid}@example.test")[0], 404)
        stack.ldap_add(user_ldif(uid, f"{uid}@lmtp-store", [uid], "{CRYPT}x", 3003))
        refresh()
        status, body = lookup(f"{uid}@example.test")
        self.assertEqual((status, body["maildrop"]), (200, f"{uid}@lmtp-store"))
        r = stack.ldap_client("ldapmodify", [], bind_dn=stack.admin_dn(),
                              password=ENV["MAILSTACK_LDAP_ADMIN_PASSWORD"],
                              input_text=f"dn: {stack.user_dn(uid)}\nchangetype: modify\n"
                                         f"add: mailacceptinggeneralid\n"
                                         f"mailacceptinggeneralid: {alias.upper()}\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        refresh()
        status, body = lookup(f"{alias}@example.test")
        self.assertEqual((status, body["account"]), (200, uid))
        stack.ldap_delete(stack.user_dn(uid))
        refresh()
        self.assertEqual(lookup(f"{uid}@example.test")[0], 404)
        self.assertEqual(lookup(f"{alias}@example.test")[0], 404)
        # soft-deleted: the row (and its mail) stays for the retention period
        self.assertEqual(stack.psql("SELECT count(*) FROM accounts WHERE uid = :'p1'"
                                    " AND deleted_at IS NULL", uid), [["0"]])

    def test_status_reports_the_mirror(self):
        status, body = http("GET", f"{ENV['MAILSTACK_DIRECTORY_URL']}/v1/status")
        self.assertEqual(status, 200)
        self.assertTrue(body["mirror"]["loaded"])
        accounts = int(stack.psql("SELECT count(*) FROM accounts WHERE deleted_at IS NULL")[0][0])
        self.assertEqual(body["mirror"]["entries"], accounts)


@stack.needs("directory-sync")
class AdminApiTest(unittest.TestCase):
    """The admin API reroutes mail and shows the directory: only with the admin token."""

    def test_admin_routes_need_the_token(self):
        base = ENV["MAILSTACK_DIRECTORY_URL"]
        for method, path, raw in (("PUT", "/v1/aliases", b"postmaster: attacker@evil.example\n"),
                                  ("GET", "/v1/aliases", None),
                                  ("POST", "/v1/mirror/refresh", b""),
                                  ("POST", "/v1/accounts/purge", b"")):
            status, body = http(method, base + path, raw=raw)
            self.assertEqual(status, 401, (method, path, body))
            self.assertEqual(body["error"]["code"], "unauthorized")
            req = urllib.request.Request(base + path, data=raw, method=method, headers={
                "Authorization": "Bearer " + ENV["MAILSTACK_ADMIN_TOKEN"] + "x"})
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req, timeout=10)
            self.assertEqual(e.exception.code, 401)
        # The refused PUT changed nothing: postmaster still reaches hurd.
        status, body = lookup("postmaster@example.test")
        self.assertEqual((status, body["account"]), (200, "hurd"))
        status, body = http("GET", base + "/v1/aliases", admin=True)
        self.assertEqual(status, 200, body)
        # The lookup API stays open to the services; the token never reaches a log.
        self.assertEqual(lookup("hurd@example.test")[0], 200)
        logs = "".join(p.read_text(errors="replace")
                       for p in Path(ENV["MAILSTACK_STACK_DIR"], "log").glob("*.log"))
        self.assertIn("control.admin_refused", logs)
        self.assertNotIn(ENV["MAILSTACK_ADMIN_TOKEN"], logs)


class ControlApiTest(unittest.TestCase):
    SERVICES = ("smtp-edge", "lmtp-store", "imap-gateway", "directory-sync", "auth-service")

    def test_every_service_serves_the_control_api(self):
        for name in sorted(stack.started_services()):
            base = ENV[f"MAILSTACK_{name.upper().replace('-', '_')}_CONTROL_URL"]
            status, body = http("GET", base + "/healthz")
            self.assertEqual((status, body["status"]), (200, "ok"), name)
            status, body = http("GET", base + "/readyz")
            self.assertEqual(status, 200, (name, body))
            status, body = http("GET", base + "/v1/status")
            self.assertEqual((status, body["service"]), (200, name))
            status, _ = http("GET", base + "/no-such-endpoint")
            self.assertEqual(status, 404, name)
            r = subprocess.run(["curl", "-sf", base + "/metrics"], capture_output=True, text=True,
                               timeout=10)
            self.assertEqual(r.returncode, 0, name)
            for line in r.stdout.splitlines():
                if line and not line.startswith("#"):
                    metric, value = line.rsplit(" ", 1)
                    float(value)  # every sample line is "name{labels} number"


if __name__ == "__main__":
    unittest.main()
