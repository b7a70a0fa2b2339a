"""update of a running service on the real systemd test host: a unit that comes out the same
for the new version is neither rewritten nor reloaded, and the new version runs; a unit that
names the deployment directory ($DESTDIR) changes, so that update reloads (docs/operations.md,
"When update reloads systemd")."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.fixtures.examples import SERVICE_TEMPLATE, example_spec
from tests.fixtures.images import build_oci_layout
from tests.integration.sc_host import CHECKOUTS, ScHost, free_port, http_get

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

# the example's unit with the NAME link for the working directory: the same for every version
LINK_TEMPLATE = SERVICE_TEMPLATE.replace("WorkingDirectory=$DESTDIR",
                                         f"WorkingDirectory={CHECKOUTS}/$NAME")


def _push(registry, tmp_path, tag: str, page: str, template: str | None, repo: str) -> str:
    spec = example_spec(index_html=page)
    if template is not None:
        spec = replace(spec, exports={**spec.exports, "service.template": template})
    layout = build_oci_layout(spec, tmp_path / f"{tag}-{page.strip()}", tag).layout
    return registry.push(layout, tag, repo)


def _need_reload(sc: ScHost, name: str) -> str:
    return sc.host.run("systemctl", "show", "-p", "NeedDaemonReload", "--value",
                       f"{name}.service").stdout.strip()


@pytest.mark.parametrize("template, reloads", [(LINK_TEMPLATE, False), (None, True)],
                         ids=["unit-unchanged", "unit-names-destdir"])
def test_update_reloads_systemd_only_for_a_changed_unit(sc, registry, tmp_path, testhost_units,
                                                         template, reloads):
    name = f"rel{'d' if reloads else 'k'}{free_port()}"
    port = str(free_port())
    testhost_units.append(f"{name}.service")
    repo = f"reload/{name}"
    ref = _push(registry, tmp_path, "v1", f"{name} v1\n", template, repo)
    sc.ok("install", "--name", name, "--set", f"PORT={port}", ref)
    try:
        sc.ok("start", name)
        assert http_get(int(port)) == f"{name} v1\n"
        unit = sc.path(f"/etc/systemd/system/{name}.service")
        text, mtime = unit.read_text(), unit.stat().st_mtime_ns
        assert _push(registry, tmp_path, "v1", f"{name} v2\n", template, repo) == ref  # tag moved
        r = sc.ok("--log-level", "debug", "update", name)
        assert f"updated {name}" in r.out
        assert http_get(int(port)) == f"{name} v2\n"          # the new version runs
        assert sc.status(name) == "running"
        assert ("systemctl daemon-reload" in r.err) is reloads, r.err
        # the registry is asked for the manifest once: the pull adopts the check's answer
        # (Source.adopt), pinned to its digest
        asked = [ln for ln in r.err.splitlines() if ln.startswith("+ skopeo inspect --raw")]
        assert len(asked) == 1 and asked[0].split()[-1].startswith("docker://"), asked
        copies = [ln for ln in r.err.splitlines() if ln.startswith("+ skopeo") and " copy " in ln]
        assert len(copies) == 1 and "@sha256:" in copies[0], copies
        assert (unit.read_text() == text) is not reloads
        assert (unit.stat().st_mtime_ns == mtime) is not reloads
        assert _need_reload(sc, name) == "no"
        assert sc.host.run("systemctl", "is-enabled", f"{name}.service").stdout.strip() == "enabled"
        # and back: rollback takes the same way
        sc.ok("rollback", name)
        assert http_get(int(port)) == f"{name} v1\n"
        assert _need_reload(sc, name) == "no"
    finally:
        sc.sc("uninstall", name)
