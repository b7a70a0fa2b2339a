"""Ansible connection plugin ``testhost``: runs a task's commands inside a systemd test host
(tests/testhost) with ``nsenter -t PID -a``, as ``TestHost.run`` does.

Test-only (docs/fleet.md, "How the tests reach their hosts"): each inventory host names the
test host's systemd PID (``ansible_testhost_pid``) and the machine-side cgroup directories
the command joins first (``ansible_testhost_cgroups``, ``:``-separated), so what a task starts
is accounted to that test host and torn down with it. Files go in and out through the same
``nsenter`` (``cat``), never through the machine's own file system.
"""

from __future__ import annotations

DOCUMENTATION = """
    name: testhost
    short_description: run inside a syscontainers systemd test host (nsenter)
    description:
        - Executes commands in the namespaces of a test host's systemd (PID 1 inside).
    author: syscontainers contributors
    options:
      pid:
        description: The test host's systemd PID on the machine.
        vars:
          - name: ansible_testhost_pid
        required: true
      cgroups:
        description: Machine-side cgroup directories a command joins first, colon-separated.
        default: ""
        vars:
          - name: ansible_testhost_cgroups
      path_extra:
        description: A directory appended to PATH inside (where the syscontainers CLI is).
        default: ""
        env:
          - name: ANSIBLE_TESTHOST_PATH_EXTRA
        vars:
          - name: ansible_testhost_path_extra
"""

import os
import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.plugins.connection import ConnectionBase

INSIDE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "HOME": "/root", "LANG": "C.UTF-8",
              # hermetic, as the suite's OFFLINE_ENV (tests/conftest.py): loopback only
              "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
              "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
              "NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1"}


class Connection(ConnectionBase):
    transport = "testhost"
    has_pipelining = True

    def _connect(self):
        pid = int(self.get_option("pid"))
        if not os.path.exists("/proc/%d" % pid):
            raise AnsibleConnectionFailure("test host PID %d is not running" % pid)
        self._connected = True
        return self

    def _enter_cgroups(self):
        """Between fork and exec: join the test host's cgroups (as TestHost.run does; a
        cgroup2 top with controllers enabled takes no processes, it is skipped)."""
        for d in filter(None, (self.get_option("cgroups") or "").split(":")):
            control = os.path.join(d, "cgroup.subtree_control")
            if os.path.exists(control):
                with open(control) as f:
                    if f.read().strip():
                        continue
            fd = os.open(os.path.join(d, "cgroup.procs"), os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    def _run(self, argv, in_data=None):
        cmd = ["nsenter", "-t", str(self.get_option("pid")), "-a", "-r", "-w", "--"] + argv
        env = dict(INSIDE_ENV)
        if self.get_option("path_extra"):
            env["PATH"] += ":" + self.get_option("path_extra")
        proc = subprocess.run(cmd, input=in_data, capture_output=True, env=env,
                              preexec_fn=self._enter_cgroups, timeout=900)
        return proc.returncode, proc.stdout, proc.stderr

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        self._connect()
        return self._run(["/bin/sh", "-c", cmd], in_data)

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        with open(in_path, "rb") as f:
            data = f.read()
        rc, _, err = self._run(["/bin/sh", "-c", "cat > %s" % shlex.quote(out_path)], data)
        if rc != 0:
            raise AnsibleError("cannot write %s in the test host: %s" % (out_path, err.decode()))

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        rc, out, err = self._run(["cat", in_path])
        if rc != 0:
            raise AnsibleError("cannot read %s in the test host: %s" % (in_path, err.decode()))
        with open(out_path, "wb") as f:
            f.write(out)

    def close(self):
        self._connected = False
