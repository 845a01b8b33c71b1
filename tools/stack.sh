#!/usr/bin/env bash
# stack.sh - the development stack: a private slapd and PostgreSQL plus the five services.
#
# usage: tools/stack.sh start|stop|status DIR
#
# Everything lives under DIR (ldap/, pg/, tls/, log/, run/) and survives stop/start; the
# ports, URLs and credentials of a running stack are in DIR/run/stack.env, written before
# any service starts because the services read their settings from it. `start` only starts
# what is not running yet, so running it twice is harmless; when a step fails it prints the
# relevant log tail, stops what it started and exits 1. `stop` leaves no process behind.
#
# Settings (environment): MAILSTACK_<X>_PORT for every port (unset: the port of the last
# start or the default if free, else a free one; MAILSTACK_PICK_FREE_PORTS=1 skips the
# defaults), MAILSTACK_BIN_DIR (service binaries, default <repo>/build/bin),
# MAILSTACK_STACK_SERVICES (the services to start, default all five; "" starts none),
# MAILSTACK_LDAP_BASE, MAILSTACK_DOMAIN,
# MAILSTACK_HOSTNAME and the passwords MAILSTACK_{DEMO,ADMIN,LDAP_ADMIN,PG}_PASSWORD. The
# passwords, the LDAP base, MAILSTACK_ADMIN_TOKEN (for the admin API) and MAILSTACK_AUTH_SECRET (the shared secret the services send
# auth-service; random unless given) are fixed when DIR is first initialised (kept in
# DIR/init.env).
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true # `&` in a password must stay literal

REPO=$(cd "$(dirname "$0")/.." && pwd)
SCHEMA_LDAP=$REPO/schema/ldap
ALL_SERVICES=(auth-service directory-sync lmtp-store smtp-edge imap-gateway)
# The port settings, their defaults and the component that listens on each.
PORTS=(
	LDAP:3389:slapd PG:5433:postgres SMTP:2525:smtp-edge LMTP:2424:lmtp-store
	IMAP:1143:imap-gateway SMTP_EDGE_CONTROL:8025:smtp-edge
	LMTP_STORE_CONTROL:8024:lmtp-store IMAP_GATEWAY_CONTROL:8143:imap-gateway
	DIRECTORY_SYNC_CONTROL:8389:directory-sync AUTH_SERVICE_CONTROL:8088:auth-service
)

say() { echo "stack: $*"; }
die() {
	echo "stack: $*" >&2
	exit 1
}

usage() {
	echo "usage: $0 start|stop|status DIR" >&2
	exit 2
}

# --- processes -------------------------------------------------------------------------

# A pid counts only while its process is alive and not a zombie. The state is read from
# /proc/PID/stat, not inferred from an empty cmdline: cmdline is also empty for a moment
# while a just-started process execs, which made a healthy slapd look dead.
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) } # the state follows "(comm) ", and comm itself may contain ") "
	[ -n "$stat" ] && [ "${stat:0:1}" != Z ]
}

# Prints the pid recorded in FILE if that process is alive and its command line contains
# PATTERN, so a pid reused by an unrelated process after a crash is never signalled.
pid_of() {
	local file=$1 pattern=$2 pid
	[ -s "$file" ] || return 1
	pid=$(head -n1 "$file")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern" || return 1
	echo "$pid"
}

# TERM, then KILL after 10 s.
stop_pid() {
	local pid=$1 what=$2 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	say "$what did not stop within 10 s; killing it"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
}

# PostgreSQL refuses to run as root; the Debian package provides the postgres user.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pg_bindir() {
	local dir
	dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1)
	[ -n "$dir" ] || die "no PostgreSQL server in /usr/lib/postgresql (run tools/deps.sh)"
	echo "$dir"
}

log_tail() {
	local file=$1
	echo "---- last lines of $file ----" >&2
	tail -n 30 "$file" >&2 2>/dev/null || echo "(no log)" >&2
	echo "----" >&2
}

# --- layout and state ------------------------------------------------------------------

