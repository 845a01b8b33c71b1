#!/usr/bin/env bash
# run.sh - `make bench`: LMTP delivery of mailstack's lmtp-store side by side with Dovecot's
# lmtp (the anchor), in one run on one machine, so the ratio means something on a shared,
# noisy host where absolute figures do not.
#
# usage: bash bench/run.sh [--preset issue4] [lmtp_bench.py flags, e.g. --messages 1000]
#        make bench [BENCH_FLAGS="--messages 1000 --recipients 3"] [BUILD=dir]
#        make bench-delivery [BENCH_FLAGS=...]   (= --preset issue4)
#
# --preset issue4 is issue 4's workload: 10,000 messages of 4 KiB, each to one of 1,000
# users (hurd, bench2..bench1000, added to LDAP in one ldapadd), at 1 and at 10 sessions,
# then at 10 sessions again with a 20-rule Sieve script (bench/issue4.sieve) active for
# every account; one round of each server per phase. Flags after it override its own.
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

# --preset is this script's; everything else goes to the driver.
PRESET=
rest=()
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) exec "$PY" "$REPO/bench/lmtp_bench.py" --server x=127.0.0.1:1 --help ;;
	--preset) PRESET=${2:-}; shift 2 || shift ;;
	--preset=*) PRESET=${1#*=}; shift ;;
	*) rest+=("$1"); shift ;;
	esac
done
case $PRESET in
"") ;;
issue4)
	# The driver's last occurrence of a flag wins: the caller's flags come after these.
	rest=(--messages 10000 --size 4096 --users 1000 --rounds 1 --warmup 200
		--run-timeout 900 "${rest[@]}") ;;
*) die "unknown --preset $PRESET (known: issue4)" ;;
esac
set -- "${rest[@]}"

# --recipients N and --users N need accounts bench2..benchN in the directory.
RECIPIENTS=1
USERS=0
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	case ${args[i]} in
	--recipients) RECIPIENTS=${args[i + 1]:-1} ;;
	--recipients=*) RECIPIENTS=${args[i]#*=} ;;
	--users) USERS=${args[i + 1]:-0} ;;
	--users=*) USERS=${args[i]#*=} ;;
	esac
done
if ! [[ $RECIPIENTS =~ ^[0-9]+$ ]] || [ "$RECIPIENTS" -lt 1 ] || [ "$RECIPIENTS" -gt 1000 ]; then
	die "--recipients must be a number from 1 to 1000"
fi
if ! [[ $USERS =~ ^[0-9]+$ ]] || [ "$USERS" -gt 1000 ]; then
	die "--users must be a number from 0 to 1000"
fi
ACCOUNTS=$((USERS > RECIPIENTS ? USERS : RECIPIENTS))

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
	# The mirror follows LDAP by syncrepl: wait until it holds every new entry.
	for ((i = 0; i < 1200; i++)); do
		[ "$(pg "SELECT count(*) FROM accounts WHERE uid ~ '^bench[0-9]+\$' AND deleted_at IS NULL")" = $((n - 1)) ] &&
			{ say "directory-sync mirrors the $((n - 1)) bench accounts"; return 0; }
		sleep 0.1
	done
	die "directory-sync did not mirror the $((n - 1)) bench accounts within 120 s"
}
add_bench_accounts "$ACCOUNTS"

# --- measure -------------------------------------------------------------------------------

LABEL=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
say "host: $(nproc) CPU(s), load $(cut -d' ' -f1-3 /proc/loadavg); commit $LABEL"
say "PostgreSQL durability: $(pg "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings
	WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method')")"

