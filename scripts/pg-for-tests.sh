#!/usr/bin/env bash
# Make sure a local PostgreSQL runs and print an admin URL for tests/test_postgres.py (and the other tests that
# take DATAGEN_TEST_PG_URL). Idempotent and quiet: a second call only checks.
#   1. no server installed, running as root with apt-get (CI): install Debian's `postgresql` package;
#   2. no cluster yet: create one (pg_createcluster <version> main);
#   3. start it (pg_ctlcluster <version> main start) and create the test role once.
# Prints nothing (those tests skip, with that reason) when none of this is possible: not root on a machine
# without PostgreSQL, no network to the package registry. Never fails by itself; under CI=true the tests
# refuse to start without a URL (tests/conftest.py), so the PostgreSQL suite cannot be skipped in CI.
set -u
log() { echo "pg-for-tests: $*" >&2; }
as_root() { [ "$(id -u)" = 0 ]; }

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  if ! as_root || ! command -v apt-get >/dev/null 2>&1; then
    log "PostgreSQL is not installed (apt-get install postgresql as root); its tests are skipped"
    exit 0
  fi
  log "installing Debian's postgresql package (once)"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql; } >/tmp/pg-for-tests.log 2>&1
  then
    log "apt-get install postgresql failed (see /tmp/pg-for-tests.log); its tests are skipped"
    exit 0
  fi
fi
ver=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
[ -n "$ver" ] || exit 0
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1, $2}' | grep -qx "$ver main"; then
  as_root || { log "no PostgreSQL cluster $ver/main (create one as root)"; exit 0; }
  pg_createcluster "$ver" main >/dev/null 2>&1 || { log "pg_createcluster $ver main failed"; exit 0; }
fi
pg_ctlcluster "$ver" main start >/dev/null 2>&1 || true  # already running: fine
as_pg() { if as_root; then su postgres -c "$1"; else sh -c "$1"; fi; }
ready=
for _ in $(seq 1 50); do  # a fresh cluster takes a moment to accept connections
  if as_pg "psql -qtAc 'SELECT 1'" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
[ -n "$ready" ] || { log "PostgreSQL $ver/main does not accept connections; its tests are skipped"; exit 0; }
as_pg "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='datagen_test'\"" 2>/dev/null | grep -q 1 ||
  as_pg "psql -qc \"CREATE ROLE datagen_test LOGIN SUPERUSER PASSWORD 'datagen_test'\"" >/dev/null 2>&1 || exit 0
echo "postgresql+psycopg://datagen_test:datagen_test@127.0.0.1/postgres"
