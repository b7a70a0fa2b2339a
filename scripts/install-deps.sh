#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian 12 machine (as root), then the venv.
# Idempotent: does nothing that is already done, so `make demo` / `make test` can always call it.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(ostree gir1.2-ostree-1.0 python3-gi python3-venv skopeo runc busybox-static
      docker-registry umoci systemd systemd-container util-linux procps mount)
# The systemd test host's system and user buses (logind, user@UID.service, rootless runc).
PKGS+=(dbus dbus-user-session libpam-systemd)
# User mode: newuidmap/newgidmap let rootless runc map the user's /etc/subuid range.
PKGS+=(uidmap)
# gnupg (gpg, gpg-agent): the signature tests sign images with throwaway keys
# (skopeo --sign-by); skopeo verifies GPG signatures through its own gpgme.
PKGS+=(gnupg)
# docker.io only serves the docker-daemon: transport tests (a private dockerd).
PKGS+=(docker.io)
# rpm (rpmbuild, rpm2archive): install --system-package=build|yes and their tests.
PKGS+=(rpm)
# man pages and shell completion of the command (make install-cli, and their tests).
PKGS+=(man-db groff-base bash-completion)
# buildah builds the images the containers-storage: transport tests install.
PKGS+=(buildah)
# openssl makes the self-signed certificate of the TLS registry test (--cert-dir).
PKGS+=(openssl)
# gcc + libc: the command's C front (src/front, scripts/write_launcher.py) and the test images'
# sd_notify speaker (tests/fixtures/sdnotify.py).
PKGS+=(gcc libc6-dev)

# --bench (make bench only, never make test): podman, the per-container memory peer
# (docs/performance.md "Per-container memory"); it brings conmon, buildah, fuse-overlayfs.
# python3-matplotlib draws the scale curves (bench/plots.py, docs/perf/*.png); the venv sees
# it through --system-site-packages.
if [ "${1:-}" = "--bench" ]; then
    PKGS+=(podman python3-matplotlib)
fi

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The packages bring services (docker, docker-registry, dbus): installing them must not
    # start them on this machine. A policy-rc.d that says "no" does that for the install only.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    /usr/bin/python3 -m venv --system-site-packages .venv
fi
if ! .venv/bin/python -c 'import syscontainers, pytest, hypothesis, bcrypt; from ansible.release import __version__ as v; assert v.startswith("2.18."); import ansiblelint' 2>/dev/null; then
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[test]'
fi
# the command: its C front (gcc, above) and the Python launcher without the site step
# (scripts/write_launcher.py); pip writes its own script at every install, so this runs every time
.venv/bin/python scripts/write_launcher.py .venv
# --mutation (make mutation only): the mutation tool, the pyproject extra "mutation".
if [ "${1:-}" = "--mutation" ] && [ ! -x .venv/bin/mutmut ]; then
    .venv/bin/pip install -q -e '.[test,mutation]'
fi
.venv/bin/python scripts/write_launcher.py .venv
