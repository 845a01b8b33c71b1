#!/usr/bin/env bash
# migrate.sh - apply the pending schema/postgres/NNN_name.sql migrations to a database.
#
# usage: tools/migrate.sh [DSN]      (default: $MAILSTACK_PG_DSN)
#
# Each migration runs once, in file-name order, in its own transaction together with its
# row in schema_migrations, so a failing one leaves nothing half-applied and stops the run
# (exit 1). Every transaction first takes the same advisory lock and re-checks
# schema_migrations, so replicas starting at once apply each migration exactly once.
# A password in a keyword/value DSN is handed to psql through PGPASSWORD, not argv, so it
# never shows up in `ps`.
set -euo pipefail

MIGRATIONS_DIR=${MAILSTACK_MIGRATIONS_DIR:-$(cd "$(dirname "$0")/../schema/postgres" && pwd)}
LOCK_KEY=72900201 # any fixed number: every copy of this script must take the same lock

dsn=${1:-${MAILSTACK_PG_DSN:-}}
if [ -z "$dsn" ]; then
	echo "usage: $0 DSN (or set MAILSTACK_PG_DSN)" >&2
	exit 2
fi

# Moves password=... out of a keyword/value DSN (values plain or single-quoted).
if [[ $dsn != *://* && $dsn =~ (^|[[:space:]])password[[:space:]]*=[[:space:]]*(\'[^\']*\'|[^[:space:]]*) ]]; then
	pw=${BASH_REMATCH[2]}
	pw=${pw#\'}
	pw=${pw%\'}
	export PGPASSWORD=$pw
	dsn=${dsn/"${BASH_REMATCH[0]}"/ }
fi

psql_tx() {
	psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$dsn" "$@"
}

psql_tx -f - <<-EOF
	SELECT pg_advisory_xact_lock($LOCK_KEY) \g /dev/null
	SET LOCAL client_min_messages = warning;
	CREATE TABLE IF NOT EXISTS schema_migrations (
	    version    text PRIMARY KEY,
	    applied_at timestamptz NOT NULL DEFAULT now()
	);
EOF

applied=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$dsn" -c 'SELECT version FROM schema_migrations')

ran=0
shopt -s nullglob
for file in "$MIGRATIONS_DIR"/[0-9][0-9][0-9]_*.sql; do
	version=$(basename "$file" .sql)
	grep -qxF "$version" <<<"$applied" && continue
	# Under the lock, a migration another process applied meanwhile is skipped.
	result=$(psql_tx -At -v lock="$LOCK_KEY" -v version="$version" -v file="$file" -f - <<-'EOF'
		SELECT pg_advisory_xact_lock(:lock) \g /dev/null
		SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = :'version') AS done \gset
		\if :done
		\echo skipped
		\else
		\i :file
		INSERT INTO schema_migrations (version, applied_at) VALUES (:'version', now());
		\echo applied
		\endif
	EOF
	) || { echo "migrate: $version failed; nothing of it was applied" >&2; exit 1; }
	if [ "$(tail -n1 <<<"$result")" = applied ]; then
		echo "migrate: applied $version"
		ran=$((ran + 1))
	fi
done
[ "$ran" -eq 0 ] && echo "migrate: up to date"
exit 0