# CPU seconds (user + system) of a process, its reaped children and its live children:
# PostgreSQL's backends and Dovecot's lmtp processes are children of their masters.
cpu_tree() {
	local pid=$1 c t=0
	for c in $pid $(ps -o pid= --ppid "$pid" 2>/dev/null); do
		[ -r "/proc/$c/stat" ] || continue
		# Fields after the ")" of the command: utime is the 12th, then stime, cutime, cstime.
		t=$((t + $(sed 's/.*) //' "/proc/$c/stat" | awk -v self=$((c == pid)) \
			'{ print $12 + $13 + (self ? $14 + $15 : 0) }')))
	done
	echo "$t"
}
TICKS=$(getconf CLK_TCK)
MS_PID=$(head -n1 "$STACK/run/lmtp-store.pid")
PG_PID=$(head -n1 "$STACK/pg/data/postmaster.pid")
DV_PID=$(head -n1 "$DOVE/run/master.pid")
# What a phase cost besides wall time: CPU per delivery on each side, and PostgreSQL's
# transactions and WAL fsyncs per delivery (fsyncs below 1: commits were grouped).
snapshot() {
	echo "$(cpu_tree "$MS_PID") $(cpu_tree "$PG_PID") $(cpu_tree "$DV_PID") $(pg "SELECT
		(SELECT xact_commit FROM pg_stat_database WHERE datname = 'mailstack') || ' ' ||
		(SELECT wal_sync FROM pg_stat_wal)")"
}

# One driver run; its output is appended to bench.out. Exit status 2+ is the driver
# failing (not a message failing) and ends the bench.
DRIVER_RC=0
run_phase() {
	local rc before after
	before=$(snapshot)
	set +e
	"$PY" "$REPO/bench/lmtp_bench.py" --server "mailstack=127.0.0.1:$LMTP_PORT" \
		--server "dovecot=127.0.0.1:$DOVE_PORT" --label "$LABEL" "$@" | tee -a "$WORK/bench.out"
	rc=${PIPESTATUS[0]}
	set -e
	[ "$rc" -le 1 ] || die "the driver failed (exit $rc)"
	[ "$rc" -eq 0 ] || DRIVER_RC=$rc
	after=$(snapshot)
	"$PY" - "$TICKS" "$before" "$after" "$WORK/bench.out" <<-'EOF'
		import json, sys
		tick, b, a = int(sys.argv[1]), sys.argv[2].split(), sys.argv[3].split()
		d = [int(y) - int(x) for x, y in zip(b, a)]
		s = [json.loads(l) for l in open(sys.argv[4]) if l.startswith("{") and '"summary"' in l][-1]
		n = s["accepted_rcpts"]
		ms, dv = max(n["mailstack"], 1), max(n["dovecot"], 1)
		print(f"bench: CPU per delivery: lmtp-store {d[0] / tick / ms * 1000:.2f} ms + "
		      f"PostgreSQL {d[1] / tick / ms * 1000:.2f} ms; Dovecot {d[2] / tick / dv * 1000:.2f} ms; "
		      f"PostgreSQL per delivery {d[3] / ms:.2f} transactions, {d[4] / ms:.2f} WAL fsyncs; "
		      f"load {open('/proc/loadavg').read().split()[0]}")
	EOF
}

# Sieve for the issue4 preset: bench/issue4.sieve active for every bench account, and the
# folders it files into made (a missing folder would silently fall back to INBOX).
SIEVE_FOLDERS="Junk Lists Social Bills Newsletters Large AutoReplies Notices Reports Meetings Lunch Invoices OldAddresses"
install_sieve() {
	local f folders=""
	for f in $SIEVE_FOLDERS; do folders+="${folders:+,}'$f'"; done
	(
		# shellcheck source=/dev/null
		set -a && . "$STACK/run/stack.env" && set +a
		PGPASSWORD=$MAILSTACK_PG_PASSWORD psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 \
			-p "$MAILSTACK_PG_PORT" -U mailstack -d mailstack \
			-v script="$(cat "$REPO/bench/issue4.sieve")" <<-EOF
				INSERT INTO sieve_scripts (account_id, name, script, active)
				SELECT account_id, 'bench', :'script', true FROM accounts
				 WHERE deleted_at IS NULL AND (uid = 'hurd' OR uid ~ '^bench[0-9]+\$');
				INSERT INTO mailboxes (account_id, name, uidvalidity)
				SELECT account_id, f, extract(epoch FROM now())::bigint
				  FROM accounts, unnest(ARRAY[$folders]) f
				 WHERE deleted_at IS NULL AND (uid = 'hurd' OR uid ~ '^bench[0-9]+\$')
				ON CONFLICT (account_id, name) DO NOTHING;
			EOF
	) || die "could not install the Sieve script"
	say "Sieve: bench/issue4.sieve active for $(pg "SELECT count(*) FROM sieve_scripts WHERE active") accounts"
}

