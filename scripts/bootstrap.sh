#!/usr/bin/env bash
# Installs everything mso needs on a fresh Debian 12 machine: the libyang system packages
# (the CFFI binding compiles against libyang2-dev; yanglint lints our modules), yangcli (yuma123,
# a NETCONF client the end-to-end tests run), libxml2-dev and pkg-config (the collector's C
# readers, built by setup.py with gcc) and a venv with the project and its test extras.
# Safe to run again: it only installs what is missing.
set -euo pipefail
venv=${1:-.venv}
python=${PYTHON:-python3}

apt_packages=(libyang2-dev libyang2-tools yangcli libxml2-dev pkg-config)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "bootstrap: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  echo "bootstrap: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e '.[test]'
