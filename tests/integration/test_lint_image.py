"""``lint IMAGE`` on images in a real store (libostree; pulled with skopeo from OCI layouts):
labels come from the image config, the exports from its merged tree (docs/image-authors.md
"Lint your image"). Lint never pulls."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.examples import example_spec
from tests.fixtures.images import ImageSpec, build_oci_layout
from tests.fixtures.realworld import kubelet_exports

pytestmark = [pytest.mark.root]

GOOD_LABELS = {"name": "lint-example", "version": "1", "summary": "lint test image"}


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    path = tmp_path_factory.mktemp("lint") / "layout"
    build_oci_layout(example_spec(labels=GOOD_LABELS, index_html="lint good\n"), path, "good")
    build_oci_layout(example_spec(index_html="lint plain\n"), path, "plain")
    broken = example_spec(labels={"atomic.run": "sometimes", **GOOD_LABELS},
                          index_html="lint broken\n")
    broken.exports["config.json.template"] = broken.exports["config.json.template"].replace(
        '"readonly": true', '"readonly": false')
    build_oci_layout(broken, path, "broken")
    build_oci_layout(ImageSpec(labels={"atomic.type": "system", **GOOD_LABELS}), path, "bare")
    kubelet = ImageSpec(exports=kubelet_exports(), labels={"atomic.type": "system", **GOOD_LABELS},
                        layers=[{"etc/lint-kubelet": "1\n"}])
    build_oci_layout(kubelet, path, "kubelet")
    return path


def lint_json(cli, target):
    r = cli("lint", "--json", target)
    return r.code, json.loads(r.out) if r.out.strip() else None, r.err


def test_stored_example_lints_clean(cli, layout, store_paths):
    assert cli("pull", f"oci:{layout}:good").code == 0
    code, data, err = lint_json(cli, "layout:good")
    assert (code, data["findings"], err) == (0, [], "")
    assert data["source"].startswith("image layout:good (")
    assert {p["name"] for p in data["privileges"]} == {"host-network", "rw-binds"}
    # by ID prefix too; the temporary checkout is gone afterwards
    image_id = data["source"].split("(")[1].rstrip(")")
    assert lint_json(cli, image_id)[0] == 0
    tmp = store_paths.storage / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []


def test_labels_of_the_stored_image_are_checked(cli, layout):
    assert cli("pull", f"oci:{layout}:plain").code == 0
    code, data, _ = lint_json(cli, "layout:plain")
    assert code == 0
    assert [(f["code"], f["where"]) for f in data["findings"]] == [("label-missing", "labels")] * 3
    assert {f["message"].split("'")[1] for f in data["findings"]} == {"name", "version", "summary"}


def test_broken_image_exits_1_with_every_finding(cli, layout):
    assert cli("pull", f"oci:{layout}:broken").code == 0
    code, data, _ = lint_json(cli, "layout:broken")
    assert code == 1 and data["errors"] == 1
    assert [(f["severity"], f["code"]) for f in data["findings"]] == [
        ("error", "config-invalid"), ("warning", "label-invalid")]
    r = cli("lint", "layout:broken")
    assert r.code == 1 and "config-invalid" in r.out and "1 error(s), 1 warning(s)" in r.out


def test_image_without_exports_and_a_privileged_one(cli, layout):
    assert cli("pull", f"oci:{layout}:bare").code == 0
    code, data, _ = lint_json(cli, "layout:bare")
    assert (code, [f["code"] for f in data["findings"]]) == (0, ["exports-missing"])
    assert cli("pull", f"oci:{layout}:kubelet").code == 0
    code, data, _ = lint_json(cli, "layout:kubelet")
    assert code == 0
    assert sorted(f["code"] for f in data["findings"]) == [
        "privilege-needs-allow", "privilege-needs-allow", "variable-no-default"]
    assert {p["name"] for p in data["privileges"] if p["dangerous"]} == {"capabilities",
                                                                        "host-namespaces"}


def test_lint_never_pulls(cli, layout):
    r = cli("lint", f"oci:{layout}:good")
    assert r.code == 1 and r.out == ""
    assert r.err.strip().splitlines() == [
        f"error: image oci:{layout}:good not found (lint never pulls: `syscontainers pull` it "
        "first, or give a directory)"]


def test_lint_and_install_agree(cli, layout):
    """The error lint reports is the one install stops at (the same check): nothing is
    installed and the line is lint's message."""
    assert cli("pull", f"oci:{layout}:broken").code == 0
    _, data, _ = lint_json(cli, "layout:broken")
    r = cli("install", "--display", "--name", "lint-agree", "layout:broken")
    assert r.code == 1
    assert data["findings"][0]["message"].split(": ", 1)[1] in r.err
