"""Signatures: pulls judged by the containers trust policy, for real (docs/operations.md,
"Signatures and the trust policy").

Real GPG keys (a throwaway GNUPGHOME), ``skopeo copy --sign-by`` into a real registry on
127.0.0.1, lookaside signatures served over HTTP on 127.0.0.1, a ``signedBy`` policy, and
pulls into a real OSTree store. A refused image leaves nothing: no image ref, no layer, no
work dir, no blob.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess

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
    try:
        yield ring, trusted, other, pubkey
    finally:
        ring.close()


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


# --- on the systemd test host, through the CLI -------------------------------------------

@pytest.fixture
def host_trust(sc, signed, keys, tmp_path):
    """The policy, its key and a registries.d inside the test host (in a directory of this
    test, never the test host's /etc/containers), and a config file naming that
    registries.d: the environment every command of the test gets."""
    repo, regd, _, _ = signed
    inside = f"/root/sigs-{tmp_path.name}"
    sc.host.run("mkdir", "-p", f"{inside}/registries.d")
    (sc.path(f"{inside}/registries.d") / "test-signatures.yaml").write_text(
        (regd / "test-signatures.yaml").read_text())
    sc.path(f"{inside}/trusted.gpg").write_bytes(keys[3].read_bytes())
    host_reg = repo.split("/", 1)[0]
    signed_only_policy(sc.path(f"{inside}/policy.json"), host_reg, f"{inside}/trusted.gpg")
    sc.path(f"{inside}/config.toml").write_text(f'registries_d = "{inside}/registries.d"\n')
    try:
        yield f"{inside}/policy.json", {"SYSCONTAINERS_CONFIG": f"{inside}/config.toml"}
    finally:
        sc.host.run("rm", "-rf", inside)


@pytest.mark.systemd
def test_install_and_update_on_a_host_accept_only_signed_images(sc, signed, keys, host_trust,
                                                               testhost_units, tmp_path):
    """install --signature-policy: signed installs, unsigned is refused (nothing of it on
    the host); the policy is recorded, so a plain `update` refuses an unsigned new version -
    also once that version is in the store (pulled under the host's permissive policy) - and
    the old version keeps running; a signed new version then updates."""
    from tests.fixtures.examples import example_spec
    from tests.integration.sc_host import CHECKOUTS, free_port, http_get

    repo, regd, _, _ = signed
    ring, trusted = keys[0], keys[1]
    policy, env = host_trust
    own = {"org.example.test": f"signatures-{tmp_path.name}"}
    layouts = {v: build_oci_layout(example_spec(index_html=f"signed {v}\n", labels=own),
                                   tmp_path / v, v) for v in ("v1", "v2")}
    web = f"{repo}-web-{tmp_path.name[-8:].lower().strip('_')}"
    push(layouts["v1"].layout, "v1", f"{web}:cur", regd, ring, trusted)
    push(layouts["v2"].layout, "v2", f"{web}:unsigned", regd)
    port = free_port()
    testhost_units.append("sig1.service")
    try:
        sc.ok("install", "--name", "sig1", "--set", f"PORT={port}", "--signature-policy", policy,
              f"{web}:cur", env=env)
        record = json.loads(sc.path(CHECKOUTS / "sig1.0/info").read_text())
        assert record["source-signature-policy"] == policy
        sc.ok("start", "sig1")
        assert http_get(port) == "signed v1\n"

        refused = [f"error: image {web}:unsigned rejected by the trust policy {policy}: "
                   f"it is not signed"]
        for verb in (("install", "--name", "sig2"), ("pull",), ("run", "--name", "sig2")):
            r = sc.sc(*verb, "--signature-policy", policy, f"{web}:unsigned", env=env)
            assert (r.code, r.out, r.err.strip().splitlines()) == (1, "", refused), verb
        assert sc.traces("sig2") == [] and layouts["v2"].id not in sc.ok("images", "list", "--json").out

        push(layouts["v2"].layout, "v2", f"{web}:cur", regd)          # unsigned v2 takes the tag
        for attempt in ("asked", "stored"):
            r = sc.sc("update", "sig1", env=env)
            assert r.code == 1 and "rejected by the trust policy" in r.err, (attempt, r.text)
            assert f"trust policy {policy}: it is not signed" in r.err
            assert not sc.exists(CHECKOUTS / "sig1.1") and http_get(port) == "signed v1\n"
            assert sc.status("sig1") == "running"
            # the host's own policy accepts anything: pulled so, v2 is in the store by digest
            sc.ok("pull", "--update", f"{web}:cur", env=env)
            assert layouts["v2"].id in sc.ok("images", "list", "--json").out

        push(layouts["v2"].layout, "v2", f"{web}:cur", regd, ring, trusted)   # now signed
        r = sc.ok("update", "sig1", env=env)
        assert f"-> {layouts['v2'].id[:12]}" in r.out and http_get(port) == "signed v2\n"
        record = json.loads(sc.path(CHECKOUTS / "sig1.1/info").read_text())
        assert record["source-signature-policy"] == policy        # carried to the update
    finally:
        sc.sc("uninstall", "sig1")
        sc.sc("uninstall", "sig2")


def test_a_tag_that_moves_between_manifest_and_verdict_is_refused(signed, tmp_path):
    """The manifest read first is v2's; the tag then names v1 (signed), which skopeo
    accepts: the verified image is not the one the manifest names, so nothing goes on."""
    from syscontainers.errors import BadImage
    from syscontainers.images.reference import parse_reference
    from syscontainers.images.transport import SourceOptions, TrustPolicy, open_source

    repo, regd, policy, _ = signed
    options = SourceOptions(tls_verify=False, policy=TrustPolicy(policy, regd))
    v2 = open_source(parse_reference(f"http:{repo}:unsigned"), options, tmp_path).manifest()
    source = open_source(parse_reference(f"http:{repo}:v1"), options, tmp_path)
    source.verify(source.manifest(), tmp_path)          # the same image: accepted
    with pytest.raises(BadImage, match=rf"^http:{repo}:v1 changed while it was verified"):
        source.verify(v2, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["oci", "oci-archive", "docker-archive"])
def test_images_from_files_are_judged_by_their_transport_scope(signed, store_paths, tmp_path,
                                                              kind):
    """The signed-only policy says nothing about files (its default accepts them): a layout
    or archive pulls (skopeo's judging copy of it is the image the manifest names, a docker
    archive's converted one included); a policy rejecting that transport refuses it."""
    import json as _json

    from tests.fixtures.images import export_docker_archive, export_oci_archive

    _, _, policy, layouts = signed
    built = layouts["v3"]
    ref = {"oci": f"oci:{built.layout}:v3",
           "oci-archive": f"oci-archive:{export_oci_archive(built.layout, tmp_path / 'a.tar')}:v3",
           "docker-archive": "docker-archive:" + str(export_docker_archive(
               built, tmp_path / "d.tar", ["files/sig:v3"]))}[kind]
    result = pull(Store(store_paths), ref, store_paths, PullOptions(signature_policy=str(policy)))
    assert result.image.labels["sig-test"] == "v3"
    strict = tmp_path / "strict.json"
    strict.write_text(_json.dumps({"default": [{"type": "insecureAcceptAnything"}],
                                   "transports": {kind: {"": [{"type": "reject"}]}}}))
    fresh = dataclasses.replace(store_paths, checkouts=tmp_path / "other",
                                repo=tmp_path / "other/.storage/ostree")
    with pytest.raises(PolicyRejected, match="the policy rejects every image from this source"):
        pull(Store(fresh), ref, fresh, PullOptions(signature_policy=str(strict)))
    assert nothing_left(fresh) == []


def test_a_schema1_image_is_judged_and_pulled(signed, registry, store_paths, tmp_path):
    """Docker schema 1 (sizes unknown, converted by skopeo): the judging copy fetches its
    layers, and the image it judged is the one the manifest names."""
    import json as _json

    _, _, _, layouts = signed
    ref = registry.push(layouts["v3"].layout, "v3", "sigs/schema1", fmt="v2s1")
    strict = tmp_path / "strict.json"     # cannot reject docker images, yet is no accept-all
    strict.write_text(_json.dumps({"default": [{"type": "insecureAcceptAnything"}],
                                   "transports": {"oci": {"": [{"type": "reject"}]}}}))
    result = pull(Store(store_paths), f"http:{ref}", store_paths,
                  PullOptions(signature_policy=str(strict)))
    assert result.image.labels["sig-test"] == "v3"
