"""Signatures: pulls judged by the containers trust policy, for real (docs/operations.md,
"Signatures and the trust policy").

Real GPG keys (a throwaway GNUPGHOME), ``skopeo copy --sign-by`` into a real registry on
127.0.0.1, lookaside signatures served over HTTP on 127.0.0.1, a ``signedBy`` policy, and
pulls into a real OSTree store. A refused image leaves nothing: no image ref, no layer, no
work dir, no blob.
"""

from __future__ import annotations

import dataclasses

import pytest

from syscontainers.config import Config
from syscontainers.errors import PolicyRejected, UsageError
from syscontainers.images.pull import PullOptions, pull
from syscontainers.images.store import Store
from tests.fixtures.images import ImageSpec, build_oci_layout
from tests.fixtures.signing import (Keyring, Lookaside, push, retag, signed_only_policy,
                                    write_registries_d)

pytestmark = [pytest.mark.registry, pytest.mark.root]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    ring = Keyring(tmp_path_factory.mktemp("gnupg"))
    trusted = ring.new_key("Trusted Signer <trusted@example.test>")
    other = ring.new_key("Other Signer <other@example.test>")
    pubkey = ring.export(trusted, tmp_path_factory.mktemp("keys") / "trusted.gpg")
    return ring, trusted, other, pubkey


@pytest.fixture(scope="module")
def lookaside(tmp_path_factory):
    server = Lookaside(tmp_path_factory.mktemp("lookaside")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def signed(registry, keys, lookaside, tmp_path_factory):
    """app:v1 signed, app:v1-s2 signed (docker schema 2), app:unsigned, app:other-key, and
    app:moved (the tag points at v1's image, whose signature names app:v1)."""
    ring, trusted, other, pubkey = keys
    root = tmp_path_factory.mktemp("signed-images")
    regd = write_registries_d(root / "registries.d", registry.host, lookaside)
    layouts = {tag: build_oci_layout(ImageSpec(layers=[{"etc/app": "signed\n"}],
                                               labels={"sig-test": tag}), root / tag, tag)
               for tag in ("v1", "v2", "v3")}
    repo = f"{registry.host}/sigs/app"
    push(layouts["v1"].layout, "v1", f"{repo}:v1", regd, ring, trusted)
    push(layouts["v2"].layout, "v2", f"{repo}:unsigned", regd)
    push(layouts["v3"].layout, "v3", f"{repo}:other-key", regd, ring, other)
    retag(f"{repo}:v1", f"{repo}:moved")
    import subprocess
    subprocess.run(["skopeo", "--registries.d", str(regd), "copy", "--quiet", "--format", "v2s2",
                    "--dest-tls-verify=false", "--sign-by", trusted,
                    f"oci:{layouts['v2'].layout}:v2", f"docker://{repo}:v2-s2"],
                   env=ring.env, check=True, capture_output=True)
    policy = signed_only_policy(root / "policy.json", registry.host, pubkey)
    return repo, regd, policy, layouts


def with_registries_d(paths, regd):
    return dataclasses.replace(paths, config=Config(registries_d=str(regd)))


def nothing_left(paths) -> list[str]:
    """What a refused pull must not leave: image refs, layers, work dirs, blobs."""
    store = Store(paths)
    left = [f"image {i.names}" for i in store.images(include_dangling=True)]
    left += [f"blob {b}" for b in store.blob_entries()]
    tmp = paths.storage / "tmp"
    left += [str(p) for p in tmp.iterdir()] if tmp.exists() else []
    if paths.blob_cache.exists():
        left += [str(p) for p in paths.blob_cache.rglob("*") if p.is_file()]
    return left


def test_a_signed_image_is_pulled(signed, store_paths):
    repo, regd, policy, layouts = signed
    paths = with_registries_d(store_paths, regd)
    result = pull(Store(paths), f"http:{repo}:v1", paths,
                  PullOptions(signature_policy=str(policy)))
    assert result.image.id == layouts["v1"].id and not result.skipped


def test_a_signed_docker_schema2_image_is_pulled(signed, store_paths):
    """skopeo converts it to OCI in the verifying copy: the verified image is still the one
    the manifest names (same layers, same config as OCI sees it)."""
    repo, regd, policy, _ = signed
    paths = with_registries_d(store_paths, regd)
    result = pull(Store(paths), f"http:{repo}:v2-s2", paths,
                  PullOptions(signature_policy=str(policy)))
    assert result.image.labels["sig-test"] == "v2"


@pytest.mark.parametrize("tag, reason", [
    ("unsigned", "it is not signed"),
    ("other-key", "it is signed by key {other}, which the policy does not trust"),
    ("moved", "its signature is for {repo}:v1, not for this reference"),
])
def test_a_rejected_image_is_refused_in_one_line_and_nothing_is_imported(
        signed, keys, store_paths, tag, reason):
    repo, regd, policy, _ = signed
    paths = with_registries_d(store_paths, regd)
    with pytest.raises(PolicyRejected) as e:
        pull(Store(paths), f"http:{repo}:{tag}", paths, PullOptions(signature_policy=str(policy)))
    expected = reason.format(other=keys[2], repo=repo)
    assert str(e.value) == f"image http:{repo}:{tag} rejected by the trust policy {policy}: {expected}"
    assert nothing_left(paths) == []


def test_stored_layers_do_not_skip_the_verdict(signed, store_paths, registry):
    """v1 is stored; an unsigned image with the very same layers (only its config differs)
    is still refused, and nothing of it is written."""
    repo, regd, policy, layouts = signed
    paths = with_registries_d(store_paths, regd)
    store = Store(paths)
    pull(store, f"http:{repo}:v1", paths, PullOptions(signature_policy=str(policy)))
    before = (store.images(include_dangling=True), store.blob_entries())
    twin = build_oci_layout(ImageSpec(layers=[{"etc/app": "signed\n"}], labels={"sig-test": "twin"}),
                            paths.storage.parent / "twin", "twin")
    assert [b.digest for b in twin.layers] == [b.digest for b in layouts["v1"].layers]
    push(twin.layout, "twin", f"{repo}:twin", regd)
    with pytest.raises(PolicyRejected, match="it is not signed"):
        pull(store, f"http:{repo}:twin", paths, PullOptions(signature_policy=str(policy)))
    assert (store.images(include_dangling=True), store.blob_entries()) == before


def test_pull_update_of_a_stored_image_is_judged_again(signed, store_paths):
    """The same image, already stored under its name: pull --update still asks the policy
    (here: a stricter one that trusts no key of this registry)."""
    repo, regd, policy, _ = signed
    paths = with_registries_d(store_paths, regd)
    store = Store(paths)
    pull(store, f"http:{repo}:v1", paths, PullOptions(signature_policy=str(policy)))
    reject = policy.parent / "reject.json"
    reject.write_text('{"default": [{"type": "reject"}]}')
    with pytest.raises(PolicyRejected, match="the policy rejects every image from this source"):
        pull(store, f"http:{repo}:v1", paths,
             PullOptions(update=True, signature_policy=str(reject)))


def test_a_missing_policy_file_is_a_usage_error(signed, store_paths, tmp_path):
    repo, regd, _, _ = signed
    with pytest.raises(UsageError, match=r"--signature-policy .*/nope.json: no such file"):
        pull(Store(store_paths), f"http:{repo}:v1", store_paths,
             PullOptions(signature_policy=str(tmp_path / "nope.json")))
    assert nothing_left(store_paths) == []
