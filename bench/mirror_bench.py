#!/usr/bin/python3
"""mirror_bench: how fast directory-sync's mirror catches up with LDAP (`make bench-mirror`).

Starts a private stack (slapd, PostgreSQL, directory-sync only; binaries from
MAILSTACK_BIN_DIR, default <repo>/build/bin) in a temp dir on free ports, then:

1. catch-up: adds --users accounts (default 10,000; xMail, two addresses each) with ONE
   ldapadd and polls directory-sync's /v1/status every 20 ms until the mirror holds them
   all. The anchor is slapd itself: the wall time of that same ldapadd, measured in the
   same run. Reported: ldapadd seconds, catch-up seconds (from the ldapadd's start until
   the last account is in the mirror), the lag after ldapadd returned, and the ratio
   catch-up / ldapadd (1.00 = the mirror is never behind by more than slapd's own pace).
2. full refresh: POST /v1/mirror/refresh (a cookie-less syncrepl refresh of every entry,
   each applied in its own transaction) against the anchor of one ldapsearch of the same
   entries by the same bind DN, to /dev/null.

Checks that PostgreSQL holds exactly the accounts and addresses added. Prints a table and
one JSON line ('"bench": "mirror-catch-up"'). BENCH_KEEP=1 keeps the temp dir.
"""

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "integration-tests"))
import stack  # noqa: E402  (the integration tests' helpers: stack.env, LDAP and psql clients)

BENCH = "mirror-catch-up"
POLL = 0.02


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=10000, help="accounts added (10000)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds the catch-up or the refresh may take (600)")
    p.add_argument("--label", default="", help="free text put in the JSON (e.g. the commit)")
    a = p.parse_args(argv)
    if not 1 <= a.users <= 1000000:
        p.error("--users must be from 1 to 1000000")
    return a


def status():
    url = stack.ENV["MAILSTACK_DIRECTORY_URL"] + "/v1/status"
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def users_ldif(n, tag):
    base = stack.ENV["MAILSTACK_LDAP_USER_BASE"]
    out = []
    for i in range(n):
        uid = f"mb{tag}{i:07d}"
        out.append(f"dn: uid={uid},{base}\nobjectClass: top\nobjectClass: account\n"
                   f"objectClass: posixAccount\nobjectClass: xMail\nuid: {uid}\ncn: {uid}\n"
                   f"uidNumber: {20000 + i}\ngidNumber: 100\nhomeDirectory: /no/shell\n"
                   f"maildrop: {uid}@lmtp-store\nmailacceptinggeneralid: {uid}\n"
                   f"mailacceptinggeneralid: {uid}.alias\n")
    return "\n".join(out)


def wait_entries(want, deadline):
    """Polls /v1/status until the mirror holds `want` accounts; the time it first did."""
    while time.monotonic() < deadline:
        if status()["mirror"]["entries"] >= want:
            return time.monotonic()
        time.sleep(POLL)
    raise SystemExit(f"bench: the mirror did not reach {want} accounts in time")


def catch_up(args, ldif_path, pwfile):
    """(ldapadd seconds, seconds until the mirror held every account), both from the start
    of the ldapadd, which runs on a thread while this one polls the mirror."""
    before = status()["mirror"]["entries"]
    argv = ["ldapadd", "-x", "-H", stack.ENV["MAILSTACK_LDAP_URI"], "-D", stack.admin_dn(),
            "-y", pwfile, "-f", str(ldif_path)]
    ended = {}

    def ldapadd():
        ended["result"] = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         text=True, timeout=args.timeout)
        ended["at"] = time.monotonic()

    t0 = time.monotonic()
    worker = threading.Thread(target=ldapadd)
    worker.start()
    t_mirror = wait_entries(before + args.users, t0 + args.timeout)
    worker.join(args.timeout)
    r = ended.get("result")
    if r is None or r.returncode != 0:
        raise SystemExit(f"bench: ldapadd failed: {r.stderr.strip() if r else 'timed out'}")
    return ended["at"] - t0, t_mirror - t0


