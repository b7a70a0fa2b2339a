"""Linux capabilities this process can grant: the value of ALL_PROCESS_CAPABILITIES
(docs/templates.md, "Values").

"All capabilities" means the capabilities in this process's *bounding set* (``CapBnd`` in
/proc/self/status), not every capability the kernel knows (``cap_last_cap``): runc fails with
"unable to apply caps" when a config asks for one the caller cannot grant, which happens on
hosts (and test hosts) whose bounding set was reduced.

Names follow the kernel's numbering (linux/capability.h). Numbers this table does not know yet
(a kernel newer than 6.x) are skipped: runc could not name them either.
"""

from __future__ import annotations

# Index = capability number in the kernel.
CAPABILITY_NAMES: tuple[str, ...] = (
    "CAP_CHOWN",               # 0
    "CAP_DAC_OVERRIDE",        # 1
    "CAP_DAC_READ_SEARCH",     # 2
    "CAP_FOWNER",              # 3
    "CAP_FSETID",              # 4
    "CAP_KILL",                # 5
    "CAP_SETGID",              # 6
    "CAP_SETUID",              # 7
    "CAP_SETPCAP",             # 8
    "CAP_LINUX_IMMUTABLE",     # 9
    "CAP_NET_BIND_SERVICE",    # 10
    "CAP_NET_BROADCAST",       # 11
    "CAP_NET_ADMIN",           # 12
    "CAP_NET_RAW",             # 13
    "CAP_IPC_LOCK",            # 14
    "CAP_IPC_OWNER",           # 15
    "CAP_SYS_MODULE",          # 16
    "CAP_SYS_RAWIO",           # 17
    "CAP_SYS_CHROOT",          # 18
    "CAP_SYS_PTRACE",          # 19
    "CAP_SYS_PACCT",           # 20
    "CAP_SYS_ADMIN",           # 21
    "CAP_SYS_BOOT",            # 22
    "CAP_SYS_NICE",            # 23
    "CAP_SYS_RESOURCE",        # 24
    "CAP_SYS_TIME",            # 25
    "CAP_SYS_TTY_CONFIG",      # 26
    "CAP_MKNOD",               # 27
    "CAP_LEASE",               # 28
    "CAP_AUDIT_WRITE",         # 29
    "CAP_AUDIT_CONTROL",       # 30
    "CAP_SETFCAP",             # 31
    "CAP_MAC_OVERRIDE",        # 32
    "CAP_MAC_ADMIN",           # 33
    "CAP_SYSLOG",              # 34
    "CAP_WAKE_ALARM",          # 35
    "CAP_BLOCK_SUSPEND",       # 36
    "CAP_AUDIT_READ",          # 37
    "CAP_PERFMON",             # 38
    "CAP_BPF",                 # 39
    "CAP_CHECKPOINT_RESTORE",  # 40
)


def names_from_mask(mask: int) -> list[str]:
    """Names of the capabilities whose bit is set in ``mask``, in kernel order."""
    return [name for bit, name in enumerate(CAPABILITY_NAMES) if mask >> bit & 1]


def bounding_set(status_text: str | None = None) -> list[str]:
    """This process's bounding set as capability names, in kernel order.

    ``status_text`` is the content of /proc/self/status (read when None); tests pass their own.
    """
    if status_text is None:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            status_text = f.read()
    for line in status_text.splitlines():
        if line.startswith("CapBnd:"):
            return names_from_mask(int(line.split(":", 1)[1].strip(), 16))
    return []  # no CapBnd line: not Linux, or a very old kernel; grant nothing extra


def all_process_capabilities(status_text: str | None = None) -> str:
    """The ALL_PROCESS_CAPABILITIES value: quoted JSON strings joined by ``,\\n``.

    Meant to be injected inside a JSON list in config.json.template, e.g.
    ``"bounding": [ $ALL_PROCESS_CAPABILITIES ]``.
    """
    return ",\n".join(f'"{name}"' for name in bounding_set(status_text))
