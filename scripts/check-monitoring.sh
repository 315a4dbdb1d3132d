#!/usr/bin/env bash
# Checks the monitoring kit (run in CI; no daemon, no network):
#   1. promtool check rules   deploy/prometheus/sanjog.rules.yml
#   2. promtool test rules    deploy/prometheus/sanjog.rules.test.yml
#   3. promtool check config  deploy/prometheus/prometheus.yml
#   4. scripts/check_monitoring.py --self-test (the metric check bites)
#   5. scripts/check_monitoring.py: the Grafana dashboard
#      (deploy/grafana/sanjog-dashboard.json) is valid, and every metric the
#      dashboard and the rules query is documented in docs/metrics.md and
#      exists in the code.
# promtool: Debian package `prometheus` (/usr/bin/promtool), or PROMTOOL=path.
# Extra arguments go to check_monitoring.py (e.g. --metrics-file scrape.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

promtool="${PROMTOOL:-promtool}"
if ! command -v "$promtool" >/dev/null 2>&1; then
  echo "check-monitoring: FAILED: promtool not found (apt-get install prometheus, or set PROMTOOL)" >&2
  exit 1
fi
"$promtool" --version 2>&1 | head -n 1

echo "== promtool check rules"
"$promtool" check rules deploy/prometheus/sanjog.rules.yml

echo "== promtool test rules"
# Both files name sanjog.rules.yml relative to themselves (promtool resolves
# that from any directory); running there keeps the output short.
(cd deploy/prometheus && "$promtool" test rules sanjog.rules.test.yml)

echo "== promtool check config"
(cd deploy/prometheus && "$promtool" check config prometheus.yml)

echo "== check_monitoring.py --self-test"
python3 scripts/check_monitoring.py --self-test

echo "== check_monitoring.py"
python3 scripts/check_monitoring.py "$@"

echo "check-monitoring: all checks passed"
