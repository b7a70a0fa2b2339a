"""Which trust policy a pull is judged by, when skopeo need not be asked, and how a rejection
reads (docs/operations.md, "Signatures and the trust policy"). The verdicts themselves are
skopeo's: tests/integration/test_signatures.py signs and verifies for real."""

from __future__ import annotations

import json

import pytest

from syscontainers.errors import PolicyRejected, TransportError, UsageError
from syscontainers.images.transport import TrustPolicy, trust_policy
from syscontainers.images.transport import trust as trust_mod
from syscontainers.images.transport.base import oci_view
from syscontainers.images.transport.skopeo_errors import policy_error

ACCEPT = {"type": "insecureAcceptAnything"}


@pytest.fixture
def defaults(tmp_path, monkeypatch):
    """The system and user policy locations moved into tmp_path (neither exists yet)."""
    system, user = tmp_path / "etc/policy.json", tmp_path / "home/policy.json"
    monkeypatch.setattr(trust_mod, "SYSTEM_POLICY", system)
    monkeypatch.setattr(trust_mod, "user_policy", lambda: user)
    return system, user


def write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def test_the_system_policy_is_the_default_and_user_mode_prefers_its_own(defaults):
    system, user = defaults
    write(system, {"default": [ACCEPT]})
    assert trust_policy(None, user_mode=False).path == system
    assert trust_policy(None, user_mode=True).path == system
    write(user, {"default": [ACCEPT]})
    assert trust_policy(None, user_mode=True).path == user
    assert trust_policy(None, user_mode=False).path == system     # root's home is not asked


def test_a_given_policy_wins_and_a_missing_one_is_a_usage_error(defaults, tmp_path):
    given = write(tmp_path / "mine.json", {"default": [{"type": "reject"}]})
    policy = trust_policy(str(given), user_mode=False, registries_d="/srv/regd")
    assert policy == TrustPolicy(given, trust_mod.Path("/srv/regd"))
    assert policy.flags() == ["--policy", str(given), "--registries.d", "/srv/regd"]
    with pytest.raises(UsageError, match=r"^--signature-policy /no/such.json: no such file"):
        trust_policy("/no/such.json", user_mode=False)


def test_no_policy_at_all_is_refused_with_the_fix(defaults):
    with pytest.raises(UsageError) as e:
        trust_policy(None, user_mode=True)
    assert str(e.value).startswith(f"no trust policy: neither {defaults[1]} nor {defaults[0]} exists")
    with pytest.raises(UsageError, match=f"^no trust policy: {defaults[0]} does not exist "):
        trust_policy(None, user_mode=False)
    assert "insecureAcceptAnything" in str(e.value) and "--signature-policy" in str(e.value)


@pytest.mark.parametrize("policy, anything", [
    ({"default": [ACCEPT]}, True),
    ({"default": [ACCEPT], "transports": {"docker": {"r.io": [ACCEPT]}}}, True),
    ({"default": [ACCEPT], "transports": {"docker": {"r.io": [{"type": "reject"}]}}}, False),
    ({"default": [ACCEPT, {"type": "signedBy"}]}, False),
    ({"default": [{"type": "reject"}]}, False),
    ({"transports": {}}, False),
    ([ACCEPT], False),
])
def test_only_a_policy_that_cannot_reject_skips_the_verdict(tmp_path, policy, anything):
    assert TrustPolicy(write(tmp_path / "p.json", policy)).accepts_anything() is anything


def test_an_unreadable_policy_is_left_to_skopeo(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text("{not json")
    assert TrustPolicy(bad).accepts_anything() is False
    assert TrustPolicy(tmp_path / "absent.json").accepts_anything() is False


def _fatal(msg: str) -> str:
    return 'time="t" level=fatal msg="' + msg.replace('"', '\\"') + '"\n'


@pytest.mark.parametrize("msg, reason", [
    ("Source image rejected: A signature was required, but no signature exists",
     "it is not signed"),
    ("Source image rejected: Signature for identity r.io/a:1 is not accepted",
     "its signature is for r.io/a:1, not for this reference"),
    ("Source image rejected: Running image docker://r.io/a:2 is rejected by policy.",
     "the policy rejects every image from this source"),
    ('Source image rejected: Invalid GPG signature: gpgme.Signature{Summary:128, '
     'Fingerprint:"41947F580A2A10FC", Status:gpgme.Error{err:0x9}}',
     "it is signed by key 41947F580A2A10FC, which the policy does not trust"),
    ("Source image rejected: something new", "something new"),
])
def test_a_rejection_is_one_line_naming_image_policy_and_reason(msg, reason):
    err = policy_error(_fatal(msg), "r.io/a:2", "/etc/p.json")
    assert isinstance(err, PolicyRejected)
    assert str(err) == f"image r.io/a:2 rejected by the trust policy /etc/p.json: {reason}"


def test_an_invalid_policy_and_other_failures_are_not_rejections():
    err = policy_error(_fatal('Error loading trust policy: invalid policy in "/p.json": '
                              'Exactly one of keyPath, keyPaths and keyData must be specified'),
                       "a", "/p.json")
    assert not isinstance(err, PolicyRejected) and isinstance(err, TransportError)
    assert str(err) == ("invalid trust policy /p.json: Exactly one of keyPath, keyPaths and "
                        "keyData must be specified")
    err = policy_error(_fatal("reading manifest 1 in h:5/a: manifest unknown"), "a", "/p.json")
    assert str(err) == "image a not found in the registry"


def test_oci_view_keeps_what_a_conversion_keeps():
    docker = {"architecture": "amd64", "os": "linux", "created": "2020-01-01T00:00:00+00:00",
              "container": "abc", "docker_version": "20",
              "config": {"Env": ["A=1"], "Cmd": ["sh"], "Hostname": "x", "Labels": {"l": "1"}},
              "rootfs": {"type": "layers", "diff_ids": ["sha256:1"]},
              "history": [{"created": "2020", "created_by": "RUN x", "empty_layer": False}]}
    oci = {"architecture": "amd64", "os": "linux", "created": "2020-01-01T00:00:00Z",
           "config": {"Env": ["A=1"], "Cmd": ["sh"], "Labels": {"l": "1"}},
           "rootfs": {"type": "layers", "diff_ids": ["sha256:1"]},
           "history": [{"created": "2020-01-01T00:00:00Z", "created_by": "RUN x"}]}
    assert oci_view(json.dumps(docker).encode()) == oci_view(json.dumps(oci).encode())
    oci["config"]["Cmd"] = ["evil"]
    assert oci_view(json.dumps(docker).encode()) != oci_view(json.dumps(oci).encode())
