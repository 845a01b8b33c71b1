"""stack: the private dev stack the integration tests run against, and helpers to reach it.

run.py starts the stack (tools/stack.sh) in a temporary directory, then calls load() with
its DIR/run/stack.env; tests read ENV (every MAILSTACK_* setting: ports, URLs, DSN,
passwords) and use the helpers below, which talk to slapd and PostgreSQL with the real
command-line clients (ldapadd, ldapsearch, psql). Passwords go to those clients through a
file or the environment, never argv.
"""

import base64
import os
import shlex
import socket
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STACK_SH = REPO / "tools" / "stack.sh"
ALL_SERVICES = ("auth-service", "directory-sync", "lmtp-store", "smtp-edge", "imap-gateway")

ENV = {}      # the stack's stack.env as a dict
RUN_ENV = {}  # the environment tools/stack.sh was started with (to run it again)
DIR = None    # the stack directory (Path)


def parse_env_file(path):
    """Reads a shell-sourceable KEY=VALUE file as written by tools/stack.sh."""
    values = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line)
        if len(words) != 1 or "=" not in words[0]:
            raise ValueError(f"{path}: not KEY=VALUE: {line!r}")
        key, value = words[0].split("=", 1)
        values[key] = value
    return values


def load(stack_dir, run_env):
    """Makes the stack in stack_dir the one the helpers talk to."""
    global DIR
    DIR = Path(stack_dir)
    ENV.clear()
    ENV.update(parse_env_file(DIR / "run" / "stack.env"))
    RUN_ENV.clear()
    RUN_ENV.update(run_env)


def started_services():
    """The services the stack was asked to start (MAILSTACK_STACK_SERVICES, default all)."""
    env = RUN_ENV or os.environ
    if "MAILSTACK_STACK_SERVICES" not in env:
        return set(ALL_SERVICES)
    return set(env["MAILSTACK_STACK_SERVICES"].split())


def needs(*services):
    """Skips a test or test class unless the stack runs all of these services, so the
    stack's own tests can run with MAILSTACK_STACK_SERVICES="" (or a subset)."""
    missing = sorted(set(services) - started_services())
    return unittest.skipIf(missing, f"needs {', '.join(missing)} (MAILSTACK_STACK_SERVICES)")


def run(argv, *, input_text=None, env=None, timeout=60):
    """Runs a command; returns the CompletedProcess (text mode), never raises on exit status."""
    return subprocess.run(argv, input=input_text, capture_output=True, text=True,
                          env=env, timeout=timeout)


def stack_sh(*args, timeout=300):
    """tools/stack.sh with the environment the stack was started with."""
    return run(["bash", str(STACK_SH), *args], env=RUN_ENV, timeout=timeout)


class _PasswordFile:
    """A 0600 temporary file holding a password without a newline (ldap -y reads it all)."""

    def __init__(self, password):
        self.password = password

    def __enter__(self):
        fd, self.path = tempfile.mkstemp(prefix="mailstack-pw-")
        with os.fdopen(fd, "w") as f:
            f.write(self.password)
        return self.path

    def __exit__(self, *exc):
        os.unlink(self.path)


def _ldap_auth(bind_dn, password):
    if bind_dn is None:
        return ["-x"], None
    return ["-x", "-D", bind_dn], password


def ldap_client(tool, args, *, bind_dn=None, password=None, input_text=None):
    """Runs ldapsearch/ldapadd/ldapwhoami/... against the stack's slapd."""
    auth, secret = _ldap_auth(bind_dn, password)
    argv = [tool, "-H", ENV["MAILSTACK_LDAP_URI"], "-o", "nettimeout=10", *auth]
    if secret is None:
        return run(argv + list(args), input_text=input_text)
    with _PasswordFile(secret) as pwfile:
        return run(argv + ["-y", pwfile] + list(args), input_text=input_text)


def admin_dn():
    return ENV["MAILSTACK_LDAP_ADMIN_DN"]


def user_dn(uid):
    return f"uid={uid},{ENV['MAILSTACK_LDAP_USER_BASE']}"


def ldap_add(ldif_text):
    """Adds entries as the LDAP admin; raises with slapd's message if it refuses."""
    r = ldap_client("ldapadd", [], bind_dn=admin_dn(),
                    password=ENV["MAILSTACK_LDAP_ADMIN_PASSWORD"], input_text=ldif_text)
    if r.returncode != 0:
        raise RuntimeError(f"ldapadd failed ({r.returncode}): {r.stderr.strip()}")
    return r


