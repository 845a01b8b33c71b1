#!/usr/bin/python3
"""run.py - integration tests: a private stack in a temp dir, every test_*.py against it.

Starts tools/stack.sh in a fresh temporary directory (free ports, random passwords, the
service binaries of $MAILSTACK_BIN_DIR, default build/bin; $MAILSTACK_STACK_SERVICES is
passed on), runs every integration-tests/test_*.py with unittest, stops the stack and
checks that nothing of it is left running. With SANITIZE=1 a service log mentioning
AddressSanitizer, LeakSanitizer or "runtime error:" is a failure too. On any failure the
temp dir is kept and the service log tails are printed. The last line is always
"N passed, N failed" (", N skipped" when some were); the exit status is non-zero on failure.
"""

import os
import secrets
import shutil
import sys
import tempfile
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import stack  # noqa: E402  (needs the path above)

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")
# Settings run.py passes through from the caller; any other MAILSTACK_* (e.g. from a sourced
# var/run/stack.env) would pin the private stack to the ports of another one.
PASSED_THROUGH = ("MAILSTACK_BIN_DIR", "MAILSTACK_STACK_SERVICES", "MAILSTACK_LOG_LEVEL")


def stack_environment(stack_dir):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MAILSTACK_") or k in PASSED_THROUGH}
    env.setdefault("MAILSTACK_BIN_DIR", str(stack.REPO / "build" / "bin"))
    env["MAILSTACK_PICK_FREE_PORTS"] = "1"
    # A second served domain with an LDAP base of its own (virtual hosting), for the
    # lookup rules' tests; the services inherit these from tools/stack.sh.
    env["MAILSTACK_DOMAINS"] = "other.test"
    env["MAILSTACK_LDAP_DOMAIN_BASES"] = "other.test=ou=other.test,dc=example,dc=test"
    for name in ("DEMO", "ADMIN", "LDAP_ADMIN", "PG"):
        env[f"MAILSTACK_{name}_PASSWORD"] = secrets.token_urlsafe(12)
    return env


def print_log_tails(stack_dir, lines=30):
    for log in sorted((Path(stack_dir) / "log").glob("*.log")):
        text = log.read_text(errors="replace").splitlines()
        print(f"---- {log} (last {min(lines, len(text))} lines) ----")
        print("\n".join(text[-lines:]))


def sanitizer_reports(stack_dir):
    """Service logs that contain a sanitizer report."""
    found = []
    for log in sorted((Path(stack_dir) / "log").glob("*.log")):
        text = log.read_text(errors="replace")
        if any(marker in text for marker in SANITIZER_MARKERS):
            found.append(log)
    return found


def leftover_processes(stack_dir):
    """Live processes still mentioning the stack dir after stop (slapd, postgres, services)."""
    deadline = time.monotonic() + 5
    while True:
        pids = [p for p in stack.live_pids(str(stack_dir)) if p != os.getpid()]
        if not pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.2)


def main():
    stack_dir = Path(tempfile.mkdtemp(prefix="mailstack-it-"))
    env = stack_environment(stack_dir)
    print(f"integration: stack in {stack_dir} (binaries {env['MAILSTACK_BIN_DIR']})", flush=True)
    passed = failed = skipped = 0
    problems = []
    try:
        stack.RUN_ENV.update(env)
        start = stack.stack_sh("start", str(stack_dir))
        print(start.stdout + start.stderr, end="", flush=True)
        if start.returncode != 0:
            problems.append(f"tools/stack.sh start failed (exit {start.returncode})")
        else:
            stack.load(stack_dir, env)
            # `run.py test_lmtp*.py` runs a subset while working on one part.
            pattern = sys.argv[1] if len(sys.argv) > 1 else "test_*.py"
            suite = unittest.defaultTestLoader.discover(str(HERE), pattern=pattern,
                                                        top_level_dir=str(HERE))
            result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
            bad = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
            skipped = len(result.skipped)
            failed += bad
            passed += result.testsRun - bad - skipped - len(result.expectedFailures)
            if result.testsRun == 0:
                problems.append("no integration tests found")
    finally:
        stop = stack.stack_sh("stop", str(stack_dir))
        print(stop.stdout + stop.stderr, end="", flush=True)
        if stop.returncode != 0:
            problems.append(f"tools/stack.sh stop failed (exit {stop.returncode})")
        left = leftover_processes(stack_dir)
        if left:
            problems.append(f"processes left running after stop: {left}")

    if os.environ.get("SANITIZE") == "1":
        for log in sanitizer_reports(stack_dir):
            problems.append(f"sanitizer report in {log}")
            print(f"---- {log} ----")
            print(log.read_text(errors="replace"))

    failed += len(problems)
    for problem in problems:
        print(f"FAIL: {problem}")
    if failed:
        print_log_tails(stack_dir)
        print(f"integration: kept {stack_dir} for inspection")
    else:
        shutil.rmtree(stack_dir, ignore_errors=True)
    summary = f"{passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    print(summary, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
