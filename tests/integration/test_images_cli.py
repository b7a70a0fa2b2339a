"""The pull and images verbs through the CLI (in-process), against a real store and registry."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.examples import example_spec
from tests.fixtures.images import ImageSpec, build_oci_layout, whiteout

pytestmark = [pytest.mark.registry, pytest.mark.root]


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "layout"
    build_oci_layout(example_spec(required=("MESSAGE",), labels={"tier": "web"}), path, "web")
    build_oci_layout(ImageSpec(labels={"plain": "yes"}), path, "plain")
    return path


def test_pull_prints_the_stored_name_then_skips(cli, layout):
    r = cli("pull", f"oci:{layout}:web")
    assert r.code == 0, r.err
    assert "layout:web" in r.out
    r = cli("pull", f"oci:{layout}:web")
    assert r.code == 0 and "already present" in r.out
    r = cli("pull", "--quiet", f"oci:{layout}:web")
    assert (r.code, r.out) == (0, "layout:web\n")


def test_list_inspect_tag_delete(cli, layout):
    assert cli("pull", f"oci:{layout}:web").code == 0
    assert cli("pull", f"oci:{layout}:plain").code == 0
    listed = json.loads(cli("images", "list", "--json").out)
    by_name = {n: i for i in listed for n in i["names"]}
    web = by_name["layout:web"]
    assert len(web["id"]) == 64 and web["type"] == "system"
    assert web["labels"]["tier"] == "web" and web["virtual_size"] > 500_000
    table = cli("images", "list").out.splitlines()
    assert table[0].split()[:3] == ["ID", "NAME", "CREATED"]
    assert any(line.startswith(web["id"][:12]) and "layout:web" in line for line in table[1:])

    r = cli("images", "inspect", "layout:web")
    assert r.code == 0 and "tier=web" in r.out and web["id"] in r.out
    inspected = json.loads(cli("images", "inspect", "--json", web["id"][:10]).out)
    assert inspected["config"]["config"]["Labels"]["tier"] == "web"
    assert len(inspected["layers"]) == 3

    assert cli("images", "tag", "layout:web", "example.com/web/server:2").code == 0
    names = {n for i in json.loads(cli("images", "list", "--json").out) for n in i["names"]}
    assert {"layout:web", "example.com/web/server:2", "layout:plain"} <= names

    r = cli("images", "delete", web["id"][:12])            # an ID prefix: every name goes
    assert r.code == 0 and "layout:web" in r.out
    names = {n for i in json.loads(cli("images", "list", "--json").out) for n in i["names"]}
    assert names == {"layout:plain"}


def test_errors_are_one_line(cli, layout, registry, tmp_path):
    for args, fragment in ((("pull", f"oci:{tmp_path}/nope:x"), "no such file"),
                           (("pull", f"http:{registry.host}/cli/none:1"), "not found in the registry"),
                           (("pull", "127.0.0.1:1/x/y:1", "--tls-verify=false"),
                            "cannot reach registry 127.0.0.1:1: connection refused"),
                           (("pull", "ftp:x/y"), "unknown transport"),
                           (("images", "inspect", "nothing:here"), "error: image nothing:here not found"),
                           (("images", "delete", "nothing:here"), "error: image nothing:here not found")):
        r = cli(*args)
        assert r.code == 1, args
        lines = r.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], (args, r.err)
        if fragment.startswith("error: "):
            assert lines[0] == fragment, (args, r.err)


def test_short_name_warns(cli, layout):
    """Hermetic: the short name's default-registry image is already stored, so nothing is
    fetched (no test may reach docker.io)."""
    assert cli("pull", f"oci:{layout}:web").code == 0
    assert cli("images", "tag", "layout:web", "docker.io/library/sc-short-name:latest").code == 0
    r = cli("pull", "sc-short-name")
    assert r.code == 0, r.err
    assert r.err == ("warning: sc-short-name names no registry and registries.conf has no alias "
                     "or unqualified-search registry for it: docker.io was used\n")
    assert "Image docker.io/library/sc-short-name:latest is already present" in r.out


def test_bad_credentials_one_line(cli, auth_registry, layout):
    auth_registry.push(layout, "plain", "cli/private")
    r = cli("pull", "--src-creds", "alice:wrong", f"http:{auth_registry.host}/cli/private:plain")
    assert r.code == 1
    assert r.err.strip().splitlines() == [
        f"error: access to http:{auth_registry.host}/cli/private:plain denied by the registry: "
        "check the credentials (--src-creds, or the containers auth file)"]
    r = cli("pull", "-q", "--src-creds", "alice:pw-7c41e9d2", f"http:{auth_registry.host}/cli/private:plain")
    assert (r.code, r.out.strip()) == (0, f"{auth_registry.host}/cli/private:plain")


def test_info_lists_defaults_and_required(cli, layout):
    assert cli("pull", f"oci:{layout}:web").code == 0
    data = json.loads(cli("images", "info", "--json", "layout:web").out)
    assert data["required"] == ["MESSAGE"]
    assert data["defaults"]["PORT"] == "8080"
    # pure data (docs/json.md): the OS's variables are listed, not given a display text
    assert "STATE_DIRECTORY" in data["set_by_os"] and "STATE_DIRECTORY" not in data["defaults"]
    forced = {"NAME", "DESTDIR", "EXEC_START", "EXEC_STOP", "PIDFILE"} - {"PIDFILE"}
    assert not forced & set(data["defaults"]) and not forced & set(data["required"])
    assert set(data["templates"]) == {"config.json.template", "service.template", "tmpfiles.template"}
    r = cli("images", "info", "layout:web")
    assert "must be set with --set" in r.out and "MESSAGE" in r.out and "PORT = 8080" in r.out


def test_info_honours_whiteouts(cli, tmp_path):
    """A template a later layer deletes does not count."""
    layout = tmp_path / "wh"
    build_oci_layout(ImageSpec(layers=[{"exports/extra.template": "${GONE} $KEPT"},
                                       whiteout("exports/extra.template")],
                               exports={"other.template": "$KEPT $$NOT_A_VAR"}), layout, "c")
    assert cli("pull", f"oci:{layout}:c").code == 0
    data = json.loads(cli("images", "info", "--json", "wh:c").out)
    assert data["required"] == ["KEPT"]
    assert data["templates"] == {"other.template": ["KEPT"]}


def test_verify_reports_tampered_files(cli, layout, store_paths):
    assert cli("pull", f"oci:{layout}:web").code == 0
    r = cli("images", "verify", "layout:web")
    assert r.code == 0, r.out + r.err
    # tamper with the object holding /etc/example-version ("1\n") in the bare repo
    hits = [p for p in (store_paths.repo / "objects").rglob("*.file")
            if p.stat().st_size == 2 and p.read_bytes() == b"1\n"]
    assert hits, "object of etc/example-version not found"
    with open(hits[0], "r+b") as f:
        f.write(b"2\n")
    r = cli("images", "verify", "layout:web")
    assert r.code == 1
    assert "etc/example-version" in r.out


def test_prune_dry_run_then_real(cli, layout):
    assert cli("pull", f"oci:{layout}:web").code == 0
    assert cli("pull", f"oci:{layout}:plain").code == 0
    assert cli("images", "delete", "layout:web").code == 0
    dry = cli("images", "prune", "--dry-run")
    assert dry.code == 0 and "Would reclaim" in dry.out and "Would remove" in dry.out
    real = cli("images", "prune")
    assert real.code == 0 and "Reclaimed" in real.out
    assert cli("images", "verify", "layout:plain").code == 0      # the shared base survived
    again = cli("images", "prune", "--dry-run")
    assert "Would remove" not in again.out


# --- checks on what the operator asks (docs/operations.md) --------------------------------

def _fake_installed(store_paths, name: str, image: dict, index: int = 0) -> None:
    """A container's on-disk state as install leaves it (deployment dir with its info file,
    the NAME link): what images delete looks at (no systemd needed for that)."""
    from syscontainers.deploy import deployment as dl

    dep = dl.deployment(store_paths, name, index)
    dep.path.mkdir(parents=True)
    dep.info_path.write_text(dl.InstallInfo(image=image["names"][0], revision=image["id"],
                                            ostree_commit="0" * 64, created=1, values={}).to_json())
    dl.switch_link(store_paths, name, dep)


def _images(cli, *flags) -> list[dict]:
    return json.loads(cli("images", "list", "--json", *flags).out)


def test_delete_refuses_an_image_an_installed_container_uses(cli, layout, store_paths):
    assert cli("pull", f"oci:{layout}:web").code == 0
    [web] = _images(cli)
    _fake_installed(store_paths, "web1", web, index=1)     # used by its NAME.1 deployment
    for what in (web["id"][:12], "layout:web"):
        r = cli("images", "delete", what)
        assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
        assert "used by the installed container(s) web1 (web1.1)" in r.err and "--force" in r.err
    assert [i["names"] for i in _images(cli)] == [["layout:web"]]
    # another name of it may go; the one the container was installed from may not
    assert cli("images", "tag", "layout:web", "example.com/alias:1").code == 0
    assert cli("images", "delete", "example.com/alias:1").code == 0
    assert cli("images", "delete", "layout:web").code == 1
    r = cli("images", "delete", "--force", "layout:web")
    assert r.code == 0 and "Deleted layout:web" in r.out
    assert _images(cli) == []
    # its tree stays for the container: listed as an untagged image, kept by prune
    assert [i["id"] for i in _images(cli, "--all") if i["kind"] == "image"] == [web["id"]]


def test_an_ambiguous_id_prefix_is_an_error_listing_the_images(cli, tmp_path):
    by_first: dict[str, list[str]] = {}
    n = 0
    while not any(len(v) > 1 for v in by_first.values()):
        build_oci_layout(ImageSpec(layers=[{"n": str(n)}]), tmp_path / "amb", f"i{n}")
        assert cli("pull", f"oci:{tmp_path / 'amb'}:i{n}").code == 0
        n += 1
        by_first = {}
        for image in _images(cli):
            by_first.setdefault(image["id"][0], []).append(image)
    prefix, clash = next((k, v) for k, v in by_first.items() if len(v) > 1)
    for verb in (("images", "delete"), ("images", "inspect"), ("images", "tag"),
                 ("images", "info"), ("images", "verify")):
        args = (*verb, prefix) + (("example.com/x:1",) if verb[1] == "tag" else ())
        r = cli(*args)
        assert r.code == 1 and len(r.err.strip().splitlines()) == 1, (verb, r.err)
        assert f"the ID prefix '{prefix}' matches {len(clash)} images" in r.err
        for image in clash:
            assert f"{image['id'][:12]} ({image['names'][0]})" in r.err
    assert len(_images(cli)) == n                        # nothing was deleted
    assert cli("images", "delete", clash[0]["id"][:20]).code == 0
    assert len(_images(cli)) == n - 1


def test_list_all_shows_untagged_layer_and_config_refs(cli, layout):
    assert cli("pull", f"oci:{layout}:web").code == 0
    [web] = _images(cli)
    every = _images(cli, "--all")
    blobs = [i for i in every if i["kind"] != "image"]
    inspected = json.loads(cli("images", "inspect", "--json", "layout:web").out)
    layer_ids = {layer["digest"][7:] for layer in inspected["layers"]}
    assert {b["id"] for b in blobs if b["kind"] == "layer"} == layer_ids
    assert [b["id"] for b in blobs if b["kind"] == "config"] == [inspected["manifest"]["config"]["digest"][7:]]
    assert all(b["names"] == [] and b["virtual_size"] > 0 for b in blobs)
    assert [i["id"] for i in every if i["kind"] == "image"] == [web["id"]]
    table = cli("images", "list", "--all").out
    assert table.count("<none> (layer)") == len(layer_ids) and "<none> (config)" in table
    assert "<none>" not in cli("images", "list").out


def test_set_of_a_variable_no_template_uses_is_refused(cli, layout, store_paths):
    r = cli("install", "--name", "typo1", "--set", "MESAGE=hi", "--set", "PORT=1", f"oci:{layout}:web")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r.err
    assert "--set MESAGE: no template of image layout:web uses it" in r.err
    assert "its variables: MESSAGE, PIDFILE, PORT, STATE_DIRECTORY" in r.err
    assert "--force" in r.err
    assert not any(p.name.startswith(("typo1", ".typo1")) for p in store_paths.checkouts.iterdir())


def test_install_with_an_empty_name_is_an_error(cli, layout):
    r = cli("install", "--name=", f"oci:{layout}:web")
    assert r.code == 2 and r.err.strip() == "error: container name is empty"


def test_info_and_set_check_see_host_file_templates_and_renames(cli, tmp_path, store_paths):
    """Variables of installedFilesTemplate files and renameFiles paths are the image's too:
    --set of them is no typo."""
    from syscontainers.errors import UsageError
    from syscontainers.images.store import Store
    from syscontainers.deploy.variables import check_set_names, image_variables

    manifest = {"installedFilesTemplate": ["/etc/app.conf"],
                "renameFiles": {"/etc/app.conf": "/etc/${CONFNAME}.conf"},
                "defaultValues": {"CONFNAME": "app"}}
    build_oci_layout(ImageSpec(exports={"manifest.json": json.dumps(manifest),
                                        "hostfs/etc/app.conf": "port=$HOSTPORT\n"}),
                     tmp_path / "hf", "t")
    assert cli("pull", f"oci:{tmp_path / 'hf'}:t").code == 0
    data = json.loads(cli("images", "info", "--json", "hf:t").out)
    assert data["required"] == ["HOSTPORT"] and data["defaults"] == {"CONFNAME": "app"}
    assert data["templates"] == {"exports/hostfs/etc/app.conf": ["HOSTPORT"],
                                 "manifest.json renameFiles": ["CONFNAME"]}
    store = Store(store_paths)
    found = image_variables(store, store.resolve("hf:t"))
    check_set_names(found, {"HOSTPORT": "1", "CONFNAME": "x", "RUN_DIRECTORY": "/r"}, "hf:t")
    with pytest.raises(UsageError, match=r"--set HOSTPROT: .*\(its variables: CONFNAME, HOSTPORT\)"):
        check_set_names(found, {"HOSTPROT": "1"}, "hf:t")


def test_inspect_shows_the_privileges_installing_would_ask_for(cli, store_paths, tmp_path):
    from dataclasses import replace

    from tests.fixtures.examples import config_template
    cfg = json.loads(config_template(("MESSAGE",)))
    cfg["hooks"] = {"prestart": [{"path": "/usr/libexec/hook"}]}
    spec = example_spec(required=("MESSAGE",))
    spec = replace(spec, exports={**spec.exports, "config.json.template": json.dumps(cfg)})
    build_oci_layout(spec, tmp_path / "layout", "hooked")
    assert cli("pull", f"oci:{tmp_path / 'layout'}:hooked").code == 0
    r = cli("images", "inspect", "layout:hooked")
    assert r.code == 0, r.err
    assert "Privileges: (with MESSAGE empty" in r.out
    assert "  hooks: runs as the host's root at start/stop: /usr/libexec/hook [needs --allow]" in r.out
    assert "  host-network: shares the host's network namespace" in r.out
    data = json.loads(cli("images", "inspect", "--json", "layout:hooked").out)
    assert {"name": "hooks", "detail": "runs as the host's root at start/stop: /usr/libexec/hook",
            "dangerous": True} in data["privileges"]
    assert data["host-cannot-grant"] == []
    assert [p.name for p in store_paths.checkouts.iterdir() if "inspect-" in p.name] == []


def test_unknown_config_key_is_an_error_not_a_default(cli, tmp_path, monkeypatch):
    """docs/operations.md: a typo in the config file must not fall back to a default path."""
    conf = tmp_path / "syscontainers.toml"
    conf.write_text('checkout-path = "/srv/elsewhere"\n')
    monkeypatch.setenv("SYSCONTAINERS_CONFIG", str(conf))
    r = cli("images", "list")
    assert r.code == 1 and r.out == ""
    assert r.err == (f"error: unknown key 'checkout-path' in config file {conf} (known: "
                     "checkout_path, ostree_repository, runtime, default_storage, registries_d)\n")


def test_tests_are_hermetic(cli):
    """tests/conftest.py sends any request leaving this machine to a closed port."""
    r = cli("pull", "docker.io/library/busybox:latest")
    assert r.code == 1 and r.err == "error: cannot reach registry 127.0.0.1:9: connection refused\n"


def test_a_damaged_repository_is_one_line_not_an_internal_error(cli, layout, store_paths):
    """An object lost from the repository (a disk error, a cleanup by hand): the verbs that read
    it say in one line that the repository is damaged, through the store's Repo wrapper
    (docs/architecture.md, "Store seam"), never as an internal error or a traceback."""
    from syscontainers.images.store import Store

    assert cli("pull", f"oci:{layout}:plain").code == 0
    store = Store(store_paths)
    image = store.resolve("layout:plain")
    repo = store._reader()
    tree, _meta = repo.commit_root(repo.layer_commit(image.layers[-1].digest))
    (store_paths.repo / "objects" / tree[:2] / f"{tree[2:]}.dirtree").unlink()
    for args in (("images", "verify", "layout:plain"), ("images", "prune", "--dry-run"),
                 ("images", "prune")):
        r = cli(*args)
        assert r.code not in (0, 70), (args, r.err)
        lines = r.err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.err, (args, r.err)
        assert f"the OSTree repository at {store_paths.repo} is damaged" in lines[0], args
    assert store.find("layout:plain") is not None          # nothing was removed
