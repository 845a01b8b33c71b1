#!/usr/bin/env bash
# run.sh - `make bench`: LMTP delivery of mailstack's lmtp-store side by side with Dovecot's
# lmtp (the anchor), in one run on one machine, so the ratio means something on a shared,
# noisy host where absolute figures do not.
#
# usage: bash bench/run.sh [lmtp_bench.py flags, e.g. --messages 1000 --recipients 3]
#        make bench [BENCH_FLAGS="--messages 1000 --recipients 3"] [BUILD=dir]
#
# Starts a private mailstack stack (slapd, PostgreSQL, directory-sync, lmtp-store; binaries
# from MAILSTACK_BIN_DIR, default <repo>/$BUILD/bin, i.e. build/bin) and a private Dovecot
# (its own dovecot.conf, base_dir, state_dir, log and maildirs) in one temp dir, on free
# loopback ports; runs bench/lmtp_bench.py against both (warm-up, then rounds A B A B A B); checks
# that each store holds what its server acknowledged; reports warnings and errors from both
# logs; stops everything it started, also on Ctrl-C or an error. The system's Dovecot
# service and /etc/dovecot are never touched. Exit status: the driver's (non-zero when
# a message failed), or 1 when set-up or the stored-count check fails. BENCH_KEEP=1
# keeps the temp dir (it is kept anyway after a failure, removed after Ctrl-C).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3

say() { echo "bench: $*"; }
die() {
	echo "bench: $*" >&2
	exit 1
}

# make passes its command-line variables in the environment; flags given here come after
# BENCH_FLAGS, so they win.
if [ -n "${BENCH_FLAGS:-}" ]; then
	read -ra flags <<<"$BENCH_FLAGS"
	set -- "${flags[@]}" "$@"
fi

for arg in "$@"; do
	case $arg in
	-h | --help) exec "$PY" "$REPO/bench/lmtp_bench.py" --server x=127.0.0.1:1 --help ;;
	esac
done

# --recipients N needs accounts bench2..benchN in the directory; read it from the flags.
RECIPIENTS=1
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	case ${args[i]} in
	--recipients) RECIPIENTS=${args[i + 1]:-1} ;;
	--recipients=*) RECIPIENTS=${args[i]#*=} ;;
	esac
done
if ! [[ $RECIPIENTS =~ ^[0-9]+$ ]] || [ "$RECIPIENTS" -lt 1 ] || [ "$RECIPIENTS" -gt 1000 ]; then
	die "--recipients must be a number from 1 to 1000"
fi

# --- what the bench needs --------------------------------------------------------------

# Dovecot from Debian's packages. On a host with systemd, installing dovecot-core also starts
# the distribution's Dovecot service; this script leaves that one alone.
install_dovecot() {
	[ -x /usr/sbin/dovecot ] && [ -x /usr/lib/dovecot/lmtp ] && return 0
	[ "$(id -u)" -eq 0 ] || die "Dovecot is not installed: apt-get install dovecot-core dovecot-lmtpd (as root)"
	say "installing dovecot-core dovecot-lmtpd"
	local log
	log=$(mktemp /tmp/mailstack-bench-apt.XXXXXX)
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-core dovecot-lmtpd >"$log" 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$log" 2>&1 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-core dovecot-lmtpd >>"$log" 2>&1 ||
			{ tail -n 20 "$log" >&2; rm -f "$log"; die "could not install Dovecot"; }
	fi
	rm -f "$log"
}

# `make bench BUILD=dir` exports BUILD to this script; SANITIZE=1 builds into build-san.
BUILD_DIR=${BUILD:-build}
if [ "${SANITIZE:-0}" = 1 ] && [ -z "${BUILD:-}" ]; then
	BUILD_DIR=build-san
	say "warning: SANITIZE=1: sanitizer builds are several times slower; figures are not comparable"
fi
BIN_DIR=${MAILSTACK_BIN_DIR:-$REPO/$BUILD_DIR/bin}
SERVICES="directory-sync lmtp-store"
ensure_binaries() {
	local s missing=()
	for s in $SERVICES; do [ -x "$BIN_DIR/$s" ] || missing+=("$s"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ -z "${MAILSTACK_BIN_DIR:-}" ] || die "no ${missing[*]} in MAILSTACK_BIN_DIR=$BIN_DIR"
	say "building ${missing[*]}"
	make -s -C "$REPO" BUILD="$BUILD_DIR" "${missing[@]/#/$BUILD_DIR/bin/}" >/dev/null || die "build failed"
}

# A free loopback port below the ephemeral range (as tools/stack.sh picks them).
free_port() {
	"$PY" - <<-'EOF'
		import random, socket
		low_eph = int(open('/proc/sys/net/ipv4/ip_local_port_range').read().split()[0])
		for _ in range(1000):
		    port = random.randint(10000, max(low_eph - 1, 11000))
		    s = socket.socket()
		    try:
		        s.bind(('127.0.0.1', port))
		    except OSError:
		        continue
		    finally:
		        s.close()
		    print(port)
		    break
		else:
		    raise SystemExit('no free port')
	EOF
}

# Waits (at most 10 s) until an LMTP server on 127.0.0.1:$1 greets with 220.
wait_lmtp() {
	"$PY" - "$1" <<-'EOF'
		import socket, sys, time
		deadline = time.monotonic() + 10
		while time.monotonic() < deadline:
		    try:
		        with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2) as s:
		            if s.recv(512).startswith(b'220'):
		                s.sendall(b'QUIT\r\n')
		                sys.exit(0)
		    except OSError:
		        pass
		    time.sleep(0.1)
		sys.exit(1)
	EOF
}

