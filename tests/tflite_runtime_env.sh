#!/usr/bin/env bash
# Run brainedge-classify from this checkout under tflite-runtime 2.14 and numpy < 2, in a
# virtual environment of its own: tflite-runtime's last wheels predate numpy 2, so it cannot
# share the test environment. This is what an older Raspberry Pi install looks like.
#
# usage: bash tests/tflite_runtime_env.sh [brainedge-classify arguments...]
#   PYTHON=python3.11 picks the interpreter (default python3). The environment is cached in
#   .cache/tflite-runtime-pyXY (gitignored); the first run downloads about 20 MB.
#   Prints the versions in use on stderr, then execs brainedge-classify --backend tflite_runtime.
#   Exit status 3: tflite-runtime cannot be installed for this Python or machine (no wheel,
#   no network); the reason is on stderr.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
tag=$("$python" -c 'import sys; print("py%d%d" % sys.version_info[:2])')
venv=$repo/.cache/tflite-runtime-$tag

if [ ! -f "$venv/.ready" ]; then
  rm -rf "$venv"
  mkdir -p "$repo/.cache"
  if ! "$python" -m venv "$venv" >"$venv.log" 2>&1 ||
     ! "$venv/bin/python" -m pip install --disable-pip-version-check --quiet \
         "tflite-runtime==2.14.0" "numpy<2" "pillow>=9.4" >>"$venv.log" 2>&1 ||
     ! "$venv/bin/python" -m pip install --disable-pip-version-check --quiet --no-deps -e "$repo" \
         >>"$venv.log" 2>&1; then
    echo "tflite-runtime 2.14.0 with numpy<2 cannot be installed for $tag on $(uname -m):" \
         "$(grep -m1 -iE 'error|no matching' "$venv.log" || tail -n1 "$venv.log")" >&2
    rm -rf "$venv"
    exit 3
  fi
  touch "$venv/.ready"
fi

"$venv/bin/python" -c 'import sys, numpy, PIL, tflite_runtime
print(f"tflite-runtime {tflite_runtime.__version__}, numpy {numpy.__version__}, Pillow {PIL.__version__}, "
      f"Python {sys.version.split()[0]}", file=sys.stderr)'
exec "$venv/bin/python" -m brainedge.edge_runtime --backend tflite_runtime "$@"
