# -*- coding: utf-8 -*-
# The options every module of the collection shares (docs/fleet.md "Options").
from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  mode:
    description: C(system) or C(user) mode.
    type: str
    choices: [system, user]
  executable:
    description: Path of the syscontainers CLI on the managed host (default from PATH).
    type: path
"""

    REGISTRY = r"""
options:
  tls_verify:
    description: Verify the registry's TLS certificate.
    type: bool
    default: true
  src_creds:
    description: Registry credentials C(USER:PASSWORD).
    type: str
"""
