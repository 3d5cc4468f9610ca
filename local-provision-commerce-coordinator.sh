#!/usr/bin/env bash
# Idempotent local set-up of Commerce Coordinator. Run it as often as you like:
# a second run changes nothing and says so.
#
#   ./local-provision-commerce-coordinator.sh                 # SQLite files under var/
#   DB_ENGINE=mysql ./local-provision-commerce-coordinator.sh # MariaDB/MySQL (DB_NAME, TRACES_DB_NAME, DB_USER, ...)
#
# It creates the MySQL databases (when DB_ENGINE=mysql), migrates both database
# aliases (default and traces), creates the admin user (admin / admin), the
# waffle switches named in settings.CC_WAFFLE_SWITCHES, and loads demo data
# (settings.CC_DEMO_DATA_COMMANDS). The work is done by `manage.py provision_local`;
# extra arguments are passed to it (e.g. --no-demo-data).
set -euo pipefail

cd "$(dirname "$0")"
PYTHON="${PYTHON:-.venv/bin/python}"
if [[ ! -x "$PYTHON" ]]; then
    echo "No virtualenv at .venv: run 'make install' first (or set PYTHON)." >&2
    exit 1
fi
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-commerce_coordinator.settings.local}"

echo "Provisioning Commerce Coordinator (settings: $DJANGO_SETTINGS_MODULE, database engine: ${DB_ENGINE:-sqlite})"
exec "$PYTHON" manage.py provision_local "$@"