def main(argv):
    args = parse_args(argv)
    bin_dir = os.environ.get("MAILSTACK_BIN_DIR", str(REPO / "build" / "bin"))
    stack_dir = Path(tempfile.mkdtemp(prefix="mailstack-bench-mirror-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSTACK_")}
    env.update(MAILSTACK_BIN_DIR=bin_dir, MAILSTACK_PICK_FREE_PORTS="1",
               MAILSTACK_STACK_SERVICES="directory-sync")
    for name in ("DEMO", "ADMIN", "LDAP_ADMIN", "PG"):
        env[f"MAILSTACK_{name}_PASSWORD"] = secrets.token_urlsafe(12)
    stack.RUN_ENV.update(env)
    ok = False
    try:
        r = stack.stack_sh("start", str(stack_dir))
        if r.returncode != 0:
            raise SystemExit(f"bench: tools/stack.sh start failed:\n{r.stdout}{r.stderr}")
        stack.load(stack_dir, env)
        print(f"bench: stack in {stack_dir} (binaries {bin_dir}); {args.users} users", flush=True)
        tag = secrets.token_hex(2)
        ldif_path = stack_dir / "bench-users.ldif"
        ldif_path.write_text(users_ldif(args.users, tag))
        pwfile = stack_dir / "bench-admin.pw"
        pwfile.write_text(stack.ENV["MAILSTACK_LDAP_ADMIN_PASSWORD"])
        pwfile.chmod(0o600)

        ldap_s, mirror_s = catch_up(args, ldif_path, str(pwfile))
        rows = stack.psql("SELECT count(*), (SELECT count(*) FROM account_addresses x JOIN"
                          " accounts b USING (account_id) WHERE b.uid LIKE :'p1')"
                          " FROM accounts WHERE uid LIKE :'p1'", f"mb{tag}%")
        accounts, addresses = int(rows[0][0]), int(rows[0][1])
        if (accounts, addresses) != (args.users, 2 * args.users):
            raise SystemExit(f"bench: mirror holds {accounts} accounts / {addresses} addresses,"
                             f" want {args.users} / {2 * args.users}")

        t0 = time.monotonic()
        search = subprocess.run(["ldapsearch", "-x", "-H", stack.ENV["MAILSTACK_LDAP_URI"],
                                 "-D", stack.admin_dn(), "-y", str(pwfile), "-LLL",
                                 "-b", stack.ENV["MAILSTACK_LDAP_BASE"], "(objectClass=xMail)"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                timeout=args.timeout)
        search_s = time.monotonic() - t0
        if search.returncode != 0:
            raise SystemExit(f"bench: ldapsearch failed: {search.stderr.strip()}")
        t0 = time.monotonic()
        req = urllib.request.Request(stack.ENV["MAILSTACK_DIRECTORY_URL"] + "/v1/mirror/refresh",
                                     data=b"", method="POST", headers=stack.admin_headers())
        with urllib.request.urlopen(req, timeout=args.timeout) as resp:
            if resp.status != 200:
                raise SystemExit(f"bench: refresh answered {resp.status}")
        refresh_s = time.monotonic() - t0
        total = status()["mirror"]["entries"]

        result = {
            "bench": BENCH, "label": args.label, "users": args.users,
            "ldapadd_seconds": round(ldap_s, 3), "catch_up_seconds": round(mirror_s, 3),
            "lag_after_ldapadd_seconds": round(max(0.0, mirror_s - ldap_s), 3),
            "catch_up_ratio": round(mirror_s / ldap_s, 3),
            "mirror_entries_per_second": round(args.users / mirror_s, 1),
            "full_refresh_entries": total, "full_refresh_seconds": round(refresh_s, 3),
            "ldapsearch_seconds": round(search_s, 3),
            "full_refresh_ratio": round(refresh_s / search_s, 3),
        }
        print(f"  {'ldapadd of ' + str(args.users) + ' users (slapd, anchor)':<46}"
              f"{ldap_s:8.3f} s")
        print(f"  {'mirror catch-up (from the ldapadd start)':<46}{mirror_s:8.3f} s"
              f"   ratio {result['catch_up_ratio']:.2f}")
        print(f"  {'mirror lag after ldapadd returned':<46}"
              f"{result['lag_after_ldapadd_seconds']:8.3f} s")
        print(f"  {'ldapsearch of every xMail entry (anchor)':<46}{search_s:8.3f} s")
        print(f"  {'full refresh of ' + str(total) + ' accounts':<46}{refresh_s:8.3f} s"
              f"   ratio {result['full_refresh_ratio']:.2f}")
        print(json.dumps(result), flush=True)
        ok = True
    finally:
        r = stack.stack_sh("stop", str(stack_dir))
        if r.returncode != 0:
            print(r.stdout + r.stderr, end="")
        if ok and os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(stack_dir, ignore_errors=True)
        else:
            print(f"bench: kept {stack_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
