#!/usr/bin/env bash
# Builds the project's Python environment (.venv) from nothing: the moto server the tests run
# against, the AWS CLI used to inspect what fluxer leaves behind, and the GPU runtime with its
# dev dependencies. Re-running is cheap: it reinstalls only when requirements-dev.txt or
# gpu-runtime/pyproject.toml changed (a hash stamp in .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

pick_python() {
  for candidate in "${FLUXER_PYTHON:-}" python3.11 python3.12 python3.10 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: Python >= 3.10 not found (set FLUXER_PYTHON)" >&2; return 1
}

stamp_value=$(cat requirements-dev.txt gpu-runtime/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat .venv/.fluxer-stamp 2>/dev/null)" = "$stamp_value" ]; then
  exit 0
fi

python_bin=$(pick_python)
echo "python-env: building .venv with $($python_bin --version)" >&2
[ -x .venv/bin/python ] || "$python_bin" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
echo "$stamp_value" > .venv/.fluxer-stamp
echo "python-env: ready" >&2