# --- cleanup -----------------------------------------------------------------------------

WORK=
STACK=
DOVE=
FAILED=1
INTERRUPTED=0
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local rc=$? pid i
	trap - EXIT INT TERM
	[ -n "$WORK" ] || exit "$rc"
	if [ -n "$DOVE" ] && [ -s "$DOVE/run/master.pid" ]; then
		pid=$(head -n1 "$DOVE/run/master.pid")
		doveadm -c "$DOVE/dovecot.conf" stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
	fi
	if [ -n "$STACK" ] && [ -d "$STACK" ]; then
		bash "$REPO/tools/stack.sh" stop "$STACK" >/dev/null 2>&1 ||
			echo "bench: tools/stack.sh stop $STACK failed" >&2
	fi
	# A failed run's files tell why; an interrupted one's are not worth the disk space.
	if { [ "$FAILED" -eq 0 ] || [ "$INTERRUPTED" -eq 1 ]; } && [ "${BENCH_KEEP:-0}" != 1 ]; then
		rm -rf "$WORK"
	else
		echo "bench: kept $WORK for inspection" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'INTERRUPTED=1; exit 130' INT
trap 'INTERRUPTED=1; exit 143' TERM

# --- start -------------------------------------------------------------------------------

# Dovecot's master must start as root: it switches its processes to dovecot, dovenull and
# (for the maildirs) nobody, and sets the owners of its sockets.
[ "$(id -u)" -eq 0 ] || die "run the bench as root (Dovecot's master needs it)"
install_dovecot
ensure_binaries
WORK=$(mktemp -d /tmp/mailstack-bench.XXXXXX)
chmod 755 "$WORK" # the postgres, dovecot and nobody users must reach their dirs below
STACK=$WORK/stack
DOVE=$WORK/dovecot

# The stack: free ports and fresh passwords; any MAILSTACK_* of the caller (e.g. a sourced
# var/run/stack.env) would pin it to another stack's ports, so only these pass.
start_stack() {
	local v
	for v in $(compgen -e); do
		case $v in
		MAILSTACK_BIN_DIR | MAILSTACK_LOG_LEVEL) ;;
		MAILSTACK_*) unset "$v" ;;
		esac
	done
	export MAILSTACK_BIN_DIR=$BIN_DIR MAILSTACK_PICK_FREE_PORTS=1 MAILSTACK_STACK_SERVICES=$SERVICES
	for v in DEMO ADMIN LDAP_ADMIN PG; do
		export "MAILSTACK_${v}_PASSWORD=$(openssl rand -hex 12)"
	done
	bash "$REPO/tools/stack.sh" start "$STACK" >"$WORK/stack-start.log" 2>&1 ||
		{ cat "$WORK/stack-start.log" >&2; die "the mailstack stack did not start"; }
}
start_stack
# shellcheck source=/dev/null
stack_var() { (set -a && . "$STACK/run/stack.env" && printf '%s' "${!1}"); }
LMTP_PORT=$(stack_var MAILSTACK_LMTP_PORT)
say "mailstack: lmtp-store on 127.0.0.1:$LMTP_PORT (PostgreSQL fsync on), stack in $STACK"

