#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: syscontainers contributors
# Apache License 2.0 (see the repository's LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: syscontainers_facts
short_description: Installed system containers, stored images and pending updates as facts
description:
  - Sets the fact C(syscontainers) from the CLI's C(list --json), C(images list --json) and,
    with C(check_updates), C(update --check --all --json).
  - Each container row carries its service status and, where the CLI reports them, its
    health and auto-update setting.
version_added: "0.1.0"
author: syscontainers contributors
options:
  check_updates:
    description: Ask every container's source whether an update is available (manifests only).
    type: bool
    default: false
extends_documentation_fragment:
  - syscontainers.syscontainers.syscontainers
"""

EXAMPLES = r"""
- name: What runs where, and what could be updated
  syscontainers.syscontainers.syscontainers_facts:
    check_updates: true
- ansible.builtin.debug:
    msg: "{{ ansible_facts.syscontainers.pending_updates }}"
"""

RETURN = r"""
ansible_facts:
  description: C(syscontainers) with C(containers) (name -> row), C(images) (list),
    C(updates) (the C(update --check --all) rows) and C(pending_updates) (names).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.syscontainers.syscontainers.plugins.module_utils.syscontainers import (
    CHECK_AVAILABLE, CHECK_FAILED, CHECK_UP_TO_DATE, Cli)


def main():
    module = AnsibleModule(
        argument_spec=dict(check_updates=dict(type="bool", default=False),
                           mode=dict(type="str", choices=["system", "user"]),
                           executable=dict(type="path")),
        supports_check_mode=True)
    cli = Cli(module)
    facts = dict(containers=cli.containers(), images=cli.images())
    if module.params["check_updates"]:
        # exit 1 means a container could not be checked: its row says why ("unchecked")
        _, rows = cli.json(["update", "--check", "--all", "--json"],
                           ok=(CHECK_UP_TO_DATE, CHECK_AVAILABLE, CHECK_FAILED),
                           what="update --check --all")
        facts["updates"] = rows
        facts["pending_updates"] = [r["container"] for r in rows if r.get("update_available")]
    module.exit_json(changed=False, ansible_facts=dict(syscontainers=facts))


if __name__ == "__main__":
    main()
