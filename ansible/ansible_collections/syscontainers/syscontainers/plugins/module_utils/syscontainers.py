# -*- coding: utf-8 -*-
# Copyright: syscontainers contributors
# Apache License 2.0 (see the repository's LICENSE)
"""What the syscontainers modules share: mapping module options to CLI arguments and running
the ``syscontainers`` CLI on the managed host, reading its ``--json`` and exit codes.

The mapping functions are pure (no AnsibleModule) so they are unit tested without a host
(tests/unit/test_ansible_args.py in the repository). How each option maps: docs/fleet.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

# `update --check` exit codes (docs/operations.md, "Updates: what is checked, --check,
# --offline, exit codes")
CHECK_UP_TO_DATE, CHECK_AVAILABLE, CHECK_FAILED = 0, 100, 1

# atomic_container's states and the ones of syscontainers_container they mean
ATOMIC_STATES = {"rollback": "rolled_back"}

# health_* option -> the CLI flag (passed through; docs/fleet.md "Options")
HEALTH_FLAGS = (("health_cmd", "--health-cmd"), ("health_url", "--health-url"),
                ("health_tcp", "--health-tcp"), ("health_interval", "--health-interval"),
                ("health_timeout", "--health-timeout"), ("health_retries", "--health-retries"))


class ArgumentError(ValueError):
    """A module option that cannot be mapped; the message is the module's ``msg``."""


def mode_args(mode):
    """``mode: system|user`` (atomic_container's option) -> the CLI's global flag."""
    if mode in (None, ""):
        return []
    if mode not in ("system", "user"):
        raise ArgumentError("mode must be system or user, not %r" % (mode,))
    return ["--%s" % mode]


def values_dict(values):
    """``values`` as a dict, or as atomic_container's list of ``K=V`` strings -> a dict of
    strings. A list item without ``=`` or with an empty name is an error."""
    if values is None:
        return {}
    if isinstance(values, dict):
        return dict((str(k), _text(v)) for k, v in values.items())
    out = {}
    for item in values:
        name, sep, value = str(item).partition("=")
        if not sep or not name:
            raise ArgumentError("values: expected NAME=VALUE, got %r" % (item,))
        out[name] = value
    return out


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def set_args(values):
    """``--set K=V`` for each value, sorted by name (a stable command line)."""
    args = []
    for name in sorted(values):
        args += ["--set", "%s=%s" % (name, values[name])]
    return args


def secret_args(secrets):
    """``--set-secret NAME`` for each secret value and the stdin that carries the values (one
    line each, in the same order): a secret never appears on a command line."""
    args, lines = [], []
    for name in sorted(secrets or {}):
        value = _text(secrets[name])
        if "\n" in value or "\r" in value:
            raise ArgumentError("secret_values: the value of %s has a line break (not "
                                "supported: each secret is one line of stdin)" % name)
        args += ["--set-secret", name]
        lines.append(value)
    return args, ("\n".join(lines) + "\n") if lines else None


def check_overlap(values, secrets):
    both = sorted(set(values) & set(secrets or {}))
    if both:
        raise ArgumentError("%s given in both values and secret_values" % ", ".join(both))


def health_args(params):
    args = []
    for option, flag in HEALTH_FLAGS:
        if params.get(option) is not None:
            args += [flag, _text(params[option])]
    return args


def auto_update_args(params):
    value = params.get("auto_update")
    return [] if value is None else ["--auto-update=%s" % value]


def registry_args(params):
    """--tls-verify and --src-creds (the credentials are no_log in the module)."""
    args = []
    if params.get("tls_verify") is False:
        args += ["--tls-verify", "false"]
    if params.get("src_creds"):
        args += ["--src-creds", params["src_creds"]]
    return args


def allow_args(params):
    allowed = params.get("allow") or []
    return ["--allow", ",".join(allowed)] if allowed else []


def install_args(params, values, display=False):
    """``install --name NAME [--set ...] [--set-secret ...] ... IMAGE``."""
    secrets, _ = secret_args(params.get("secret_values"))
    args = ["install", "--name", params["name"]] + set_args(values) + secrets
    args += allow_args(params) + registry_args(params) + health_args(params)
    args += auto_update_args(params)
    if params.get("rootfs"):
        args += ["--remote", params["rootfs"]]
    if params.get("force"):
        args.append("--force")
    if display:
        args.append("--display")
    return args + [params["image"]]


def update_args(params, values, rebase, offline):
    """``update NAME [--rebase IMAGE] [--offline] [--set ...] [--controlled --timeout S]``."""
    secrets, _ = secret_args(params.get("secret_values"))
    args = ["update", params["name"]] + _target(rebase, offline) + set_args(values) + secrets
    args += allow_args(params) + registry_args(params) + health_args(params)
    args += auto_update_args(params)
    if params.get("controlled"):
        args.append("--controlled")
        if params.get("timeout") is not None:
            args += ["--timeout", _text(params["timeout"])]
    if params.get("force"):
        args.append("--force")
    return args