# Dovecot: its own configuration, nothing from /etc/dovecot. Defaults wherever the bench
# does not need a setting (mail_fsync=optimized, lmtp process per connection).
start_dovecot() {
	local port pid
	port=$(free_port)
	mkdir -p "$DOVE/run" "$DOVE/state" "$DOVE/home"
	chown nobody:nogroup "$DOVE/home"
	cat >"$DOVE/dovecot.conf" <<-EOF
		# dovecot.conf of bench/run.sh: a private LMTP-only Dovecot, the bench's anchor.
		base_dir = $DOVE/run
		state_dir = $DOVE/state
		log_path = $DOVE/dovecot.log
		protocols = lmtp
		listen = 127.0.0.1
		ssl = no
		# RCPT TO:<hurd@lmtp-store> is user hurd, as in mailstack.
		auth_username_format = %Ln
		mail_location = maildir:~/Maildir
		passdb {
		  driver = static
		  args = password=$(openssl rand -hex 12)
		}
		userdb {
		  driver = static
		  args = uid=nobody gid=nogroup home=$DOVE/home/%n
		}
		service lmtp {
		  inet_listener lmtp {
		    address = 127.0.0.1
		    port = $port
		  }
		}
	EOF
	chmod 600 "$DOVE/dovecot.conf"
	doveconf -c "$DOVE/dovecot.conf" -n >"$DOVE/doveconf.out" 2>&1 ||
		{ cat "$DOVE/doveconf.out" >&2; die "Dovecot refuses the bench's configuration"; }
	dovecot -c "$DOVE/dovecot.conf" >"$DOVE/start.log" 2>&1 ||
		{ cat "$DOVE/start.log" "$DOVE/dovecot.log" >&2 2>/dev/null; die "Dovecot did not start"; }
	wait_lmtp "$port" ||
		{ tail -n 20 "$DOVE/dovecot.log" >&2 2>/dev/null; die "Dovecot's lmtp did not answer on 127.0.0.1:$port"; }
	pid=$(head -n1 "$DOVE/run/master.pid")
	say "dovecot $(dovecot --version | cut -d' ' -f1): lmtp on 127.0.0.1:$port (pid $pid), in $DOVE"
	DOVE_PORT=$port
}
start_dovecot
wait_lmtp "$LMTP_PORT" || die "lmtp-store did not answer on 127.0.0.1:$LMTP_PORT"

pg() {
	(
		# shellcheck source=/dev/null
		set -a && . "$STACK/run/stack.env" && set +a
		PGPASSWORD=$MAILSTACK_PG_PASSWORD psql -X -q -At -h 127.0.0.1 -p "$MAILSTACK_PG_PORT" \
			-U mailstack -d mailstack -c "$1"
	)
}

# Recipients 2..N: accounts bench2..benchN in LDAP, then in directory-sync's mirror.
# Dovecot's static userdb takes any name.
add_bench_accounts() {
	local n=$1 i pw ldif=$WORK/bench-accounts.ldif
	[ "$n" -gt 1 ] || return 0
	: >"$ldif"
	for ((i = 2; i <= n; i++)); do
		cat >>"$ldif" <<-EOF
			dn: uid=bench$i,ou=People,$(stack_var MAILSTACK_LDAP_BASE)
			objectClass: top
			objectClass: account
			objectClass: posixAccount
			objectClass: shadowAccount
			objectClass: xMail
			uid: bench$i
			cn: bench$i
			loginShell: /bin/false
			uidNumber: $((20000 + i))
			gidNumber: 100
			homeDirectory: /nonexistent
			maildrop: bench$i@lmtp-store
			mailacceptinggeneralid: bench$i

		EOF
	done
	pw=$WORK/ldap-admin.pw
	(umask 077 && stack_var MAILSTACK_LDAP_ADMIN_PASSWORD >"$pw")
	ldapadd -x -H "$(stack_var MAILSTACK_LDAP_URI)" -D "$(stack_var MAILSTACK_LDAP_ADMIN_DN)" \
		-y "$pw" -f "$ldif" >"$WORK/ldapadd.log" 2>&1 ||
		{ rm -f "$pw"; cat "$WORK/ldapadd.log" >&2; die "could not add the bench accounts to LDAP"; }
	rm -f "$pw"
	# The mirror reloads on a timer (a minute by default); ask for a reload now.
	curl -fsS -o /dev/null --max-time 30 -X POST "$(stack_var MAILSTACK_DIRECTORY_URL)/v1/mirror/refresh" ||
		die "directory-sync refused to reload its mirror"
	for ((i = 0; i < 300; i++)); do
		[ "$(pg "SELECT count(*) FROM accounts WHERE uid ~ '^bench[0-9]+\$'")" = $((n - 1)) ] && return 0
		sleep 0.1
	done
	die "directory-sync did not mirror the $((n - 1)) bench accounts within 30 s"
}
add_bench_accounts "$RECIPIENTS"

