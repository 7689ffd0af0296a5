# Sourced by scripts/demo, scripts/test and scripts/bench: make sure the venv
# ($TOPICFLOW_VENV, default .venv) exists and holds this package (with the extras
# named in $TOPICFLOW_EXTRAS, and the requirements file $TOPICFLOW_REQUIREMENTS),
# then put it first on PATH. Re-installs only when one of those files changed.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${TOPICFLOW_VENV:-$repo/.venv}"
extras="${TOPICFLOW_EXTRAS:-}"
requirements="${TOPICFLOW_REQUIREMENTS:-}"

python=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        python="$candidate"
        break
    fi
done
if [ -z "$python" ]; then
    echo "topicflow: Python 3.11 or newer is needed (Debian: apt-get install python3 python3-venv)" >&2
    exit 2
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "setting up $venv with $("$python" --version)..." >&2
    "$python" -m venv "$venv" || {
        echo "topicflow: '$python -m venv' failed; install the venv module (Debian: apt-get install python3-venv)" >&2
        exit 2
    }
fi

stamp="$venv/.topicflow-installed"
want="$(cat "$repo/pyproject.toml" ${requirements:+"$requirements"} | sha256sum | cut -c1-16)-[$extras]"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing topicflow${extras:+[$extras]}${requirements:+ and $requirements} into $venv (first run only)..." >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$repo${extras:+[$extras]}" \
        ${requirements:+-r "$requirements"}
    echo "$want" >"$stamp"
fi
export PATH="$venv/bin:$PATH"
export VIRTUAL_ENV="$venv"
