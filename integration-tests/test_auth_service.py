"""test_auth_service: auth-service (issue 3) and the SASL glue the protocol services use,
against the stack's real slapd, PostgreSQL and services: POST /v1/auth for a uid and any
address, slapd checking {SSHA}/{SHA}/{CRYPT} passwords through a bind as the found entry,
RFC 4515 escaping of hostile user names, the shared secret, pooled LDAP connections, 503
(never 401) while slapd is stopped and 200 again after it restarts, unknown user and
wrong password indistinguishable in status, body and timing, the brute-force penalty and
lockout per (user, IP) and per IP, and imap-gateway's LOGIN, AUTHENTICATE PLAIN (with and
without SASL-IR) and AUTHENTICATE LOGIN with their RFC 5530 answers. Tests that need
other settings (small lockout thresholds, no plaintext on loopback) run a second instance
of this build's binary next to the stack, logging into the stack's log directory."""

import base64
import hashlib
import imaplib
import json
import os
import re
import secrets
import socket
import ssl
import statistics
import subprocess
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

import stack
from stack import ENV
from test_first_mail_imap import RawIMAP


def http(method, url, body=None, raw=None, headers=None, secret=True):
    """(status, parsed JSON or None, response headers, seconds) for one request; HTTP
    errors are answers too. secret=True sends the stack's MAILSTACK_AUTH_SECRET."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    hdrs = {"Content-Type": "application/json"}
    if secret is True:
        hdrs["Authorization"] = f"Bearer {ENV['MAILSTACK_AUTH_SECRET']}"
    elif secret:
        hdrs["Authorization"] = secret
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, text, rh = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, text, rh = e.code, e.read(), e.headers
    elapsed = time.monotonic() - started
    try:
        return status, json.loads(text), rh, elapsed
    except ValueError:
        return status, None, rh, elapsed


def auth(username, password, remote_ip="192.0.2.10", base=None, **kw):
    body = {"username": username, "password": password, "service": "imap",
            "remote_ip": remote_ip}
    return http("POST", f"{base or ENV['MAILSTACK_AUTH_URL']}/v1/auth", body, **kw)


def fresh_ip():
    """An address no other test uses (one of 16 million), so lockout counters start at 0."""
    return "10." + ".".join(str(secrets.randbelow(256)) for _ in range(3))


def user_ldif(uid, password_value, number):
    return "\n".join([
        f"dn: {stack.user_dn(uid)}", "objectClass: top", "objectClass: account",
        "objectClass: posixAccount", "objectClass: shadowAccount", "objectClass: xMail",
        f"uid: {uid}", f"cn: {uid}", f"userPassword: {password_value}",
        f"uidNumber: {number}", "gidNumber: 100", "homeDirectory: /no/shell",
        f"maildrop: {uid}@lmtp-store", f"mailacceptinggeneralid: {uid}"]) + "\n"


def slappasswd(scheme, password, *extra):
    """A userPassword value made by slappasswd (the password through a file, not argv)."""
    path = Path(stack.DIR, "run", f"pw-{secrets.token_hex(4)}")
    path.write_text(password)
    try:
        r = subprocess.run(["slappasswd", "-h", scheme, *extra, "-T", str(path)],
                           capture_output=True, text=True, timeout=30)
    finally:
        path.unlink()
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return r.stdout.strip()


def metric_sum(base_url, family):
    """The sum of every sample of a metric family in GET /metrics."""
    text = urllib.request.urlopen(f"{base_url}/metrics", timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(family + "{") or line.startswith(family + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(0.1)


class PrivateService:
    """A second instance of one of this build's service binaries with settings of its own
    (on top of the stack's), on free ports, logging into the stack's log dir."""

    def __init__(self, name, tag, **settings):
        self.name, self.settings = name, settings
        self.log_path = Path(stack.DIR, "log", f"{name}-{tag}.log")
        self.proc = None

    def start(self, control_port_var):
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSTACK_")}
        env.update(ENV)
        env.update({control_port_var: str(port)}, **self.settings)
        self.url = f"http://127.0.0.1:{port}"
        binary = Path(stack.RUN_ENV.get("MAILSTACK_BIN_DIR", stack.REPO / "build" / "bin"),
                      self.name)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([str(binary)], env=env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            try:
                return urllib.request.urlopen(self.url + "/healthz", timeout=1).status == 200
            except OSError:
                return False
        wait_until(healthy, 20, f"{self.name} ({self.log_path.name}) did not answer")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def plain_b64(user, password, authzid=""):
    return base64.b64encode(f"{authzid}\0{user}\0{password}".encode()).decode()


def imap(port=None):
    return imaplib.IMAP4("127.0.0.1", port or int(ENV["MAILSTACK_IMAP_PORT"]), timeout=30)


def sasl_ir(conn, mech, b64):
    """AUTHENTICATE with an initial response (RFC 4959), which imaplib cannot send
    itself: through its command machinery, so the reply is parsed as usual."""
    return conn._simple_command("AUTHENTICATE", mech, b64)


def assert_imap_login_unavailable(test):
    """LOGIN and AUTHENTICATE PLAIN get NO [UNAVAILABLE], not "wrong password"."""
    conn = imap()
    try:
        with test.assertRaises(imaplib.IMAP4.error) as ctx:
            conn.login("hurd", ENV["MAILSTACK_DEMO_PASSWORD"])
        test.assertIn("[UNAVAILABLE]", str(ctx.exception))
        typ, data = sasl_ir(conn, "PLAIN", plain_b64("hurd", ENV["MAILSTACK_DEMO_PASSWORD"]))
        test.assertEqual(typ, "NO")
        test.assertIn(b"[UNAVAILABLE]", data[0])
    finally:
        conn.logout()


def assert_imap_login_works(test):
    conn = imap()
    try:
        test.assertEqual(conn.login("hurd", ENV["MAILSTACK_DEMO_PASSWORD"])[0], "OK")
    finally:
        conn.logout()


@stack.needs("auth-service")
class AuthApiTest(unittest.TestCase):
    def test_uid_and_any_address_authenticate(self):
        for name in ("hurd", "HURD", "hurd@example.test", "youngbong@example.test",
                     "youngbong"):
            status, body, _, _ = auth(name, ENV["MAILSTACK_DEMO_PASSWORD"])
            self.assertEqual(status, 200, name)
            self.assertEqual(body["account"], "hurd")
            self.assertEqual(body["dn"], stack.user_dn("hurd"))

    def test_password_schemes_are_checked_by_slapd(self):
        uid = f"scheme{secrets.token_hex(3)}"
        made = []
        try:
            for i, scheme in enumerate(("{SSHA}", "{SHA}", "{CRYPT}", "{CRYPT}md5")):
                pw = secrets.token_urlsafe(9)
                if scheme == "{SHA}":  # the seed's mksha: {SHA} + base64(sha1(password))
                    value = "{SHA}" + base64.b64encode(hashlib.sha1(pw.encode()).digest()).decode()
                elif scheme == "{CRYPT}":  # sha512-crypt
                    value = slappasswd("{CRYPT}", pw, "-c", "$6$%.16s")
                elif scheme == "{CRYPT}md5":
                    value = slappasswd("{CRYPT}", pw, "-c", "$1$%.8s")
                else:
                    value = slappasswd("{SSHA}", pw)
                name = f"{uid}{i}"
                stack.ldap_add(user_ldif(name, value, 3100 + i))
                made.append(name)
                ip = fresh_ip()
                status, body, _, _ = auth(name, pw, remote_ip=ip)
                self.assertEqual((status, body.get("account")), (200, name), scheme)
                self.assertEqual(auth(name, pw + "x", remote_ip=ip)[0], 401, scheme)
                self.assertEqual(auth(name, pw[:-1], remote_ip=ip)[0], 401, scheme)
        finally:
            if made:
                stack.ldap_delete(*(stack.user_dn(n) for n in made))

    def test_hostile_user_names_match_nothing(self):
        # With the right password: a filter built without RFC 4515 escaping would let
        # each of these find hurd (or every entry) and bind.
        password = ENV["MAILSTACK_DEMO_PASSWORD"]
        for name in ("*", "hurd*", "hu*d", "*)(uid=*", "hurd)(|(uid=*", "*)(objectClass=*",
                     "hurd)(uid=hurd", "(uid=hurd)", "\\2a", "hurd\\", "*@example.test",
                     "hurd*@example.test", "x" * 1024):
            status, body, _, _ = auth(name, password, remote_ip=fresh_ip())
            self.assertEqual(status, 401, name)
            self.assertEqual(body["error"]["code"], "invalid_credentials", name)
        for name in ("hurd\0", "x" * 1025):  # a NUL byte, over the field limit
            status, body, _, _ = auth(name, password, remote_ip=fresh_ip())
            self.assertEqual((status, body["error"]["code"]), (400, "bad_request"), repr(name))

    def test_unknown_user_and_wrong_password_look_the_same(self):
        samples = {"unknown": [], "wrong": []}
        answers = {}
        for i in range(12):
            for kind in ("unknown", "wrong"):
                name = f"nosuch{secrets.token_hex(4)}" if kind == "unknown" else "hurd"
                status, body, headers, took = auth(name, "not-the-password", remote_ip=fresh_ip())
                samples[kind].append(took)
                answers.setdefault(kind, set()).add(
                    (status, json.dumps(body, sort_keys=True), headers.get("Content-Type")))
        self.assertEqual(answers["unknown"], answers["wrong"])
        self.assertEqual(len(answers["wrong"]), 1, answers)
        self.assertEqual(next(iter(answers["wrong"]))[0], 401)
        # Both wait for the failure floor (MAILSTACK_AUTH_FAILURE_DELAY_MS, 250 ms), so the
        # LDAP work (search miss + dummy bind vs search hit + bind) does not show.
        med_u, med_w = statistics.median(samples["unknown"]), statistics.median(samples["wrong"])
        self.assertGreaterEqual(min(samples["unknown"] + samples["wrong"]), 0.245, samples)
        self.assertLess(abs(med_u - med_w), 0.05, samples)

    def test_missing_or_wrong_secret_is_refused_and_logged(self):
        url = f"{ENV['MAILSTACK_AUTH_URL']}/v1/auth"
        body = {"username": "hurd", "password": ENV["MAILSTACK_DEMO_PASSWORD"]}
        wrong = "Bearer wrong-" + secrets.token_hex(8)
        for secret in (False, wrong, "Basic " + ENV["MAILSTACK_AUTH_SECRET"],
                       "Bearer " + ENV["MAILSTACK_AUTH_SECRET"][:-1],
                       "Bearer " + ENV["MAILSTACK_AUTH_SECRET"] + "x"):
            status, answer, headers, _ = http("POST", url, body, secret=secret)
            self.assertEqual(status, 401, secret)
            self.assertEqual(answer["error"]["code"], "unauthorized_client")
            self.assertIn("Bearer", headers.get("WWW-Authenticate", ""))
        # Before anything else: a GET without the secret is refused, not told "use POST".
        self.assertEqual(http("GET", url, secret=False)[0], 401)
        log = Path(stack.DIR, "log", "auth-service.log").read_text(errors="replace")
        refusals = [json.loads(line) for line in log.splitlines()
                    if '"auth.unauthorized_client"' in line]
        self.assertGreaterEqual(len(refusals), 6)
        self.assertNotIn(wrong.split()[1], log)

    def test_malformed_requests(self):
        url = f"{ENV['MAILSTACK_AUTH_URL']}/v1/auth"
        for raw in (b"not json", b"[1,2]", b"", b'{"username": "hurd"}',
                    b'{"username": 5, "password": "x"}', b'{"username": "", "password": "x"}',
                    b'{"username": "hurd", "password": "x", "remote_ip": 7}'):
            status, body, _, _ = http("POST", url, raw=raw)
            self.assertEqual((status, body["error"]["code"]), (400, "bad_request"), raw)
        self.assertEqual(http("GET", url)[0], 405)

    def test_checks_reuse_pooled_ldap_connections(self):
        base = ENV["MAILSTACK_AUTH_SERVICE_CONTROL_URL"]
        slapd_log = Path(stack.DIR, "log", "slapd.log")
        auth("hurd", ENV["MAILSTACK_DEMO_PASSWORD"], remote_ip=fresh_ip())  # warm the pools
        connects = metric_sum(base, "auth_ldap_connects_total")
        accepts = slapd_log.read_text(errors="replace").count(" ACCEPT from ")
        for i in range(60):
            name = "hurd" if i % 3 else f"nosuch{i}"
            auth(name, ENV["MAILSTACK_DEMO_PASSWORD"], remote_ip=fresh_ip())
        opened = metric_sum(base, "auth_ldap_connects_total") - connects
        # At most one per worker and pool, and only if a check ran on a worker that had
        # not had one yet; never one per check.
        self.assertLessEqual(opened, 8)
        accepted = slapd_log.read_text(errors="replace").count(" ACCEPT from ") - accepts
        self.assertLess(accepted, 15, "slapd accepted a connection for most checks")
        self.assertGreater(metric_sum(base, "auth_ldap_connections"), 0)

    @stack.needs("imap-gateway")
    def test_ldap_down_is_503_and_unavailable_never_bad_credentials(self):
        stack.stop_component("slapd")
        try:
            for name, pw in (("hurd", ENV["MAILSTACK_DEMO_PASSWORD"]), ("hurd", "wrong"),
                             ("nosuch-user", "x")):
                status, body, _, _ = auth(name, pw, remote_ip=fresh_ip())
                self.assertEqual((status, body["error"]["code"]), (503, "ldap_unavailable"))
            assert_imap_login_unavailable(self)
        finally:
            stack.start_stopped()
        # The pooled connections went stale with the old slapd: the first check after the
        # restart must still succeed (drop the dead connection, open a new one).
        status, body, _, _ = auth("hurd", ENV["MAILSTACK_DEMO_PASSWORD"], remote_ip=fresh_ip())
        self.assertEqual((status, body["account"]), (200, "hurd"))
        assert_imap_login_works(self)


FREE = 0.35  # seconds: an answer that waited no penalty


@stack.needs("auth-service")
class LockoutTest(unittest.TestCase):
    """A private auth-service with small thresholds: penalties of 400, 800, 1600 ms after 3
    failures of a (user, IP), a lock after 6 of them or 12 of an IP, cooling in 3 s. An
    answer without a penalty takes the 50 ms failure floor; 0.35 s leaves room for a busy
    machine and still tells the two apart."""

    @classmethod
    def setUpClass(cls):
        cls.svc = PrivateService(
            "auth-service", "lockout",
            MAILSTACK_AUTH_USER_DELAY_AFTER="3", MAILSTACK_AUTH_USER_LOCK_AFTER="6",
            MAILSTACK_AUTH_IP_DELAY_AFTER="8", MAILSTACK_AUTH_IP_LOCK_AFTER="12",
            MAILSTACK_AUTH_PENALTY_MS="400", MAILSTACK_AUTH_PENALTY_MAX_MS="1600",
            MAILSTACK_AUTH_LOCK_MS="3000", MAILSTACK_AUTH_FAILURE_DELAY_MS="50")
        cls.svc.start("MAILSTACK_AUTH_SERVICE_CONTROL_PORT")

    @classmethod
    def tearDownClass(cls):
        cls.svc.stop()

    def auth(self, user, password, ip):
        return auth(user, password, remote_ip=ip, base=self.svc.url)

    def test_pair_penalty_doubles_then_429_then_cools_down(self):
        ip, other_ip, good = fresh_ip(), fresh_ip(), ENV["MAILSTACK_DEMO_PASSWORD"]
        took = []
        for _ in range(6):
            status, _, _, t = self.auth("hurd", "wrong", ip)
            self.assertEqual(status, 401)
            took.append(t)
        # 3 free failures (only the 50 ms floor), then 400, 800 and 1600 ms of penalty.
        self.assertTrue(all(t < FREE for t in took[:3]), took)
        for t, penalty in zip(took[3:], (0.4, 0.8, 1.6)):
            self.assertGreaterEqual(t, penalty + 0.05, took)
            self.assertLess(t, penalty + 1.0, took)
        # Locked: even the right password is refused, at once, with a Retry-After.
        status, body, headers, t = self.auth("hurd", good, ip)
        self.assertEqual((status, body["error"]["code"]), (429, "too_many_failures"))
        self.assertIn(headers["Retry-After"], ("1", "2", "3"))
        self.assertLess(t, FREE)
        locked_at = time.monotonic()
        # Other users from that IP, and the user from other IPs, are not affected.
        self.assertEqual(self.auth("cyrus", ENV["MAILSTACK_ADMIN_PASSWORD"], ip)[0], 200)
        status, _, _, t = self.auth("hurd", good, other_ip)
        self.assertEqual(status, 200)
        self.assertLess(t, FREE)
        # After the cooling time the pair starts over.
        time.sleep(max(0.0, 3.1 - (time.monotonic() - locked_at)))
        status, body, _, _ = self.auth("hurd", good, ip)
        self.assertEqual((status, body["account"]), (200, "hurd"))
        status, _, _, t = self.auth("hurd", "wrong", ip)
        self.assertEqual(status, 401)
        self.assertLess(t, FREE)

    def test_success_resets_the_pair(self):
        ip, good = fresh_ip(), ENV["MAILSTACK_DEMO_PASSWORD"]
        for _ in range(3):
            for _ in range(2):
                status, _, _, t = self.auth("hurd", "wrong", ip)
                self.assertEqual(status, 401)
                self.assertLess(t, FREE)  # never the 400 ms penalty: the count restarts
            self.assertEqual(self.auth("hurd", good, ip)[0], 200)

    def test_ip_lockout_spans_user_names_and_spares_other_ips(self):
        ip, other_ip = fresh_ip(), fresh_ip()
        took = []
        for i in range(12):  # one failure each for 12 names: only the IP's count grows
            status, _, _, t = self.auth(f"guess{i}-{secrets.token_hex(2)}", "x", ip)
            self.assertEqual(status, 401)
            took.append(t)
        self.assertTrue(all(t < FREE for t in took[:8]), took)
        self.assertGreaterEqual(took[8], 0.45, took)
        status, _, headers, _ = self.auth("hurd", ENV["MAILSTACK_DEMO_PASSWORD"], ip)
        self.assertEqual(status, 429)
        self.assertEqual(self.auth("hurd", ENV["MAILSTACK_DEMO_PASSWORD"], other_ip)[0], 200)
        self.assertGreaterEqual(metric_sum(self.svc.url, "auth_penalties_total"), 4)


@stack.needs("auth-service")
class ShutdownTest(unittest.TestCase):
    def test_sigterm_answers_requests_held_by_a_penalty(self):
        svc = PrivateService("auth-service", "shutdown", MAILSTACK_AUTH_USER_DELAY_AFTER="1",
                             MAILSTACK_AUTH_PENALTY_MS="20000",
                             MAILSTACK_AUTH_PENALTY_MAX_MS="20000")
        svc.start("MAILSTACK_AUTH_SERVICE_CONTROL_PORT")
        try:
            ip = fresh_ip()
            self.assertEqual(auth("hurd", "wrong", remote_ip=ip, base=svc.url)[0], 401)
            held = subprocess.Popen(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                 f"Authorization: Bearer {ENV['MAILSTACK_AUTH_SECRET']}", "--data-binary",
                 json.dumps({"username": "hurd", "password": "x", "remote_ip": ip}),
                 svc.url + "/v1/auth"], stdout=subprocess.PIPE, text=True)
            wait_until(lambda: metric_sum(svc.url, "auth_penalties_total") >= 1, 10,
                       "the request was not held")
            started = time.monotonic()
            svc.proc.terminate()
            self.assertEqual(held.communicate(timeout=15)[0], "503")
            self.assertEqual(svc.proc.wait(timeout=15), 0)
            self.assertLess(time.monotonic() - started, 5)  # not the 20 s penalty
        finally:
            svc.stop()


@stack.needs("auth-service")
class DnCacheTest(unittest.TestCase):
    """A private auth-service whose DN cache keeps a name for 1 s: a cached check is a
    bind alone, yet a changed password or a deleted entry counts at once, and a removed
    alias stops working once its cache entry expires."""

    @classmethod
    def setUpClass(cls):
        cls.svc = PrivateService("auth-service", "dncache", MAILSTACK_AUTH_DN_CACHE_MS="1000",
                                 MAILSTACK_AUTH_FAILURE_DELAY_MS="0")
        cls.svc.start("MAILSTACK_AUTH_SERVICE_CONTROL_PORT")

    @classmethod
    def tearDownClass(cls):
        cls.svc.stop()

    def auth(self, user, password):
        status, body, _, _ = auth(user, password, remote_ip=fresh_ip(), base=self.svc.url)
        return status, body

    def modify(self, uid, change):
        r = stack.ldap_client("ldapmodify", [], bind_dn=stack.admin_dn(),
                              password=ENV["MAILSTACK_LDAP_ADMIN_PASSWORD"],
                              input_text=f"dn: {stack.user_dn(uid)}\nchangetype: modify\n{change}")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_cached_names_still_bind_every_time(self):
        uid, alias = f"cache{secrets.token_hex(3)}", f"alias{secrets.token_hex(3)}"
        old, new = secrets.token_urlsafe(9), secrets.token_urlsafe(9)
        stack.ldap_add(user_ldif(uid, slappasswd("{SSHA}", old), 3200) +
                       f"mailacceptinggeneralid: {alias}\n")
        try:
            hits = lambda: metric_sum(self.svc.url, "auth_dn_cache_hits_total")  # noqa: E731
            self.assertEqual(self.auth(alias, old), (200, {"account": uid, "dn": stack.user_dn(uid)}))
            before = hits()
            self.assertEqual(self.auth(alias.upper(), old)[0], 200)
            self.assertEqual(hits(), before + 1)
            self.assertEqual(self.auth(alias, old + "x")[0], 401)  # drops the cached name
            self.assertEqual(self.auth(alias, old)[0], 200)
            self.assertEqual(self.auth(uid, old)[0], 200)
            # A new password counts at once, cached or not.
            self.modify(uid, f"replace: userPassword\nuserPassword: {slappasswd('{SSHA}', new)}\n")
            self.assertEqual(self.auth(uid, old)[0], 401)
            self.assertEqual(self.auth(uid, new)[0], 200)
            # A removed alias: gone once the cache entry has expired.
            self.assertEqual(self.auth(alias, new)[0], 200)
            self.modify(uid, f"delete: mailacceptinggeneralid\nmailacceptinggeneralid: {alias}\n")
            time.sleep(1.1)
            self.assertEqual(self.auth(alias, new)[0], 401)
            self.assertEqual(self.auth(uid, new)[0], 200)
        finally:
            stack.ldap_delete(stack.user_dn(uid))
        # A deleted entry: its cached DN no longer binds.
        self.assertEqual(self.auth(uid, new)[0], 401)


@stack.needs("imap-gateway", "auth-service", "directory-sync")
class ImapSaslTest(unittest.TestCase):
    def caps(self, conn):
        typ, data = conn.capability()
        self.assertEqual(typ, "OK")
        return data[0].split()

    def test_capabilities_offer_sasl_on_loopback(self):
        conn = imap()
        try:
            caps = self.caps(conn)
            for cap in (b"AUTH=PLAIN", b"AUTH=LOGIN", b"SASL-IR"):
                self.assertIn(cap, caps)
            self.assertNotIn(b"LOGINDISABLED", caps)
            self.assertNotIn(b"AUTH=CRAM-MD5", caps)
            conn.login("hurd", ENV["MAILSTACK_DEMO_PASSWORD"])
            caps = self.caps(conn)
            self.assertNotIn(b"AUTH=PLAIN", caps)
            self.assertNotIn(b"SASL-IR", caps)
        finally:
            conn.logout()

    def test_authenticate_plain_and_login_after_continuations(self):
        user, pw = "hurd", ENV["MAILSTACK_DEMO_PASSWORD"]
        login_answers = {b"Username:": user.encode(), b"Password:": pw.encode()}
        for mech, respond in (("PLAIN", lambda _: f"\0{user}\0{pw}".encode()),
                              ("LOGIN", lambda challenge: login_answers[challenge])):
            conn = imap()
            try:
                typ, data = conn.authenticate(mech, respond)
                self.assertEqual(typ, "OK", mech)
                self.assertIn(b"Authenticated", data[0])
                self.assertEqual(conn.select("INBOX")[0], "OK")
            finally:
                conn.logout()

    def test_authenticate_plain_with_sasl_ir_and_an_alias(self):
        raw = RawIMAP()
        try:
            blob = plain_b64("youngbong@example.test", ENV["MAILSTACK_DEMO_PASSWORD"]).encode()
            untagged, tagged = raw.command(b"s1", b"s1 AUTHENTICATE PLAIN " + blob + b"\r\n")
            self.assertEqual(untagged, [])  # no "+" continuation: the response came along
            self.assertTrue(tagged.startswith(b"s1 OK [CAPABILITY IMAP4rev1"), tagged)
            _, tagged = raw.command(b"s2", b"s2 SELECT INBOX\r\n")
            self.assertTrue(tagged.startswith(b"s2 OK"), tagged)
        finally:
            raw.close()
        log = Path(stack.DIR, "log", "imap-gateway.log").read_text(errors="replace")
        logins = [json.loads(line) for line in log.splitlines() if '"imap.login"' in line]
        self.assertTrue(any(e.get("user") == "youngbong@example.test" and e.get("account") == "hurd"
                            and e.get("mechanism") == "PLAIN" for e in logins), logins[-3:])

    def test_bad_credentials_answer_authenticationfailed_the_same_way(self):
        raw = RawIMAP()
        try:
            replies = []
            for tag, user, pw in ((b"w1", "hurd", "wrong"), (b"w2", f"nosuch{secrets.token_hex(3)}", "wrong")):
                _, tagged = raw.command(tag, tag + b" AUTHENTICATE PLAIN " + plain_b64(user, pw).encode() + b"\r\n")
                replies.append(tagged[len(tag):])
            self.assertEqual(replies[0], replies[1])
            self.assertTrue(replies[0].startswith(b" NO [AUTHENTICATIONFAILED]"), replies)
        finally:
            raw.close()
        raw = RawIMAP()
        try:
            # A PLAIN authorization identity other than the authenticated one is refused.
            blob = plain_b64("hurd", ENV["MAILSTACK_DEMO_PASSWORD"], authzid="cyrus").encode()
            _, tagged = raw.command(b"z1", b"z1 AUTHENTICATE PLAIN " + blob + b"\r\n")
            self.assertTrue(tagged.startswith(b"z1 NO [AUTHENTICATIONFAILED]"), tagged)
        finally:
            raw.close()

    def test_cancelled_malformed_and_unknown_mechanisms(self):
        raw = RawIMAP()

        def expect(tag, text, answer):
            _, tagged = raw.command(tag, text)
            self.assertTrue(tagged.startswith(tag + b" " + answer), (text, tagged))
        try:
            raw.sock.sendall(b"c1 AUTHENTICATE PLAIN\r\n")
            self.assertEqual(raw.line(), b"+ ")
            expect(b"c1", b"*\r\n", b"BAD")  # cancelled
            expect(b"c2", b"c2 AUTHENTICATE PLAIN %%%notbase64\r\n", b"BAD")
            raw.sock.sendall(b"c3 AUTHENTICATE LOGIN\r\n")
            self.assertEqual(raw.line(), b"+ VXNlcm5hbWU6")
            expect(b"c3", b"not base64!\r\n", b"BAD")
            expect(b"c4", b"c4 AUTHENTICATE CRAM-MD5\r\n", b"NO")
            expect(b"c5", b"c5 AUTHENTICATE\r\n", b"BAD")
            expect(b"c6", b"c6 NOOP\r\n", b"OK NOOP completed")
            blob = plain_b64("hurd", ENV["MAILSTACK_DEMO_PASSWORD"]).encode()
            expect(b"c7", b"c7 AUTHENTICATE plain " + blob + b"\r\n", b"OK")
            expect(b"c8", b"c8 AUTHENTICATE PLAIN " + blob + b"\r\n", b"BAD")  # logged in
        finally:
            raw.close()

    def test_auth_service_down_is_unavailable(self):
        stack.stop_component("auth-service")
        try:
            assert_imap_login_unavailable(self)
        finally:
            stack.start_stopped()
        assert_imap_login_works(self)

    def test_passwords_and_secrets_never_logged(self):
        wrong = "Sekrit-" + secrets.token_hex(6)
        blobs = [plain_b64("hurd", ENV["MAILSTACK_DEMO_PASSWORD"]), plain_b64("hurd", wrong)]
        auth("hurd", ENV["MAILSTACK_DEMO_PASSWORD"], remote_ip=fresh_ip())
        auth("hurd", wrong, remote_ip=fresh_ip())
        http("POST", f"{ENV['MAILSTACK_AUTH_URL']}/v1/auth", {"username": "hurd", "password": wrong},
             secret="Bearer " + wrong)
        raw = RawIMAP()
        try:
            for tag, blob in zip((b"p1", b"p2"), reversed(blobs)):
                raw.command(tag, tag + b" AUTHENTICATE PLAIN " + blob.encode() + b"\r\n")
        finally:
            raw.close()
        conn = imap()
        try:
            with self.assertRaises(imaplib.IMAP4.error):
                conn.login("hurd", wrong)
            conn.login("hurd", ENV["MAILSTACK_DEMO_PASSWORD"])
        finally:
            conn.logout()
        needles = [ENV["MAILSTACK_DEMO_PASSWORD"], wrong, ENV["MAILSTACK_AUTH_SECRET"],
                   ENV["MAILSTACK_LDAP_BIND_PASSWORD"], *blobs]
        logs = list(Path(stack.DIR, "log").glob("*.log"))
        self.assertTrue(any(p.name == "auth-service.log" for p in logs))
        for log in logs:
            text = log.read_text(errors="replace")
            for needle in needles:
                self.assertNotIn(needle, text, log.name)


@stack.needs("imap-gateway", "auth-service", "directory-sync")
class ImapPolicyTest(unittest.TestCase):
    """A private imap-gateway without the loopback exception (plaintext only after
    STARTTLS), asking the private lockout auth-service, so 429 can be reached quickly."""

    @classmethod
    def setUpClass(cls):
        cls.auth_svc = PrivateService(
            "auth-service", "policy", MAILSTACK_AUTH_USER_DELAY_AFTER="0",
            MAILSTACK_AUTH_USER_LOCK_AFTER="2", MAILSTACK_AUTH_LOCK_MS="60000",
            MAILSTACK_AUTH_FAILURE_DELAY_MS="0")
        cls.auth_svc.start("MAILSTACK_AUTH_SERVICE_CONTROL_PORT")
        cls.imap_port = free_port()
        cls.gw = PrivateService(
            "imap-gateway", "policy", MAILSTACK_IMAP_PORT=str(cls.imap_port),
            MAILSTACK_ALLOW_PLAINTEXT_LOOPBACK="0", MAILSTACK_AUTH_URL=cls.auth_svc.url,
            MAILSTACK_IMAP_AUTH_THROTTLE_MS="100", MAILSTACK_IMAP_MAX_AUTH_FAILURES="10")
        try:
            cls.gw.start("MAILSTACK_IMAP_GATEWAY_CONTROL_PORT")
        except Exception:
            cls.auth_svc.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.auth_svc.stop()

    def tls(self, conn):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.assertEqual(conn.starttls(ssl_context=ctx)[0], "OK")

    def test_no_plaintext_mechanism_before_tls(self):
        conn = imap(self.imap_port)
        try:
            caps = conn.capability()[1][0].split()
            self.assertIn(b"LOGINDISABLED", caps)
            self.assertIn(b"STARTTLS", caps)
            self.assertFalse([c for c in caps if c.startswith(b"AUTH=")], caps)
            typ, data = sasl_ir(conn, "PLAIN", plain_b64("hurd", ENV["MAILSTACK_DEMO_PASSWORD"]))
            self.assertEqual(typ, "NO")
            self.assertIn(b"[PRIVACYREQUIRED]", data[0])
            with self.assertRaises(imaplib.IMAP4.error) as ctx:
                conn.login("hurd", ENV["MAILSTACK_DEMO_PASSWORD"])
            self.assertIn("PRIVACYREQUIRED", str(ctx.exception))
            self.tls(conn)
            caps = conn.capability()[1][0].split()
            self.assertIn(b"AUTH=PLAIN", caps)
            self.assertIn(b"AUTH=LOGIN", caps)
            self.assertNotIn(b"LOGINDISABLED", caps)
            typ, _ = sasl_ir(conn, "PLAIN", plain_b64("hurd", ENV["MAILSTACK_DEMO_PASSWORD"]))
            self.assertEqual(typ, "OK")
        finally:
            conn.logout()

    def test_lockout_answers_limit(self):
        user = f"locked{secrets.token_hex(3)}"
        conn = imap(self.imap_port)
        try:
            self.tls(conn)
            replies = []
            for _ in range(3):
                typ, data = sasl_ir(conn, "PLAIN", plain_b64(user, "wrong"))
                replies.append((typ, data[0]))
            self.assertEqual(replies[0][0], "NO")
            self.assertIn(b"[AUTHENTICATIONFAILED]", replies[0][1])
            self.assertIn(b"[AUTHENTICATIONFAILED]", replies[1][1])
            self.assertEqual(replies[2][0], "NO")
            self.assertIn(b"[LIMIT]", replies[2][1])
        finally:
            conn.logout()


if __name__ == "__main__":
    unittest.main()