def ldap_delete(*dns):
    """Deletes entries as the LDAP admin; raises if slapd refuses."""
    r = ldap_client("ldapdelete", list(dns), bind_dn=admin_dn(),
                    password=ENV["MAILSTACK_LDAP_ADMIN_PASSWORD"])
    if r.returncode != 0:
        raise RuntimeError(f"ldapdelete failed ({r.returncode}): {r.stderr.strip()}")


def parse_ldif(text):
    """ldapsearch -LLL -o ldif-wrap=no output as a list of {attribute: [values]}, 'dn' included."""
    entries, current = [], None
    for line in text.splitlines():
        if not line.strip():
            current = None
            continue
        name, rest = line.split(":", 1)
        if rest.startswith(":"):  # "attr:: base64" for values that are not plain ASCII
            value = base64.b64decode(rest[1:].strip()).decode("utf-8", "replace")
        else:
            value = rest.strip()
        if current is None:
            current = {}
            entries.append(current)
        current.setdefault(name, []).append(value)
    return entries


def ldap_search(base, filt, *attrs, scope="sub", bind_dn=None, password=None):
    """Returns (returncode, entries, stderr); anonymous unless bind_dn is given."""
    r = ldap_client("ldapsearch", ["-LLL", "-o", "ldif-wrap=no", "-s", scope, "-b", base,
                                   filt, *attrs], bind_dn=bind_dn, password=password)
    return r.returncode, parse_ldif(r.stdout), r.stderr


def ldap_search_admin(base, filt, *attrs, scope="sub"):
    return ldap_search(base, filt, *attrs, scope=scope, bind_dn=admin_dn(),
                       password=ENV["MAILSTACK_LDAP_ADMIN_PASSWORD"])


def pg_env():
    env = dict(os.environ)
    env.update(PGHOST="127.0.0.1", PGPORT=ENV["MAILSTACK_PG_PORT"], PGUSER="mailstack",
               PGDATABASE="mailstack", PGPASSWORD=ENV["MAILSTACK_PG_PASSWORD"])
    return env


def psql(sql, *params):
    """Runs SQL as the stack's superuser; returns rows as lists of strings.

    params are bound as psql variables :'p1', :'p2', ... so values are quoted by psql."""
    argv = ["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
    for i, value in enumerate(params, 1):
        argv += ["-v", f"p{i}={value}"]
    r = run(argv + ["-f", "-"], input_text=sql, env=pg_env())
    if r.returncode != 0:
        raise RuntimeError(f"psql failed ({r.returncode}): {r.stderr.strip()}")
    return [line.split("\t") for line in r.stdout.splitlines()]


def live_pids(needle):
    """Pids of live (non-zombie) processes whose command line contains needle."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if cmdline and needle in cmdline:
            pids.append(int(proc.name))
    return pids


def component_pid(name):
    """The pid of "slapd" or of a service of the stack, or None when it is not running."""
    needle = str(DIR / "ldap" / "slapd.d") if name == "slapd" else name
    try:
        pid = int((DIR / "run" / f"{name}.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid in live_pids(needle) else None


def stop_component(name, timeout=20):
    """Stops "slapd" or a service (SIGTERM, then waits until it is gone): an outage."""
    pid = component_pid(name)
    if pid is None:
        return
    os.kill(pid, 15)
    deadline = time.monotonic() + timeout
    while component_pid(name) == pid:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} (pid {pid}) did not stop within {timeout} s")
        time.sleep(0.1)


def start_stopped():
    """Starts again, on their ports, whatever stop_component stopped (tools/stack.sh start
    starts only what is not running and returns once it answers)."""
    r = stack_sh("start", str(DIR))
    if r.returncode != 0:
        raise RuntimeError(f"tools/stack.sh start failed ({r.returncode}): {r.stdout}{r.stderr}")


def admin_headers():
    """The header the admin API (aliases, mirror refresh, purge) requires."""
    return {"Authorization": f"Bearer {ENV['MAILSTACK_ADMIN_TOKEN']}"}


class ReplyConn:
    """A raw SMTP/LMTP conversation: exact bytes out, replies read one by one."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """(code, [lines]) of one possibly multi-line reply."""
        lines = [self.line()]
        while lines[-1][3:4] == "-":
            lines.append(self.line())
        return int(lines[-1][:3]), lines

    def command(self, text):
        self.send(text.encode() + b"\r\n")
        return self.reply()

    def closed(self):
        """True when the server closed the connection (EOF, nothing more to read)."""
        try:
            return self.sock.recv(1) == b"" and not self.buf
        except (ConnectionError, socket.timeout):
            return True

    def close(self):
        self.sock.close()