def check_args(params, values, rebase, offline, diff):
    """``update NAME --check --json`` with the same target and values as the update would
    have: the CLI says whether anything would change (and how, with ``--diff``)."""
    secrets, _ = secret_args(params.get("secret_values"))
    args = ["update", params["name"], "--check", "--json"] + _target(rebase, offline)
    args += set_args(values) + secrets + allow_args(params) + registry_args(params)
    if params.get("force"):
        args.append("--force")
    if diff:
        args.append("--diff")
    return args


def _target(rebase, offline):
    args = ["--rebase", rebase] if rebase else []
    return args + (["--offline"] if offline else [])


def normalize_image(ref):
    """The name ``list --json`` shows for ``ref``: ``registry/repo:tag`` (docker.io and
    ``library/`` added for a short name, ``:latest`` for no tag). Other transports
    (``oci:``, ``http:`` ...) are compared as given, minus ``docker://``."""
    if not is_registry_ref(ref):
        return ref
    if ref.startswith("docker://"):
        ref = ref[len("docker://"):]
    head, _, rest = ref.partition("/")
    if not rest or ("." not in head and ":" not in head and head != "localhost"):
        ref = "docker.io/" + (ref if rest else "library/" + ref)
        head, _, rest = ref.partition("/")
    if head == "docker.io" and "/" not in rest:
        ref = "docker.io/library/" + rest
    last = ref.rsplit("/", 1)[-1]
    if "@" not in last and ":" not in last:
        ref += ":latest"
    return ref


def is_registry_ref(ref):
    """A reference the CLI pulls over the registry protocol (not oci:, docker-archive: ...)."""
    if ref.startswith("docker://"):
        return True
    scheme = ref.split("/")[0].split(":")[0]
    return scheme not in ("oci", "oci-archive", "docker-archive", "docker-daemon", "dir", "http",
                          "containers-storage", "ostree")


def error_line(stderr, stdout=""):
    """The CLI's one-line error (``error: ...``), without the prefix; else the last line."""
    lines = [line for line in (stderr or "").splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error: "):
            return line[len("error: "):]
    if lines:
        return lines[-1]
    tail = [line for line in (stdout or "").splitlines() if line.strip()]
    return tail[-1] if tail else "no output"


def needs_update(report):
    """Whether an ``update --check --json`` report means the update would change anything:
    a new image, a changed value, or a changed file (``files`` is [] when nothing would)."""
    return bool(report.get("update_available") or report.get("values") or report.get("files"))


def plan(state, row, image, values_given, latest_requested=False, auto_update=None):
    """What the container module does, from the state asked and the installed row (or None).

    Returns a tuple of steps among ``install``, ``check-update`` (then ``update`` if the check
    says so), ``configure`` (the auto-update policy differs from ``auto_update``: stored
    without a redeploy), ``uninstall``, ``rollback``, ``start``, ``stop``; ``start``/``stop``
    are re-judged after an install or update (the CLI restarts a running service on update).
    """
    if state == "absent":
        return ("uninstall",) if row else ()
    if state == "rolled_back":
        return ("rollback",)
    steps = []
    if row is None:
        steps.append("install")
    elif latest_requested or state == "latest" or values_given or (
            image and normalize_image(image) != row.get("image")):
        steps.append("check-update")
    if row is not None and auto_update and row.get("auto_update", "off") != auto_update:
        steps.append("configure")
    if state == "started":
        steps.append("start")
    elif state == "stopped":
        steps.append("stop")
    return tuple(steps)


class Cli:
    """Runs the CLI through ``module.run_command`` (argv list, never a shell)."""

    def __init__(self, module):
        self.module = module
        exe = module.params.get("executable")
        self.exe = exe or module.get_bin_path("syscontainers", required=True)
        try:
            self.globals = mode_args(module.params.get("mode"))
        except ArgumentError as e:
            module.fail_json(msg=str(e))

    def run(self, args, data=None):
        return self.module.run_command([self.exe] + self.globals + list(args), data=data,
                                       binary_data=False)

    def must(self, args, data=None, what=None):
        rc, out, err = self.run(args, data=data)
        if rc != 0:
            self.fail(what or args[0], rc, out, err)
        return out

    def json(self, args, data=None, ok=(0,), what=None):
        rc, out, err = self.run(args, data=data)
        if rc not in ok:
            self.fail(what or args[0], rc, out, err)
        try:
            return rc, json.loads(out)
        except ValueError:
            self.module.fail_json(msg="syscontainers %s --json printed no JSON" % args[0],
                                  rc=rc)

    def fail(self, what, rc, out, err, **extra):
        self.module.fail_json(msg="syscontainers %s failed: %s" % (what, error_line(err, out)),
                              rc=rc, **extra)

    def containers(self):
        return dict((row["name"], row) for row in self.json(["list", "--json"])[1])

    def images(self):
        return [row for row in self.json(["images", "list", "--json"])[1]
                if row.get("kind") == "image"]
