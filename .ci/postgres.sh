#!/usr/bin/env bash
# A local PostgreSQL for the SQL export tests (tests/export/test_sql.py), on Debian as root.
#
#   eval "$(bash .ci/postgres.sh)"          # sets CLV_TEST_POSTGRES_URL in the calling shell
#   bash .ci/postgres.sh /path/pg.env       # also writes the export line to that file
#
# Installs Debian's postgresql if no server is installed (apt-get update; apt-get install -y
# postgresql), creates a cluster if there is none, starts it if it is down, creates the role and
# database clv_test (password clv_test, loopback only), checks a TCP login and prints
#   export CLV_TEST_POSTGRES_URL=postgresql+psycopg://clv_test:clv_test@127.0.0.1:<port>/clv_test
# on stdout (nothing else goes to stdout). Idempotent: a second run finds everything in place.
# Fails soft: when apt, root or the server is unavailable it says why on stderr, prints nothing on
# stdout, leaves no env file and exits 0; the PostgreSQL tests then skip with a reason.
set -u

ENV_FILE=${1:-}
ROLE=clv_test
PASSWORD=clv_test
DB=clv_test

say() { echo "postgres.sh: $*" >&2; }
soft_fail() { say "$*; PostgreSQL export tests will be skipped"; exit 0; }

[ -n "$ENV_FILE" ] && rm -f "$ENV_FILE"
[ "$(id -u)" = 0 ] || soft_fail "needs root (apt-get, pg_ctlcluster)"

server_installed() { ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && command -v pg_lsclusters >/dev/null; }

if ! server_installed || [ -n "${CLV_PG_FORCE_APT:-}" ]; then
    command -v apt-get >/dev/null 2>&1 || soft_fail "apt-get is not available"
    export DEBIAN_FRONTEND=noninteractive
    say "installing postgresql with apt-get"
    timeout 600 apt-get update -q -o DPkg::Lock::Timeout=120 >&2 || soft_fail "apt-get update failed"
    timeout 900 apt-get install -y -q -o DPkg::Lock::Timeout=120 postgresql >&2 \
        || soft_fail "apt-get install postgresql failed"
    server_installed || soft_fail "postgresql installed but no server binary found"
fi

# newest installed major version
VERSION=$(ls -1 /usr/lib/postgresql | sort -n | tail -n 1)
CLUSTER=$(pg_lsclusters -h 2>/dev/null | awk -v v="$VERSION" '$1 == v {print $2; exit}')
if [ -z "$CLUSTER" ]; then
    CLUSTER=main
    say "creating cluster $VERSION/$CLUSTER"
    pg_createcluster "$VERSION" "$CLUSTER" >&2 || soft_fail "pg_createcluster $VERSION $CLUSTER failed"
fi
line=$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c')
PORT=$(echo "$line" | awk '{print $3}')
STATUS=$(echo "$line" | awk '{print $4}')
if [ "$STATUS" != "online" ]; then
    say "starting cluster $VERSION/$CLUSTER on port $PORT"
    pg_ctlcluster "$VERSION" "$CLUSTER" start >&2 || soft_fail "pg_ctlcluster $VERSION $CLUSTER start failed"
fi
ready=""
for _ in $(seq 1 30); do
    if pg_isready -q -h 127.0.0.1 -p "$PORT"; then ready=1; break; fi
    sleep 1
done
[ -n "$ready" ] || soft_fail "server on 127.0.0.1:$PORT not ready after 30 s"

as_postgres() {
    if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"
    elif [ -x /usr/sbin/runuser ]; then /usr/sbin/runuser -u postgres -- "$@"
    else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
}
as_postgres psql -q -v ON_ERROR_STOP=1 -p "$PORT" -d postgres >&2 <<SQL || soft_fail "could not create role $ROLE"
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
  ELSE
    ALTER ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
  END IF;
END
\$\$;
SQL
if [ "$(as_postgres psql -tAq -p "$PORT" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]; then
    as_postgres createdb -p "$PORT" -O "$ROLE" "$DB" >&2 || soft_fail "could not create database $DB"
fi
PGPASSWORD=$PASSWORD psql -qtA -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d "$DB" -c "SELECT 1" >/dev/null \
    || soft_fail "TCP login as $ROLE on 127.0.0.1:$PORT failed (check pg_hba.conf)"

URL="postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
say "PostgreSQL $VERSION ready at 127.0.0.1:$PORT, database $DB"
echo "export CLV_TEST_POSTGRES_URL=$URL"
if [ -n "$ENV_FILE" ]; then
    echo "export CLV_TEST_POSTGRES_URL=$URL" > "$ENV_FILE"
fi
exit 0
