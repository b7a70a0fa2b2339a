"""PID 1 of a new test host, before it becomes systemd. Run by ``/usr/bin/python3 -I``.

Started by ``unshare --pid --cgroup --mount --uts --ipc --fork`` with one argument: a JSON
plan written by host.py. It builds the private root's mounts inside the new mount namespace
(so they all vanish with it), pivots into it and execs systemd. Everything that could change
the machine is either private (tmpfs, fresh devpts, cgroup namespace) or read-only (/usr,
/sys, /proc/sys until the boot is over).

Standard library only: it runs with the machine's Python, not the project's venv.
"""

import ctypes
import json
import os
import subprocess
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
SAFE = MS_NOSUID | MS_NODEV | MS_NOEXEC

_libc = ctypes.CDLL(None, use_errno=True)


def mount(source, target, fstype=None, flags=0, data=None):
    enc = (lambda s: s.encode() if s is not None else None)
    if _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)):
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target} ({fstype}, {data}): {os.strerror(err)}")


def bind(source, target, readonly=False, recursive=False):
    mount(source, target, None, MS_BIND | (MS_REC if recursive else 0))
    if readonly:
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def setup_dev(root):
    """A private /dev: tmpfs, the harmless character devices, a fresh devpts, /dev/shm."""
    dev = root + "/dev"
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755")
    for name in ("null", "zero", "full", "random", "urandom", "tty"):
        open(f"{dev}/{name}", "w").close()
        bind(f"/dev/{name}", f"{dev}/{name}")
    os.mkdir(f"{dev}/pts")
    mount("devpts", f"{dev}/pts", "devpts", MS_NOSUID | MS_NOEXEC,
          "newinstance,ptmxmode=0666,mode=620,gid=5")
    os.symlink("pts/ptmx", f"{dev}/ptmx")
    os.mkdir(f"{dev}/shm")
    mount("tmpfs", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    os.symlink("/proc/self/fd", f"{dev}/fd")
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{dev}/{name}")


def setup_sys(root, cgroups):
    """A fresh read-only sysfs; on it a tmpfs with each cgroup hierarchy mounted afresh."""
    mount("sysfs", root + "/sys", "sysfs", SAFE | MS_RDONLY)
    base = root + "/sys/fs/cgroup"
    if len(cgroups) == 1 and cgroups[0]["name"] == "":
        mount("cgroup2", base, "cgroup2", SAFE)   # a pure cgroup v2 machine
        return
    mount("tmpfs", base, "tmpfs", SAFE, "mode=755")
    for h in cgroups:
        target = f"{base}/{h['name']}"
        os.mkdir(target)
        mount("cgroup", target, h["fstype"], SAFE, h["options"] or None)


def setup_proc(root):
    """A fresh proc; /proc/sys read-only until host.py lifts it after the boot."""
    mount("proc", root + "/proc", "proc", SAFE)
    bind(root + "/proc/sys", root + "/proc/sys", readonly=True)


def main(plan_path):
    with open(plan_path) as f:
        plan = json.load(f)
    root = plan["root"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    bind(root, root)
    bind("/usr", root + "/usr", readonly=True)
    ul = plan["usr_local"]
    mount("overlay", root + "/usr/local", "overlay", 0,
          f"lowerdir=/usr/local,upperdir={ul['upper']},workdir={ul['work']}")
    for b in plan["binds"]:
        bind(b["source"], root + b["target"], readonly=b["readonly"], recursive=True)
    setup_proc(root)
    setup_sys(root, plan["cgroups"])
    setup_dev(root)
    mount("tmpfs", root + "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
    os.chdir(root)
    subprocess.run(["/usr/sbin/pivot_root", ".", "."], check=True)
    if _libc.umount2(b".", MNT_DETACH):
        raise OSError(ctypes.get_errno(), "umount old root")
    os.chdir("/")
    os.execve("/lib/systemd/systemd", ["/lib/systemd/systemd", "--system"], plan["env"])


if __name__ == "__main__":
    main(sys.argv[1])
