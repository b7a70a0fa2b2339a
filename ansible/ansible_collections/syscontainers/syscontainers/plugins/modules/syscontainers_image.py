#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: syscontainers contributors
# Apache License 2.0 (see the repository's LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: syscontainers_image
short_description: Pull and remove images in the syscontainers store
description:
  - Manages one image in the OSTree store of the C(syscontainers) CLI on the managed host.
  - Reads C(images list --json); changes go through C(pull) and C(images delete).
version_added: "0.1.0"
author: syscontainers contributors
options:
  name:
    description: The image reference (C(registry/repo:tag), or another transport such as C(oci:DIR:TAG)).
    type: str
    required: true
  state:
    description:
      - C(present) pulled once (nothing is done when the store has it); C(pull) and
        C(latest) always ask the source and report a change when the stored image changed;
        C(absent) deleted from the store (refused while a container uses it, unless C(force)).
    type: str
    default: present
    choices: [present, pull, latest, absent]
  force:
    description: With C(absent), delete even an image an installed container uses.
    type: bool
    default: false
notes:
  - In check mode C(latest)/C(pull) of an image already stored cannot know whether the
    source has a newer one without fetching; it reports no change and says so in a warning.
extends_documentation_fragment:
  - syscontainers.syscontainers.syscontainers
  - syscontainers.syscontainers.syscontainers.registry
"""

EXAMPLES = r"""
- name: Stage version 2.0 on every host before the rolling update
  syscontainers.syscontainers.syscontainers_image:
    name: registry.example:5000/web:2.0
    state: present
"""

RETURN = r"""
image:
  description: The image's row of C(images list --json) after the task (none if absent).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.syscontainers.syscontainers.plugins.module_utils.syscontainers import (
    Cli, normalize_image, registry_args)


def find(images, name):
    want = normalize_image(name)
    for row in images:
        if want in row.get("names", []) or name in row.get("names", []):
            return row
    return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "pull", "latest", "absent"]),
            tls_verify=dict(type="bool", default=True),
            src_creds=dict(type="str", no_log=True),
            force=dict(type="bool", default=False),
            mode=dict(type="str", choices=["system", "user"]),
            executable=dict(type="path"),
        ),
        supports_check_mode=True)
    p = module.params
    cli = Cli(module)
    before = find(cli.images(), p["name"])
    changed = False
    if p["state"] == "absent":
        if before is not None:
            changed = True
            if not module.check_mode:
                cli.must(["images", "delete"] + (["--force"] if p["force"] else []) + [p["name"]],
                         what="images delete")
    elif before is None or p["state"] in ("pull", "latest"):
        if module.check_mode:
            changed = before is None
            if before is not None:
                module.warn("check mode: whether %s has a newer image is known only after a pull"
                            % p["name"])
        else:
            cli.must(["pull"] + registry_args(p) + [p["name"]], what="pull")
    after = before if module.check_mode else find(cli.images(), p["name"])
    if not module.check_mode and p["state"] != "absent":
        changed = before is None or (after or {}).get("id") != before.get("id")
    module.exit_json(changed=changed, image=after)


if __name__ == "__main__":
    main()