# Proof that the script ran: mail in the folders the script names for the bench's subjects,
# and INBOX mail with the flags it adds (before the Sieve phase everything went to INBOX
# with no flags).
check_sieve() {
	local got
	got=$(pg "SELECT string_agg(name || ' ' || n, ', ' ORDER BY name) FROM (
		SELECT b.name, count(*) n FROM messages m JOIN mailboxes b USING (account_id, mailbox_id)
		 GROUP BY b.name) x")
	say "Sieve: messages per folder: $got"
	say "Sieve: INBOX messages by flags: $(pg "SELECT string_agg(f || ' ' || n, ', ' ORDER BY f) FROM (
		SELECT array_to_string(m.flags, ' ') f, count(*) n FROM messages m
		  JOIN mailboxes b USING (account_id, mailbox_id) WHERE b.name = 'INBOX' GROUP BY 1) x")"
	local f
	for f in Notices Reports Meetings Lunch; do
		[[ $got == *"$f "* ]] || { say "SIEVE CHECK: nothing was filed into $f"; CHECK_RC=1; }
	done
	[ "$(pg "SELECT count(*) FROM messages WHERE flags @> ARRAY['\$Partner']")" -gt 0 ] ||
		{ say "SIEVE CHECK: no message has the \$Partner flag"; CHECK_RC=1; }
}

CHECK_RC=0
: >"$WORK/bench.out"
case $PRESET in
issue4)
	run_phase --phase "1 session" --connections 1 "$@"
	run_phase --phase "10 sessions" --connections 10 "$@"
	install_sieve
	run_phase --phase "10 sessions, Sieve (mailstack only runs it)" --connections 10 "$@"
	check_sieve
	"$PY" - "$WORK/bench.out" <<-'EOF'
		import json, sys
		runs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
		summ = [r for r in runs if r["kind"] == "summary"]
		print("\nissue 4 summary (msgs/s, p50/p99 ms):")
		for s in summ:
		    r = {x["server"]: x for x in runs if x["kind"] == "run" and x["phase"] == s["phase"]}
		    m, d = r["mailstack"], r["dovecot"]
		    print(f"  {s['phase']:<44} mailstack {m['msgs_per_s']:7.1f} ({m['p50_ms']}/{m['p99_ms']})  "
		          f"dovecot {d['msgs_per_s']:7.1f} ({d['p50_ms']}/{d['p99_ms']})  ratio {s['ratio_msgs_per_s']}")
		ms = {s["phase"]: [x for x in runs if x["kind"] == "run" and x["phase"] == s["phase"]
		                   and x["server"] == "mailstack"][0]["msgs_per_s"] for s in summ}
		if len(summ) == 3:
		    print(f"  Sieve / no Sieve at 10 sessions (mailstack): "
		          f"{ms[summ[2]['phase']] / ms[summ[1]['phase']]:.2f}")
		    print(f"  goal (>= 2x Dovecot at 10 sessions): "
		          f"{'met' if summ[1]['ratio_msgs_per_s'] >= 2 else 'NOT met'}")
	EOF
	;;
*) run_phase "$@" ;;
esac

# --- check what was stored and what the logs say -------------------------------------------

echo
read -r ACK_MS ACK_DV < <("$PY" -c '
import json, sys
ms = dv = 0
for line in open(sys.argv[1], encoding="utf-8"):
    if line.startswith("{") and "\"summary\"" in line:
        s = json.loads(line)["accepted_rcpts"]
        ms, dv = ms + s["mailstack"], dv + s["dovecot"]
print(ms, dv)' "$WORK/bench.out")
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