set_paths() {
	RUN=$DIR/run
	LOG=$DIR/log
	LDAPD=$DIR/ldap
	PGD=$DIR/pg
	TLS=$DIR/tls
	ENVFILE=$RUN/stack.env
	INITFILE=$DIR/init.env
}

slapd_pid() { pid_of "$RUN/slapd.pid" "$LDAPD/slapd.d"; }
pg_pid() { pid_of "$PGD/data/postmaster.pid" postgres; }
service_pid() { pid_of "$RUN/$1.pid" "$1"; }

component_pid() {
	case $1 in
	slapd) slapd_pid ;;
	postgres) pg_pid ;;
	*) service_pid "$1" ;;
	esac
}

# A value from the previous stack.env (ports of components that are still running).
previous() {
	[ -f "$ENVFILE" ] || return 0
	sed -n "s/^$1=//p" "$ENVFILE" | tail -n1
}

# Shell quoting that the services' KEY=VALUE reader understands too: bare when safe,
# else single quotes.
env_line() {
	local key=$1 value=$2
	if [[ $value =~ ^[A-Za-z0-9_./:@,=+-]*$ ]]; then
		printf '%s=%s\n' "$key" "$value"
	else
		printf "%s='%s'\n" "$key" "${value//\'/\'\\\'\'}"
	fi
}

