#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: syscontainers contributors
# Apache License 2.0 (see the repository's LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: syscontainers_container
short_description: Install, update, roll back and remove system containers
description:
  - Manages one container installed by the C(syscontainers) CLI on the managed host (an OCI
    image run by runc as a systemd service).
  - Reads the CLI's C(list --json) and C(update --check --json); changes go through
    C(install), C(update), C(rollback), C(start), C(stop) and C(uninstall).
  - Accepts the options of the old C(atomic_container) module where they map (C(name),
    C(image), C(state) including C(rollback), C(mode), C(values) as a list of C(K=V),
    C(rootfs)); C(backend) must be C(ostree).
version_added: "0.1.0"
author: syscontainers contributors
options:
  name:
    description: The container's name (its unit is C(NAME.service)).
    type: str
    required: true
  image:
    description:
      - The image to install, or to switch to (C(update --rebase)) when the installed
        container runs another one. Needed when the container is not installed.
    type: str
  state:
    description:
      - C(present) installed (enabled, not started by this module); C(started) installed and
        running; C(stopped) installed and not running; C(absent) uninstalled; C(latest)
        updated to the newest image of its source; C(rolled_back) switched back to the
        previous deployment (always a change); C(rollback) is atomic_container's name for it.
    type: str
    default: present
    choices: [present, started, stopped, absent, latest, rolled_back, rollback]
  values:
    description:
      - Template values (C(--set NAME=VALUE)); a dict, or a list of C(NAME=VALUE) strings as
        atomic_container took them. Values not given keep what is installed.
    type: raw
  secret_values:
    description:
      - Template values passed with C(--set-secret) (on stdin, never on a command line) and
        never shown in results, logs or diffs.
    type: dict
  controlled:
    description: Updates roll back automatically when the new version does not stay up.
    type: bool
    default: false
  timeout:
    description: Settle time in seconds before a controlled update is judged (C(--timeout)).
    type: float
  health_cmd:
    description: Passed to C(--health-cmd).
    type: str
  health_url:
    description: Passed to C(--health-url).
    type: str
  health_tcp:
    description: Passed to C(--health-tcp).
    type: str
  health_interval:
    description: Passed to C(--health-interval).
    type: str
  health_timeout:
    description: Passed to C(--health-timeout).
    type: str
  health_retries:
    description: Passed to C(--health-retries).
    type: int
  auto_update:
    description: Passed to C(--auto-update=VALUE) on install and update.
    type: str
    choices: [registry, local, "off"]
  allow:
    description: Privileges granted to the image (C(--allow)).
    type: list
    elements: str
  force:
    description: Accept values no template of the image uses (C(--force)).
    type: bool
    default: false
  rootfs:
    description: Use an existing root file system instead of a checkout (C(install --remote)).
    type: str
  mode:
    description: C(system) or C(user) mode (atomic_container's option).
    type: str
    choices: [system, user]
  backend:
    description: Only C(ostree) (atomic_container's option; other backends are refused).
    type: str
    choices: [ostree]
  executable:
    description: Path of the syscontainers CLI on the managed host (default from PATH).
    type: path
notes:
  - Check mode asks C(update --check) (or C(install --display)) and changes nothing.
  - Diff mode shows the unified diff of the rendered unit, tmpfiles file and config.json.
extends_documentation_fragment:
  - syscontainers.syscontainers.syscontainers.registry
"""

EXAMPLES = r"""
- name: Run web 1.0, health-gated updates
  syscontainers.syscontainers.syscontainers_container:
    name: web
    image: registry.example:5000/web:1.0
    state: started
    controlled: true
    values:
      PORT: "8080"
    secret_values:
      TOKEN: "{{ vault_web_token }}"

- name: The same written for atomic_container
  syscontainers.syscontainers.syscontainers_container:
    name: web
    image: registry.example:5000/web:1.0
    state: present
    mode: system
    values: ["PORT=8080"]
"""

RETURN = r"""
container:
  description: The container's row of C(syscontainers list --json) after the task (none if absent).
  returned: always
  type: dict
check:
  description: The C(update --check --json) report the decision was made on.
  returned: when an installed container was checked
  type: dict
actions:
  description: The CLI verbs run (or, in check mode, that would run).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.syscontainers.syscontainers.plugins.module_utils.syscontainers import (
    ATOMIC_STATES, CHECK_AVAILABLE, CHECK_UP_TO_DATE, ArgumentError, Cli, check_args,
    check_overlap, install_args, needs_update, normalize_image, plan, secret_args, update_args,
    values_dict)

ARGS = dict(
    name=dict(type="str", required=True),
    image=dict(type="str"),
    state=dict(type="str", default="present",
               choices=["present", "started", "stopped", "absent", "latest", "rolled_back",
                        "rollback"]),
    values=dict(type="raw"),
    secret_values=dict(type="dict", no_log=True),
    controlled=dict(type="bool", default=False),
    timeout=dict(type="float"),
    health_cmd=dict(type="str"),
    health_url=dict(type="str"),
    health_tcp=dict(type="str"),
    health_interval=dict(type="str"),
    health_timeout=dict(type="str"),
    health_retries=dict(type="int"),
    auto_update=dict(type="str", choices=["registry", "local", "off"]),
    allow=dict(type="list", elements="str"),
    tls_verify=dict(type="bool", default=True),
    src_creds=dict(type="str", no_log=True),
    force=dict(type="bool", default=False),
    rootfs=dict(type="str"),
    mode=dict(type="str", choices=["system", "user"]),
    backend=dict(type="str", choices=["ostree"]),
    executable=dict(type="path"),
)


class Run:
    """One task: the CLI, the options, what was done."""

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.cli = Cli(module)
        self.actions = []
        self.diff = {}
        self.check_report = None
        self.row, self.stale = None, True
        try:
            self.values = values_dict(self.p["values"])
            check_overlap(self.values, self.p["secret_values"])
            _, self.stdin = secret_args(self.p["secret_values"])
        except ArgumentError as e:
            module.fail_json(msg=str(e))

    def current(self):
        """The container's row; listed again only after a verb changed something."""
        if self.stale:
            self.row = self.cli.containers().get(self.p["name"])
            self.stale = False
        return self.row

    def act(self, args, what):
        """Run a changing verb (not in check mode); its failure is the task's ``msg``."""
        self.actions.append(what)
        if self.module.check_mode:
            return
        self.stale = True
        rc, out, err = self.cli.run(args, data=self.stdin if args[0] in ("install", "update")
                                    else None)
        if rc != 0:
            self.cli.fail(what, rc, out, err, actions=self.actions,
                          container=self.cli.containers().get(self.p["name"]))

    def install(self):
        if not self.p["image"]:
            self.module.fail_json(msg="container %s is not installed and no image is given"
                                  % self.p["name"])
        if self.module._diff or self.module.check_mode:
            rc, out, err = self.cli.run(install_args(self.p, self.values, display=True),
                                        data=self.stdin)
            if rc != 0:
                self.cli.fail("install --display", rc, out, err)
            self.diff = {"before": "", "after": out, "after_header": "install %s" % self.p["name"]}
        self.act(install_args(self.p, self.values), "install")

    def check_update(self, row):
        """Ask the CLI what an update would change; update when anything would."""
        p = self.p
        rebase = p["image"] if p["image"] and normalize_image(p["image"]) != row["image"] \
            else None
        offline = p["state"] != "latest" and rebase is None
        rc, report = self.cli.json(check_args(p, self.values, rebase, offline, self.module._diff),
                                   data=self.stdin, ok=(CHECK_UP_TO_DATE, CHECK_AVAILABLE),
                                   what="update --check")
        self.check_report = report
        if not needs_update(report):
            return
        if report.get("needs_allow"):
            self.module.fail_json(msg="the update of %s needs --allow=%s (the allow option)"
                                  % (p["name"], ",".join(report["needs_allow"])), check=report)
        if report.get("diff"):
            self.diff = {"prepared": report["diff"]}
        self.act(update_args(p, self.values, rebase, offline), "update")

    def configure(self):
        """The auto-update policy, when the update (if any) did not already set it."""
        wanted = self.p["auto_update"]
        if self.module.check_mode or (self.current() or {}).get("auto_update") != wanted:
            self.act(["update", self.p["name"], "--auto-update=" + wanted], "configure")

    def service(self, state):
        if self.module.check_mode and self.actions and self.actions[-1] == "install":
            running = False    # would be installed, not started (install enables only)
        else:
            row = self.current() or {}
            running = row.get("status") in ("running", "starting", "restarting")
        if state == "start" and not running:
            self.act(["start", self.p["name"]], "start")
        elif state == "stop" and running:
            self.act(["stop", self.p["name"]], "stop")


def main():
    module = AnsibleModule(argument_spec=ARGS, supports_check_mode=True)
    state = ATOMIC_STATES.get(module.params["state"], module.params["state"])
    run = Run(module)
    name = module.params["name"]
    row = run.current()
    steps = plan(state, row, module.params["image"], bool(run.values or run.stdin),
                 auto_update=module.params.get("auto_update"))
    if state == "rolled_back" and row is None:
        module.fail_json(msg="container %s is not installed: nothing to roll back" % name)
    for step in steps:
        if step == "install":
            run.install()
        elif step == "check-update":
            run.check_update(row)
        elif step == "uninstall":
            run.act(["uninstall", name], "uninstall")
        elif step == "rollback":
            run.act(["rollback", name], "rollback")
        elif step == "configure":
            run.configure()
        else:
            run.service(step)
    # check mode: the row as it is (nothing was changed)
    result = dict(changed=bool(run.actions), actions=run.actions, container=run.current())
    if run.check_report is not None:
        result["check"] = run.check_report
    if module._diff and run.diff:
        result["diff"] = run.diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
