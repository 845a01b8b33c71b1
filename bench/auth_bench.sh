#!/usr/bin/env bash
# auth_bench.sh - `make bench-auth`: auth-service's authentications per second and p99 at
# 1, 8 and 32 concurrent clients, next to the raw simple-bind rate of the same slapd
# measured in the same run at the same concurrency (bench/auth_bench.c), and their ratio.
#
# usage: bash bench/auth_bench.sh [auth_bench flags, e.g. --concurrency 1,8,32 --seconds 3]
#        make bench-auth [BENCH_FLAGS="--seconds 5"] [BUILD=dir]
#
# Starts a private stack (slapd, PostgreSQL, auth-service only; binaries from
# MAILSTACK_BIN_DIR, default <repo>/$BUILD/bin; MAILSTACK_AUTH_WORKERS and
# MAILSTACK_AUTH_DN_CACHE_MS pass through) in a temp dir on free ports, compiles the
# client there, runs it against the demo user hurd (an {SSHA} password, as the stack
# seeds it), prints auth-service's warnings and errors, and stops everything, also on
# Ctrl-C or an error. The password and the shared secret reach the client through its
# environment, never argv. BENCH_KEEP=1 keeps the temp dir (it is kept after a failure).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "bench-auth: $*"; }
die() {
	echo "bench-auth: $*" >&2
	exit 1
}

if [ -n "${BENCH_FLAGS:-}" ]; then
	read -ra flags <<<"$BENCH_FLAGS"
	set -- "${flags[@]}" "$@"
fi

BUILD_DIR=${BUILD:-build}
if [ "${SANITIZE:-0}" = 1 ] && [ -z "${BUILD:-}" ]; then
	BUILD_DIR=build-san
	say "warning: SANITIZE=1: sanitizer builds are several times slower; figures are not comparable"
fi
BIN_DIR=${MAILSTACK_BIN_DIR:-$REPO/$BUILD_DIR/bin}
if [ ! -x "$BIN_DIR/auth-service" ]; then
	[ -z "${MAILSTACK_BIN_DIR:-}" ] || die "no auth-service in MAILSTACK_BIN_DIR=$BIN_DIR"
	say "building auth-service"
	make -s -C "$REPO" BUILD="$BUILD_DIR" "$BUILD_DIR/bin/auth-service" >/dev/null || die "build failed"
fi

WORK=
STACK=
FAILED=1
INTERRUPTED=0
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -n "$WORK" ] || exit "$rc"
	if [ -n "$STACK" ] && [ -d "$STACK" ]; then
		bash "$REPO/tools/stack.sh" stop "$STACK" >/dev/null 2>&1 ||
			echo "bench-auth: tools/stack.sh stop $STACK failed" >&2
	fi
	if { [ "$FAILED" -eq 0 ] || [ "$INTERRUPTED" -eq 1 ]; } && [ "${BENCH_KEEP:-0}" != 1 ]; then
		rm -rf "$WORK"
	else
		echo "bench-auth: kept $WORK for inspection" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'INTERRUPTED=1; exit 130' INT
trap 'INTERRUPTED=1; exit 143' TERM

WORK=$(mktemp -d /tmp/mailstack-bench-auth.XXXXXX)
chmod 755 "$WORK" # the postgres user must reach its dir below
STACK=$WORK/stack

cc -std=c17 -O2 -Wall -Wextra -Werror -o "$WORK/auth_bench" "$REPO/bench/auth_bench.c" \
	-lldap -llber -lcurl -lpthread || die "could not compile bench/auth_bench.c"

# Only these settings of the caller pass: a sourced stack.env would pin other ports.
for v in $(compgen -e); do
	case $v in
	MAILSTACK_BIN_DIR | MAILSTACK_LOG_LEVEL | MAILSTACK_AUTH_WORKERS | MAILSTACK_AUTH_DN_CACHE_MS) ;;
	MAILSTACK_*) unset "$v" ;;
	esac
done
export MAILSTACK_BIN_DIR=$BIN_DIR MAILSTACK_PICK_FREE_PORTS=1 MAILSTACK_STACK_SERVICES=auth-service
for v in DEMO ADMIN LDAP_ADMIN PG; do
	export "MAILSTACK_${v}_PASSWORD=$(openssl rand -hex 12)"
done
bash "$REPO/tools/stack.sh" start "$STACK" >"$WORK/stack-start.log" 2>&1 ||
	{ cat "$WORK/stack-start.log" >&2; die "the stack did not start"; }
stack_var() { (set -a && . "$STACK/run/stack.env" && printf '%s' "${!1}"); }

LABEL=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
say "host: $(nproc) CPU(s), load $(cut -d' ' -f1-3 /proc/loadavg); commit $LABEL;" \
	"auth-service workers: ${MAILSTACK_AUTH_WORKERS:-4 (default)}, DN cache ${MAILSTACK_AUTH_DN_CACHE_MS:-60000} ms;" \
	"$(slapd -VV 2>&1 | grep -o 'slapd [0-9.]*' | head -n1)"
set +e
BENCH_PASSWORD=$MAILSTACK_DEMO_PASSWORD MAILSTACK_AUTH_SECRET=$(stack_var MAILSTACK_AUTH_SECRET) \
	"$WORK/auth_bench" --ldap-uri "$(stack_var MAILSTACK_LDAP_URI)" \
	--dn "uid=hurd,$(stack_var MAILSTACK_LDAP_USER_BASE)" --user hurd \
	--auth-url "$(stack_var MAILSTACK_AUTH_URL)" --label "$LABEL" "$@" | tee "$WORK/bench.out"
RC=${PIPESTATUS[0]}
set -e

/usr/bin/python3 - "$STACK/log/auth-service.log" <<-'EOF'
	import collections, json, sys
	counts = collections.Counter()
	for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
	    try:
	        o = json.loads(line)
	    except ValueError:
	        counts[("non-JSON line", line.strip()[:100])] += 1
	        continue
	    if str(o.get("level", "")).lower() not in ("info", "debug"):
	        counts[(o.get("level"), o.get("event"))] += 1
	print("bench-auth: auth-service log: " + (", ".join(f"{n} x {k[0]} {k[1]}" for k, n in counts.most_common(8))
	                                         or "no warnings or errors"))
EOF
[ "$RC" -eq 0 ] && FAILED=0
exit "$RC"
