#!/usr/bin/env bash
# The two entry points of whyflow on a fresh machine with Python 3.11 and pip:
#   ./run.sh demo   generate the demo data and run the coupon-campaign analysis end to end
#   ./run.sh test   run the test suite
# Both create .venv from requirements.lock when it is missing or the lock changed; `test` also installs the
# deep estimators' extra from requirements-deep.lock (JAX, ~390 MB), which the demo does not need.
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

# The deep estimators' extra, over the locked .venv, with its own lock-hash check (.venv/.whyflow-deep-lock).
bootstrap_deep() {
  local want
  want=$(cat requirements.lock requirements-deep.lock pyproject.toml | sha256sum | cut -c1-64)
  if [ "$(cat .venv/.whyflow-deep-lock 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  echo "run.sh: installing the deep estimators' extra (requirements-deep.lock) into .venv" >&2
  .venv/bin/python -m pip install -qq -r requirements-deep.lock -c requirements.lock
  echo "$want" > .venv/.whyflow-deep-lock
}

# The report test opens a run report in headless Chromium (tests/tasks/test_report_browser.py).
# On Debian, as root, install the browser and its driver when missing; otherwise that test skips.
install_chromium() {
  [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "run.sh: installing chromium and chromium-driver for the report browser test" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver \
        >/dev/null || echo "run.sh: could not install chromium; the browser test will skip" >&2
  else
    echo "run.sh: /usr/bin/chromium missing and apt-get unavailable (or not root); the browser test will skip" >&2
  fi
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
    bootstrap_deep
    install_chromium
    exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: ./run.sh demo | ./run.sh test [pytest args]" >&2
    exit 2
    ;;
esac