# Replaces @KEY@ in a template with the values given as KEY=VALUE arguments.
render() {
	local template=$1 text pair
	shift
	text=$(<"$template")
	for pair in "$@"; do
		text=${text//"@${pair%%=*}@"/"${pair#*=}"}
	done
	printf '%s\n' "$text"
}

# --- start -----------------------------------------------------------------------------

# Passwords and the LDAP base are baked into the data, so once DIR holds data they come
# from DIR/init.env and a different value in the environment is ignored (with a warning).
load_init_settings() {
	local have_data=0 var stored given line
	{ [ -e "$LDAPD/.seeded" ] || [ -e "$PGD/.initialised" ]; } && have_data=1
	declare -A stored_values=()
	if [ $have_data -eq 1 ] && [ -f "$INITFILE" ]; then
		while IFS= read -r line; do
			[[ $line =~ ^(MAILSTACK_[A-Z_]+)=(.*)$ ]] || continue
			stored=${BASH_REMATCH[2]}
			if [[ $stored == \'*\' ]]; then
				stored=${stored:1:-1}
				stored=${stored//\'\\\'\'/\'} # env_line writes ' as '\''
			fi
			stored_values[${BASH_REMATCH[1]}]=$stored
		done <"$INITFILE"
	fi
	declare -A defaults=(
		[MAILSTACK_LDAP_BASE]='dc=example,dc=test'
		[MAILSTACK_DEMO_PASSWORD]=test1234
		[MAILSTACK_ADMIN_PASSWORD]=cyrus1234
		[MAILSTACK_LDAP_ADMIN_PASSWORD]=''
		[MAILSTACK_PG_PASSWORD]=''
		[MAILSTACK_AUTH_SECRET]=''
		[MAILSTACK_ADMIN_TOKEN]=''
	)
	: >"$INITFILE.new"
	chmod 600 "$INITFILE.new"
	for var in MAILSTACK_LDAP_BASE MAILSTACK_DEMO_PASSWORD MAILSTACK_ADMIN_PASSWORD \
		MAILSTACK_LDAP_ADMIN_PASSWORD MAILSTACK_PG_PASSWORD MAILSTACK_AUTH_SECRET \
		MAILSTACK_ADMIN_TOKEN; do
		given=${!var:-}
		if [ -n "${stored_values[$var]:-}" ]; then
			[ -n "$given" ] && [ "$given" != "${stored_values[$var]}" ] &&
				say "warning: ignoring $var: $DIR was initialised with another value (remove $DIR to start afresh)"
			printf -v "$var" '%s' "${stored_values[$var]}"
		elif [ -n "$given" ]; then
			printf -v "$var" '%s' "$given"
		elif [ -n "${defaults[$var]}" ]; then
			printf -v "$var" '%s' "${defaults[$var]}"
		else
			printf -v "$var" '%s' "$(openssl rand -hex 16)"
		fi
		env_line "$var" "${!var}" >>"$INITFILE.new"
	done
	mv "$INITFILE.new" "$INITFILE"
	[[ $MAILSTACK_LDAP_BASE =~ ^dc=([^,]+) ]] || die "MAILSTACK_LDAP_BASE must start with dc= (got $MAILSTACK_LDAP_BASE)"
	LDAP_DC=${BASH_REMATCH[1]}
}

# Chooses every port at once, holding each chosen socket until all are chosen so no two
# settings get the same port. Arguments: fixed:N (keep N) or prefer:N,M,... (the first of
# those that is free, else any free one; prefer: alone means any free one). Free ports are
# drawn at random below the kernel's ephemeral range: a port from there could be taken by
# some outgoing connection between this check and the server's bind.
choose_ports() {
	/usr/bin/python3 - "$@" <<-'EOF'
		import random, socket, sys
		held, fixed = [], {int(a.split(':')[1]) for a in sys.argv[1:] if a.startswith('fixed:')}
		with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
		    ephemeral_low = int(f.read().split()[0])
		def grab(port):
		    s = socket.socket()
		    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		    try:
		        s.bind(('127.0.0.1', port))
		    except OSError:
		        s.close()
		        return None
		    held.append(s)
		    return s.getsockname()[1]
		def free():
		    low, high = 10000, max(ephemeral_low - 1, 10000 + 1000)
		    for _ in range(1000):
		        port = random.randint(low, high)
		        if port not in fixed and grab(port):
		            return port
		    sys.exit('no free port found')
		for arg in sys.argv[1:]:
		    kind, _, value = arg.partition(':')
		    if kind == 'fixed':
		        print(value)
		        continue
		    candidates = [int(p) for p in value.split(',') if p and int(p) not in fixed]
		    print(next((p for p in map(grab, candidates) if p), None) or free())
	EOF
}

# A port keeps its value while its component runs; otherwise a MAILSTACK_<X>_PORT setting
# wins, else the previous value is preferred (stable ports across stop/start), then the
# default (unless MAILSTACK_PICK_FREE_PORTS=1), then any free port.
assign_ports() {
	local spec var default owner value prev candidates requests=() names=() chosen i
	for spec in "${PORTS[@]}"; do
		IFS=: read -r var default owner <<<"$spec"
		var=MAILSTACK_${var}_PORT
		names+=("$var")
		value=${!var:-}
		prev=$(previous "$var")
		if [ -n "$prev" ] && component_pid "$owner" >/dev/null; then
			[ -n "$value" ] && [ "$value" != "$prev" ] &&
				say "warning: ignoring $var=$value: $owner is running on $prev"
			requests+=("fixed:$prev")
		elif [ -n "$value" ]; then
			if ! [[ $value =~ ^[0-9]+$ ]] || [ "$value" -lt 1 ] || [ "$value" -gt 65535 ]; then
				die "$var is not a port: $value"
			fi
			requests+=("fixed:$value")
		else
			candidates=$prev
			[ "${MAILSTACK_PICK_FREE_PORTS:-0}" = 1 ] || candidates+=,$default
			requests+=("prefer:$candidates")
		fi
	done
	mapfile -t chosen < <(choose_ports "${requests[@]}")
	[ ${#chosen[@]} -eq ${#names[@]} ] || die "could not choose ports"
	for i in "${!names[@]}"; do
		printf -v "${names[$i]}" '%s' "${chosen[$i]}"
	done
}

write_stack_env() {
	local base=$MAILSTACK_LDAP_BASE name var spec i
	local -a lines=(
		MAILSTACK_STACK_DIR "$DIR"
		MAILSTACK_HOST 127.0.0.1
		MAILSTACK_BIND_ADDR 127.0.0.1
		MAILSTACK_DOMAIN "$DOMAIN"
		MAILSTACK_HOSTNAME "$HOSTNAME_FQDN"
	)
	for spec in "${PORTS[@]}"; do
		var=MAILSTACK_${spec%%:*}_PORT
		lines+=("$var" "${!var}")
	done
	for name in "${ALL_SERVICES[@]}"; do
		var=${name^^}
		var=MAILSTACK_${var//-/_}_CONTROL_PORT
		lines+=("${var%_PORT}_URL" "http://127.0.0.1:${!var}")
	done
	lines+=(
		MAILSTACK_DIRECTORY_URL "http://127.0.0.1:$MAILSTACK_DIRECTORY_SYNC_CONTROL_PORT"
		MAILSTACK_AUTH_URL "http://127.0.0.1:$MAILSTACK_AUTH_SERVICE_CONTROL_PORT"
		MAILSTACK_LDAP_URI "ldap://127.0.0.1:$MAILSTACK_LDAP_PORT"
		MAILSTACK_LDAP_BASE "$base"
		MAILSTACK_LDAP_USER_BASE "ou=People,$base"
		MAILSTACK_LDAP_ADMIN_DN "cn=admin,$base"
		MAILSTACK_LDAP_ADMIN_PASSWORD "$MAILSTACK_LDAP_ADMIN_PASSWORD"
		MAILSTACK_LDAP_BIND_DN "cn=admin,$base"
		MAILSTACK_LDAP_BIND_PASSWORD "$MAILSTACK_LDAP_ADMIN_PASSWORD"
		MAILSTACK_PG_USER mailstack
		MAILSTACK_PG_DATABASE mailstack
		MAILSTACK_PG_PASSWORD "$MAILSTACK_PG_PASSWORD"
		MAILSTACK_PG_DSN "$PG_DSN"
		MAILSTACK_DEMO_USER hurd
		MAILSTACK_DEMO_PASSWORD "$MAILSTACK_DEMO_PASSWORD"
		MAILSTACK_ADMIN_USER cyrus
		MAILSTACK_ADMIN_PASSWORD "$MAILSTACK_ADMIN_PASSWORD"
		MAILSTACK_LMTP_TRANSPORTS "lmtp-store=127.0.0.1:$MAILSTACK_LMTP_PORT"
		MAILSTACK_TLS_CERT "$TLS/cert.pem"
		MAILSTACK_TLS_KEY "$TLS/key.pem"
		MAILSTACK_ALLOW_PLAINTEXT_LOOPBACK 1
		MAILSTACK_AUTH_SECRET "$MAILSTACK_AUTH_SECRET"
		MAILSTACK_ADMIN_TOKEN "$MAILSTACK_ADMIN_TOKEN"
	)
	{
		echo "# mailstack dev stack settings, written by tools/stack.sh; source it: . $ENVFILE"
		for ((i = 0; i < ${#lines[@]}; i += 2)); do
			env_line "${lines[i]}" "${lines[i + 1]}"
		done
	} >"$ENVFILE.new"
	chmod 600 "$ENVFILE.new"
	mv "$ENVFILE.new" "$ENVFILE"
}

ensure_tls() {
	[ -s "$TLS/cert.pem" ] && [ -s "$TLS/key.pem" ] && return 0
	mkdir -p "$TLS"
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$HOSTNAME_FQDN" \
		-addext "subjectAltName=DNS:$HOSTNAME_FQDN,IP:127.0.0.1" \
		-keyout "$TLS/key.pem" -out "$TLS/cert.pem" >"$LOG/tls.log" 2>&1 ||
		{ log_tail "$LOG/tls.log"; die "could not make the TLS certificate"; }
	chmod 600 "$TLS/key.pem"
}

# slapd.d is built once by slapadd from the template; the marker .seeded is written only
# after the base and demo entries are in, so a half-made directory is rebuilt next time.
init_ldap() {
	[ -e "$LDAPD/.seeded" ] && return 0
	local pid
	if pid=$(slapd_pid); then stop_pid "$pid" slapd; fi
	rm -rf "$LDAPD"
	mkdir -p "$LDAPD/slapd.d" "$LDAPD/data"
	chmod 700 "$LDAPD"
	render "$SCHEMA_LDAP/slapd-config.ldif.in" \
		"LDAP_BASE=$MAILSTACK_LDAP_BASE" \
		"LDAP_ROOTPW=$(slappasswd -h '{SSHA}' -T <(printf '%s' "$MAILSTACK_LDAP_ADMIN_PASSWORD"))" \
		"LDAP_DB_DIR=$LDAPD/data" "RUN_DIR=$RUN" "SCHEMA_DIR=$SCHEMA_LDAP" >"$LDAPD/slapd-config.ldif"
	slapadd -n0 -F "$LDAPD/slapd.d" -l "$LDAPD/slapd-config.ldif" >"$LOG/slapadd.log" 2>&1 ||
		{ log_tail "$LOG/slapadd.log"; die "slapadd could not build the slapd configuration"; }
}

start_slapd() {
	local pid i uri=ldap://127.0.0.1:$MAILSTACK_LDAP_PORT/
	if pid=$(slapd_pid); then
		return 0
	fi
	rm -f "$RUN/slapd.pid"
	# -d keeps slapd in the foreground, logging to our file rather than syslog.
	setsid slapd -h "$uri" -F "$LDAPD/slapd.d" -d stats >>"$LOG/slapd.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$RUN/slapd.pid"
	STARTED+=(slapd)
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || { log_tail "$LOG/slapd.log"; die "slapd exited during start"; }
		if ldapsearch -x -H "$uri" -o nettimeout=2 -b "" -s base -LLL namingContexts >/dev/null 2>&1; then
			say "slapd up on $uri (pid $pid)"
			return 0
		fi
		sleep 0.2
	done
	log_tail "$LOG/slapd.log"
	die "slapd did not answer on $uri within 20 s"
}

seed_ldap() {
	[ -e "$LDAPD/.seeded" ] && return 0
	local pwfile=$LDAPD/admin.pw
	(umask 077 && printf '%s' "$MAILSTACK_LDAP_ADMIN_PASSWORD" >"$pwfile")
	{
		render "$SCHEMA_LDAP/base.ldif.in" "LDAP_BASE=$MAILSTACK_LDAP_BASE" "LDAP_DC=$LDAP_DC"
		echo
		render "$SCHEMA_LDAP/demo.ldif.in" "LDAP_BASE=$MAILSTACK_LDAP_BASE" \
			"ADMIN_PASSWORD_HASH=$(slappasswd -h '{SSHA}' -T <(printf '%s' "$MAILSTACK_ADMIN_PASSWORD"))" \
			"DEMO_PASSWORD_HASH=$(slappasswd -h '{SSHA}' -T <(printf '%s' "$MAILSTACK_DEMO_PASSWORD"))"
	} >"$LDAPD/seed.ldif"
	if ! ldapadd -x -H "ldap://127.0.0.1:$MAILSTACK_LDAP_PORT/" -D "cn=admin,$MAILSTACK_LDAP_BASE" \
		-y "$pwfile" -f "$LDAPD/seed.ldif" >"$LOG/ldapadd.log" 2>&1; then
		rm -f "$pwfile"
		log_tail "$LOG/ldapadd.log"
		die "could not load the base and demo entries into LDAP"
	fi
	rm -f "$pwfile"
	touch "$LDAPD/.seeded"
	say "LDAP initialised: $MAILSTACK_LDAP_BASE with hurd and cyrus"
}

# PostgreSQL runs as postgres when we are root: it must own DIR/pg and reach it.
prepare_pg_dir() {
	mkdir -p "$PGD/sock"
	[ "$(id -u)" -eq 0 ] || return 0
	chown -R postgres:postgres "$PGD"
	local d=$DIR
	if ! runuser -u postgres -- test -x "$PGD"; then
		while [ "$d" != / ]; do
			if [ $((0$(stat -c %a "$d") & 1)) -eq 0 ]; then
				say "making $d traversable (o+x) for the postgres user"
				chmod o+x "$d"
			fi
			d=$(dirname "$d")
		done
	fi
}

init_pg() {
	[ -e "$PGD/.initialised" ] && return 0
	local pid bindir
	bindir=$(pg_bindir)
	if pid=$(pg_pid); then stop_pid "$pid" postgres; fi
	rm -rf "$PGD"
	prepare_pg_dir
	(umask 077 && printf '%s\n' "$MAILSTACK_PG_PASSWORD" >"$PGD/pwfile")
	[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PGD/pwfile"
	if ! as_pg "$bindir/initdb" -D "$PGD/data" -U mailstack --pwfile="$PGD/pwfile" \
		-A scram-sha-256 -E UTF8 --locale=C >"$LOG/initdb.log" 2>&1; then
		rm -f "$PGD/pwfile"
		log_tail "$LOG/initdb.log"
		die "initdb failed"
	fi
	rm -f "$PGD/pwfile"
	echo "include_if_exists = 'mailstack.conf'" >>"$PGD/data/postgresql.conf"
}

# A postmaster that died (kill -9, OOM) stays a zombie until init reaps it, which takes
# 1-2 s under some container inits; PostgreSQL takes the zombie's pid in postmaster.pid for
# a running server and refuses to start. Deleting the file would skip PostgreSQL's own
# check for orphaned backends, so wait for the reaping instead.
wait_for_dead_postmaster() {
	local pid i
	[ -s "$PGD/data/postmaster.pid" ] || return 0
	pid=$(head -n1 "$PGD/data/postmaster.pid")
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	for ((i = 0; i < 100; i++)); do
		{ [ -e "/proc/$pid" ] && ! alive "$pid"; } || return 0
		sleep 0.2
	done
}

start_pg() {
	local bindir sockdir=$PGD/sock
	if pg_pid >/dev/null; then
		return 0
	fi
	bindir=$(pg_bindir)
	wait_for_dead_postmaster
	prepare_pg_dir
	# A Unix socket path is limited to 107 bytes; clients here use TCP anyway.
	[ ${#sockdir} -gt 90 ] && sockdir=
	{
		echo "# written by tools/stack.sh at every start"
		echo "port = $MAILSTACK_PG_PORT"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '${sockdir//\'/\'\'}'"
		echo "fsync = on"
	} >"$PGD/data/mailstack.conf"
	touch "$LOG/postgres.log"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres:postgres "$PGD/data/mailstack.conf" "$LOG/postgres.log"
	fi
	STARTED+=(postgres)
	as_pg "$bindir/pg_ctl" -D "$PGD/data" -l "$LOG/postgres.log" -w -t 60 start >/dev/null 2>&1 ||
		{ log_tail "$LOG/postgres.log"; die "PostgreSQL did not start"; }
	say "PostgreSQL up on 127.0.0.1:$MAILSTACK_PG_PORT (pid $(pg_pid))"
}

setup_database() {
	local exists
	exists=$(PGPASSWORD=$MAILSTACK_PG_PASSWORD psql -X -q -At -h 127.0.0.1 -p "$MAILSTACK_PG_PORT" \
		-U mailstack -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'mailstack'") ||
		die "cannot connect to PostgreSQL as mailstack"
	if [ "$exists" != 1 ]; then
		PGPASSWORD=$MAILSTACK_PG_PASSWORD psql -X -q -h 127.0.0.1 -p "$MAILSTACK_PG_PORT" \
			-U mailstack -d postgres -c 'CREATE DATABASE mailstack' || die "cannot create database mailstack"
	fi
	touch "$PGD/.initialised"
	MAILSTACK_PG_DSN=$PG_DSN "$REPO/tools/migrate.sh" | sed 's/^/stack: /' || die "migrations failed"
}

wait_http() {
	local name=$1 pid=$2 url=$3 i
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || { log_tail "$LOG/$name.log"; die "$name exited during start"; }
		curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
		sleep 0.2
	done
	log_tail "$LOG/$name.log"
	die "$name: $url did not answer 200 within 20 s"
}

start_service() {
	local name=$1 bin=$BIN_DIR/$1 pid var url
	service_pid "$name" >/dev/null && return 0
	rm -f "$RUN/$name.pid"
	(
		set -a
		# shellcheck source=/dev/null
		. "$ENVFILE"
		set +a
		exec setsid "$bin"
	) >>"$LOG/$name.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$RUN/$name.pid"
	STARTED+=("$name")
	var=${name^^}
	var=MAILSTACK_${var//-/_}_CONTROL_PORT
	url=http://127.0.0.1:${!var}
	wait_http "$name" "$pid" "$url/healthz"
	[ "$name" = directory-sync ] && wait_http "$name" "$pid" "$url/readyz"
	say "$name up (pid $pid, control $url)"
}

# The seed's aliases table (postmaster -> root -> hurd), imported once per database through
# directory-sync's admin API, so postmaster@ reaches a mailbox out of the box.
import_aliases() {
	[ -e "$PGD/.aliases-imported" ] && return 0
	service_pid directory-sync >/dev/null || return 0
	curl -fsS -o /dev/null --max-time 10 -X PUT --data-binary "@$REPO/schema/aliases/seed.aliases" \
		-H "Authorization: Bearer $MAILSTACK_ADMIN_TOKEN" \
		"http://127.0.0.1:$MAILSTACK_DIRECTORY_SYNC_CONTROL_PORT/v1/aliases" >"$LOG/aliases.log" 2>&1 ||
		{ log_tail "$LOG/aliases.log"; die "could not import schema/aliases/seed.aliases"; }
	touch "$PGD/.aliases-imported"
	say "aliases imported from schema/aliases/seed.aliases"
}

# On a failed start, stop what this run started, newest first.
cleanup_failed_start() {
	local rc=$? i
	[ $rc -eq 0 ] && return 0
	[ ${#STARTED[@]} -eq 0 ] && exit $rc
	say "start failed; stopping what was started"
	for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
		stop_component "${STARTED[i]}"
	done
	exit $rc
}

print_summary() {
	local name var pid state
	echo "mailstack dev stack in $DIR"
	echo "  SMTP  127.0.0.1:$MAILSTACK_SMTP_PORT   LMTP 127.0.0.1:$MAILSTACK_LMTP_PORT   IMAP 127.0.0.1:$MAILSTACK_IMAP_PORT"
	echo "  LDAP  ldap://127.0.0.1:$MAILSTACK_LDAP_PORT  base $MAILSTACK_LDAP_BASE  (admin cn=admin,$MAILSTACK_LDAP_BASE)"
	echo "  PG    host=127.0.0.1 port=$MAILSTACK_PG_PORT dbname=mailstack user=mailstack"
	for name in "${ALL_SERVICES[@]}"; do
		var=${name^^}
		var=MAILSTACK_${var//-/_}_CONTROL_PORT
		if pid=$(service_pid "$name"); then state="pid $pid"; else state="not running"; fi
		printf '  %-15s http://127.0.0.1:%s  (%s)\n' "$name" "${!var}" "$state"
	done
	echo "  demo user hurd / $MAILSTACK_DEMO_PASSWORD (hurd@ and youngbong@$DOMAIN), admin cyrus"
	echo "  settings: . $ENVFILE    logs: $LOG/"
	echo "  first mail: swaks --server 127.0.0.1:$MAILSTACK_SMTP_PORT --to hurd@$DOMAIN --from foo@example.org"
	if [ "$DIR" = "$(cd "$REPO" && pwd -P)/var" ]; then
		echo "  stop: make stop"
	else
		echo "  stop: $0 stop $DIR"
	fi
}

cmd_start() {
	local name wanted=() before
	for name in ${MAILSTACK_STACK_SERVICES-${ALL_SERVICES[*]}}; do
		[[ " ${ALL_SERVICES[*]} " == *" $name "* ]] || die "MAILSTACK_STACK_SERVICES: unknown service $name"
		wanted+=("$name")
	done
	BIN_DIR=${MAILSTACK_BIN_DIR:-$REPO/build/bin}
	for name in "${wanted[@]}"; do
		[ -x "$BIN_DIR/$name" ] || die "$name: no binary $BIN_DIR/$name (build it with make, or set MAILSTACK_BIN_DIR)"
	done
	DOMAIN=${MAILSTACK_DOMAIN:-example.test}
	HOSTNAME_FQDN=${MAILSTACK_HOSTNAME:-mail.$DOMAIN}
	mkdir -p "$RUN" "$LOG"
	STARTED=()
	trap cleanup_failed_start EXIT

	load_init_settings
	assign_ports
	PG_DSN="host=127.0.0.1 port=$MAILSTACK_PG_PORT dbname=mailstack user=mailstack password=$MAILSTACK_PG_PASSWORD"
	write_stack_env
	ensure_tls
	init_ldap
	start_slapd
	seed_ldap
	init_pg
	start_pg
	setup_database
	before=${#STARTED[@]}
	for name in "${ALL_SERVICES[@]}"; do
		[[ " ${wanted[*]} " == *" $name "* ]] && start_service "$name"
	done
	import_aliases
	trap - EXIT
	[ "$before" -eq 0 ] && [ ${#STARTED[@]} -eq 0 ] && say "already running"
	print_summary
}

# --- stop and status -------------------------------------------------------------------

stop_component() {
	local pid
	case $1 in
	slapd)
		if pid=$(slapd_pid); then stop_pid "$pid" slapd; fi
		rm -f "$RUN/slapd.pid"
		;;
	postgres)
		if pid=$(pg_pid); then
			as_pg "$(pg_bindir)/pg_ctl" -D "$PGD/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
				stop_pid "$pid" postgres
		fi
		;;
	*)
		if pid=$(service_pid "$1"); then stop_pid "$pid" "$1"; fi
		rm -f "$RUN/$1.pid"
		;;
	esac
}

cmd_stop() {
	local i stopped=0
	for ((i = ${#ALL_SERVICES[@]} - 1; i >= 0; i--)); do
		service_pid "${ALL_SERVICES[i]}" >/dev/null && stopped=1
		stop_component "${ALL_SERVICES[i]}"
	done
	pg_pid >/dev/null && stopped=1
	stop_component postgres
	slapd_pid >/dev/null && stopped=1
	stop_component slapd
	if [ $stopped -eq 1 ]; then say "stopped $DIR"; else say "nothing running in $DIR"; fi
}

# Exit 0 when slapd, PostgreSQL and every service that was started are running, 3 when
# nothing runs, 1 when only part of the stack does.
cmd_status() {
	local name pid up=0 down=0
	for name in slapd postgres "${ALL_SERVICES[@]}"; do
		if pid=$(component_pid "$name"); then
			printf '%-15s running (pid %s)\n' "$name" "$pid"
			up=$((up + 1))
		elif [ "$name" = slapd ] || [ "$name" = postgres ] || [ -e "$RUN/$name.pid" ]; then
			printf '%-15s stopped\n' "$name"
			down=$((down + 1))
		else
			printf '%-15s not started\n' "$name"
		fi
	done
	[ -f "$ENVFILE" ] && echo "settings: $ENVFILE"
	[ $down -eq 0 ] && return 0
	[ $up -eq 0 ] && return 3
	return 1
}

[ $# -eq 2 ] || usage
case $1 in
start)
	mkdir -p "$2"
	DIR=$(cd "$2" && pwd -P)
	set_paths
	cmd_start
	;;
stop | status)
	if [ ! -d "$2" ]; then
		say "nothing in $2"
		[ "$1" = stop ] && exit 0
		exit 3
	fi
	DIR=$(cd "$2" && pwd -P)
	set_paths
	"cmd_$1"
	;;
*) usage ;;
esac
