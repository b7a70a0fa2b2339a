"""The private root a test host boots from: directories, a private /etc, masked units.

Everything here is plain files on the host side, written before the boot; nothing is
mounted. The mounts (host /usr read-only, /proc, /sys, /dev, cgroups ...) are made by
``boot.py`` inside the new mount namespace, so they vanish with it.

The /etc is built from an allow-list, never copied wholesale: the machine's /etc enables its
own services (docker, postgresql ...) and init scripts that a booted systemd would start.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Host /etc entries systemd, PAM, the dynamic linker, Python and the container tools need.
ETC_FROM_HOST = (
    "alternatives", "ca-certificates", "ca-certificates.conf", "containers", "dbus-1",
    "default", "environment", "host.conf", "hosts", "ld.so.cache", "ld.so.conf",
    "ld.so.conf.d", "localtime", "login.defs", "netconfig", "nsswitch.conf", "os-release",
    "pam.conf", "pam.d", "profile", "protocols", "python3", "python3.11", "resolv.conf",
    "security", "services", "shells", "ssl", "timezone",
)

# The systemd configuration files worth keeping (not system/ and user/: they enable the
# machine's services).
SYSTEMD_CONF_FROM_HOST = ("system.conf", "user.conf", "journald.conf", "logind.conf")

# Units that touch the kernel, the hardware or the machine's consoles, or that fail in a
# private root. Masked by a link to /dev/null in /etc/systemd/system.
MASKED_UNITS = (
    "systemd-sysctl.service",
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "proc-sys-fs-binfmt_misc.mount",
    "systemd-modules-load.service",
    "kmod-static-nodes.service",
    "kmod.service",
    "modprobe@.service",               # loads kernel modules into the machine's kernel
    "systemd-timesyncd.service",
    "systemd-udevd.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service",
    "systemd-udev-settle.service",
    "systemd-repart.service",
    "systemd-hwdb-update.service",
    "systemd-pcrphase.service",
    "systemd-pcrphase-sysinit.service",
    "systemd-pcrphase-initrd.service",
    "getty.target",
    "getty@.service",
    "serial-getty@.service",
    "console-getty.service",
    "container-getty@.service",
    "getty-static.service",
    "systemd-ask-password-console.path",
    "systemd-ask-password-wall.path",
    "systemd-random-seed.service",     # would write into the machine's entropy pool
    "systemd-journald-audit.socket",   # the kernel audit netlink is machine-wide
    "systemd-pstore.service",
    "systemd-remount-fs.service",
    "systemd-fsck-root.service",
    "systemd-firstboot.service",
    "systemd-rfkill.service",
    "systemd-rfkill.socket",
    "systemd-quotacheck.service",
    "quotaon.service",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "sys-kernel-config.mount",
    "sys-fs-fuse-connections.mount",
    "dev-hugepages.mount",
    "systemd-tmpfiles-clean.timer",    # must never age-clean a bind-mounted checkout
)

PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
)
GROUP = "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n"
SHADOW = "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n"

# Overrides the distribution's tmp.conf ("D /tmp": empty /tmp at boot): the private /tmp is on
# disk and may hold bind mounts of the machine's directories.
TMPFILES_TMP = "d /tmp 1777 root root -\nd /var/tmp 1777 root root -\n"

# Directories of the private root that are mount points or plain directories on disk
# (var/log/journal: a persistent journal, which journald splits per user: `journalctl --user`).
ROOT_DIRS = (
    "etc", "var/lib/containers", "var/tmp", "var/log/journal", "root", "home", "tmp", "run", "proc",
    "sys", "dev", "usr", "mnt", "opt", "srv", "media",
)


def populate(root: Path, hostname: str) -> None:
    """Write the skeleton of a private root at ``root`` (an empty or missing directory)."""
    for d in ROOT_DIRS:
        (root / d).mkdir(parents=True, exist_ok=True)
    for d in ("tmp", "var/tmp"):
        (root / d).chmod(0o1777)
    (root / "root").chmod(0o700)
    _usr_links(root)
    _write_etc(root / "etc", hostname)


def _usr_links(root: Path) -> None:
    """Debian 12 is merged-/usr: /bin, /lib ... are links into the bound /usr."""
    for name in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            (root / name).symlink_to(os.readlink(host))


def _write_etc(etc: Path, hostname: str) -> None:
    for name in ETC_FROM_HOST:
        _copy(Path("/etc") / name, etc / name)
    systemd = etc / "systemd"
    (systemd / "system").mkdir(parents=True, exist_ok=True)
    (systemd / "user").mkdir(parents=True, exist_ok=True)
    for name in SYSTEMD_CONF_FROM_HOST:
        _copy(Path("/etc/systemd") / name, systemd / name)
    for unit in MASKED_UNITS:
        (systemd / "system" / unit).symlink_to("/dev/null")
    (systemd / "system" / "default.target").symlink_to(
        "/usr/lib/systemd/system/multi-user.target")
    tmpfiles = etc / "tmpfiles.d"
    tmpfiles.mkdir(exist_ok=True)
    (tmpfiles / "tmp.conf").write_text(TMPFILES_TMP)
    _write(etc / "passwd", PASSWD, 0o644)
    _write(etc / "group", GROUP, 0o644)
    _write(etc / "shadow", SHADOW, 0o640)
    _write(etc / "gshadow", "", 0o640)
    _write(etc / "subuid", "", 0o644)
    _write(etc / "subgid", "", 0o644)
    # Empty: systemd makes a transient machine ID for this boot.
    _write(etc / "machine-id", "", 0o444)
    _write(etc / "hostname", hostname + "\n", 0o644)
    _write(etc / "fstab", "", 0o644)
    (etc / "mtab").symlink_to("../proc/self/mounts")


def _copy(src: Path, dst: Path) -> None:
    """Copy a file, link or tree as it is (links are not followed); a missing source is fine."""
    if src.is_symlink():
        dst.symlink_to(os.readlink(src))
    elif src.is_dir():
        shutil.copytree(src, dst, symlinks=True)
    elif src.exists():
        shutil.copy2(src, dst)


def _write(path: Path, text: str, mode: int) -> None:
    path.write_text(text)
    path.chmod(mode)


def add_user(etc: Path, name: str, uid: int, subid_start: int, subid_count: int = 65536) -> None:
    """Add a login user with a home under /home and a subordinate ID range to the private /etc."""
    with open(etc / "passwd", "a") as f:
        f.write(f"{name}:x:{uid}:{uid}:{name}:/home/{name}:/bin/sh\n")
    with open(etc / "group", "a") as f:
        f.write(f"{name}:x:{uid}:\n")
    with open(etc / "shadow", "a") as f:
        f.write(f"{name}:*:19000:0:99999:7:::\n")
    for sub in ("subuid", "subgid"):
        with open(etc / sub, "a") as f:
            f.write(f"{name}:{subid_start}:{subid_count}\n")
