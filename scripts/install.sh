#!/usr/bin/env bash
# Install everything sealer_runner needs on a Debian (12+) machine, then build the bundled example.
#
#   scripts/install.sh              install, then run the example (the README's first command)
#   scripts/install.sh --deps-only  install only (used by scripts/test.sh and CI)
#
# Idempotent: a second run installs nothing new. Needs root for the Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

DEPS_ONLY=0
[[ "${1:-}" == "--deps-only" ]] && DEPS_ONLY=1

# The example boots throwaway hosts (systemd-nspawn, a bridge): that needs root. A fresh Debian
# machine logged in as root may have no sudo at all, so the README's command is this script alone,
# and it asks sudo for itself only when it needs to.
if ((!DEPS_ONLY)) && [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "error: run this as root (it installs Debian packages and boots test hosts)" >&2; exit 1; }
  exec sudo --preserve-env=PYTHON,SEALER_RUNNER_ROOT "$0" "$@"
fi

# Debian packages: Python and Ansible's needs (ssh, sshpass), the real tools the tests drive
# (skopeo, umoci, the distribution registry, busybox for test images), the binaries the test base
# image carries (containerd, runc, registry), and what boots throwaway test hosts (debootstrap,
# systemd-nspawn, iproute2).
APT_PACKAGES=(python3 python3-venv python3-pip git ca-certificates tar gzip curl openssh-client sshpass
              skopeo umoci docker-registry busybox-static containerd runc
              debootstrap debian-archive-keyring systemd-container iproute2)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "==> installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "error: Python >= 3.11 is required (found $("$PYTHON" --version))" >&2; exit 1; }
if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -e "$stamp" ]]; then
  echo "==> installing sealer_runner and its Python dependencies into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
  touch "$stamp"
fi

((DEPS_ONLY)) && exit 0
exec scripts/example.sh
