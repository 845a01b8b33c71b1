#!/usr/bin/env bash
# deps.sh - install the Debian packages mailstack needs to build, run and test (`make deps`).
#
# One dpkg-query call decides what is missing, so a machine that has everything pays well
# under a second and sees no output; apt-get (and its slow `update`) only runs when a
# package is actually absent. Exits non-zero, saying why, when it cannot install.
set -euo pipefail

PACKAGES=(
	gcc make pkg-config
	libldap-dev libsasl2-dev libsasl2-modules libjansson-dev libcurl4-openssl-dev
	libpq-dev libcunit1-dev libevent-dev libssl-dev
	libgmime-3.0-dev # libs/sieve: MIME structure, RFC 2047 and charsets, address lists
	slapd ldap-utils postgresql postgresql-client
	python3 swaks openssl curl netcat-openbsd procps iproute2
	postfix # smtp-source -L, the real Postfix LMTP client of the lmtp-store tests
)

installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for pkg in "${PACKAGES[@]}"; do
	if ! grep -qx "$pkg ii " <<<"$installed"; then
		missing+=("$pkg")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1; then
	as_root=(sudo)
else
	echo "deps: missing packages (${missing[*]}) and not root, no sudo: install them as root" >&2
	exit 1
fi

# slapd's debconf would otherwise ask for a domain and start a system instance we never use.
export DEBIAN_FRONTEND=noninteractive
# Postfix is here for its test clients only: "No configuration" leaves it without a
# main.cf, so no system instance starts or listens on port 25.
if [[ " ${missing[*]} " == *" postfix "* ]]; then
	echo "postfix postfix/main_mailer_type select No configuration" |
		"${as_root[@]}" debconf-set-selections
fi
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
