#!/usr/bin/env bash
# The two entry points of whyflow on a fresh machine with Python 3.11 and pip:
#   ./run.sh demo   generate the demo data and run the coupon-campaign analysis end to end
#   ./run.sh test   run the test suite
# Both create .venv from requirements.lock when it is missing or the lock changed.
set -euo pipefail
cd "$(dirname "$0")"

pick_python() {
  for candidate in "${PYTHON:-}" python3.11 python3 python; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "run.sh: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

bootstrap() {
  local want
  want=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-64)
  if [ -x .venv/bin/python ] && [ "$(cat .venv/.whyflow-lock 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  local py
  py=$(pick_python)
  echo "run.sh: installing the locked environment into .venv (a few minutes the first time)" >&2
  "$py" -m venv .venv
  .venv/bin/python -m pip install -qq -r requirements.lock
  .venv/bin/python -m pip install -qq --no-deps -e .
  echo "$want" > .venv/.whyflow-lock
}

case "${1:-}" in
  demo)
    bootstrap
    .venv/bin/python -m data.generate coupon_618 churn
    exec .venv/bin/whyflow run coupon_618
    ;;
  test)
    shift
    bootstrap
    exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: ./run.sh demo | ./run.sh test [pytest args]" >&2
    exit 2
    ;;
esac
