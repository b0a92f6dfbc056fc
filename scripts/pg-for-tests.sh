#!/usr/bin/env bash
# Start the local PostgreSQL cluster when one is installed (Debian's postgresql package) and print an admin URL
# for tests/test_postgres.py; print nothing (those tests skip) when there is none. Never fails the test run.
set -u
command -v pg_ctlcluster >/dev/null 2>&1 || exit 0
ver=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
[ -n "$ver" ] || exit 0
pg_ctlcluster "$ver" main start >/dev/null 2>&1 || true
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else sh -c "$1"; fi; }
as_pg "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='datagen_test'\"" 2>/dev/null | grep -q 1 ||
  as_pg "psql -qc \"CREATE ROLE datagen_test LOGIN SUPERUSER PASSWORD 'datagen_test'\"" >/dev/null 2>&1 || exit 0
echo "postgresql+psycopg://datagen_test:datagen_test@127.0.0.1/postgres"