# --- measure -------------------------------------------------------------------------------

LABEL=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
say "host: $(nproc) CPU(s), load $(cut -d' ' -f1-3 /proc/loadavg); commit $LABEL"
set +e
"$PY" "$REPO/bench/lmtp_bench.py" --server "mailstack=127.0.0.1:$LMTP_PORT" \
	--server "dovecot=127.0.0.1:$DOVE_PORT" --label "$LABEL" "$@" | tee "$WORK/bench.out"
DRIVER_RC=${PIPESTATUS[0]}
set -e
[ "$DRIVER_RC" -le 1 ] || die "the driver failed (exit $DRIVER_RC)"

# --- check what was stored and what the logs say -------------------------------------------

echo
CHECK_RC=0
read -r ACK_MS ACK_DV < <("$PY" -c '
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    if line.startswith("{") and "\"summary\"" in line:
        s = json.loads(line)["accepted_rcpts"]
print(s["mailstack"], s["dovecot"])' "$WORK/bench.out")
STORED_MS=$(pg "SELECT count(*) FROM messages")
STORED_DV=$(find "$DOVE/home" -type f \( -path '*/Maildir/new/*' -o -path '*/Maildir/cur/*' \) | wc -l)
for side in "mailstack $ACK_MS $STORED_MS" "dovecot $ACK_DV $STORED_DV"; do
	read -r name ack stored <<<"$side"
	if [ "$ack" = "$stored" ]; then
		say "stored: $name holds $stored messages, as many as it acknowledged with 250"
	else
		say "STORED MISMATCH: $name acknowledged $ack deliveries but holds $stored messages"
		CHECK_RC=1
	fi
done

# lmtp-store logs one JSON object per line: count everything above info by event.
"$PY" - "$STACK/log/lmtp-store.log" "$STACK/log/postgres.log" "$DOVE/dovecot.log" <<-'EOF'
	import collections, json, re, sys
	ms, pg, dv = sys.argv[1:4]
	counts = collections.Counter()
	for line in open(ms, encoding="utf-8", errors="replace"):
	    try:
	        o = json.loads(line)
	    except ValueError:
	        counts[("non-JSON line", line.strip()[:100])] += 1
	        continue
	    if str(o.get("level", "")).lower() not in ("info", "debug"):
	        counts[(o.get("level"), o.get("event"))] += 1
	print("bench: lmtp-store log: " + (", ".join(f"{n} x {k[0]} {k[1]}" for k, n in counts.most_common(8))
	                                   or "no warnings or errors"))
	for path, name, pat in ((pg, "PostgreSQL", r"\b(WARNING|ERROR|FATAL|PANIC):"),
	                        (dv, "Dovecot", r"\b(Warning|Error|Fatal|Panic):")):
	    try:
	        hits = [l.strip() for l in open(path, encoding="utf-8", errors="replace") if re.search(pat, l)]
	    except OSError:
	        hits = []
	    print(f"bench: {name} log: " + (f"{len(hits)} warning/error line(s), e.g. {hits[0][:160]}" if hits
	                                       else "no warnings or errors"))
EOF

[ "$CHECK_RC" -eq 0 ] || exit 1
[ "$DRIVER_RC" -eq 0 ] && FAILED=0
exit "$DRIVER_RC"
