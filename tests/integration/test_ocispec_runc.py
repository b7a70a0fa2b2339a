"""Rendered config.json files really run with runc (as root, in a temporary bundle).

The point of these tests: the default spec really comes from ``runc spec --rootless``, a
config.json.template rendered with our values is accepted by runc, and ALL_PROCESS_CAPABILITIES
(this process's bounding set) can be granted in full, while "every capability the kernel knows"
cannot on a host whose bounding set is reduced.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from syscontainers.deploy import capabilities, ocispec
from syscontainers.deploy.exports import read_exports
from syscontainers.deploy.render import Target, deployment_values, render_deployment
from syscontainers.service.runtime import probe_runtime

RUNC = "/usr/sbin/runc"
BUSYBOX = Path("/usr/bin/busybox")

pytestmark = [pytest.mark.root]


@pytest.fixture(scope="module", autouse=True)
def prerequisites():
    """What these tests need is installed by `make deps`: missing, they FAIL (never skip)."""
    assert os.geteuid() == 0, "runc run needs root: run the suite as root"
    assert Path(RUNC).exists() and BUSYBOX.exists(), \
        "runc and busybox-static are needed: run `make deps`"


@pytest.fixture
def bundle(tmp_path) -> Path:
    """A bundle dir NAME.0 whose rootfs holds only a static busybox."""
    bundle = tmp_path / "web.0"
    rootfs = bundle / "rootfs"
    for d in ("bin", "proc", "dev", "sys", "tmp", "etc"):
        (rootfs / d).mkdir(parents=True)
    shutil.copy2(BUSYBOX, rootfs / "bin/busybox")
    return bundle


@pytest.fixture
def runc_root(tmp_path):
    """A private runc state dir, so nothing of ours lands in /run/runc."""
    state = tmp_path / "runc-state"
    state.mkdir()
    return state


def runc_run(bundle: Path, state: Path, config_text: str,
             prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``runc run`` the bundle in the foreground (after ``prefix``, e.g. a setpriv); the
    container is always deleted after."""
    (bundle / "config.json").write_text(config_text)
    cid = f"sc-test-{uuid.uuid4().hex[:12]}"
    try:
        return subprocess.run([*prefix, RUNC, "--root", str(state), "run", "--bundle", str(bundle), cid],
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    finally:
        subprocess.run([RUNC, "--root", str(state), "delete", "--force", cid],
                       capture_output=True, timeout=30)


def runc_spec(tmp_path: Path, *args: str) -> dict:
    d = tmp_path / f"spec-{uuid.uuid4().hex[:6]}"
    d.mkdir()
    subprocess.run([RUNC, "spec", *args], cwd=d, check=True)
    return json.loads((d / "config.json").read_text())


def cap_masks(output: str) -> dict[str, int]:
    return {line.split(":")[0]: int(line.split()[1], 16)
            for line in output.splitlines() if line.startswith("Cap")}


def render_bundle(bundle: Path, files: dict[str, str], user_mode=False, uid=0, gid=0):
    exports_dir = bundle / "rootfs/exports"
    exports_dir.mkdir()
    for name, text in files.items():
        (exports_dir / name).write_text(text)
    exports = read_exports(bundle / "rootfs", "localhost/busybox:test")
    target = Target(name="web", destdir=bundle, image_name="localhost/busybox:test",
                    image_id="f00", user_mode=user_mode, runtime=probe_runtime(RUNC),
                    host_root=bundle.parent, uid=uid, gid=gid)
    values = deployment_values(exports, target, {})
    return render_deployment(exports, values, target)


def test_default_spec_is_runcs_rootless_spec(tmp_path):
    ours = ocispec.default_spec(RUNC)
    theirs = runc_spec(tmp_path, "--rootless")
    assert ours["linux"] == theirs["linux"] and ours["mounts"] == theirs["mounts"]
    assert ours["root"] == {"path": "rootfs", "readonly": True}
    assert ours["process"]["args"] == ["run.sh"] and theirs["process"]["args"] == ["sh"]


def test_default_spec_runs(bundle, runc_root):
    rendered = render_bundle(bundle, {})
    assert rendered.warnings  # the operator is told the config was generated
    cfg = json.loads(rendered.config_json)
    cfg["process"]["args"] = ["/bin/busybox", "echo", "hi"]
    result = runc_run(bundle, runc_root, json.dumps(cfg))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hi"


def _caps_template(tmp_path: Path) -> str:
    """runc's own default spec as an atomic-style template granting every capability."""
    cfg = runc_spec(tmp_path)
    cfg["root"] = {"path": "rootfs", "readonly": True}
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["/bin/busybox", "grep", "^Cap", "/proc/self/status"]
    cfg["process"]["capabilities"] = {k: ["@CAPS@"] for k in ("bounding", "effective", "permitted")}
    cfg["hostname"] = "$NAME"
    return json.dumps(cfg, indent=4).replace('"@CAPS@"', "$ALL_PROCESS_CAPABILITIES")


def test_all_process_capabilities_are_granted_by_runc(bundle, runc_root, tmp_path):
    rendered = render_bundle(bundle, {"config.json.template": _caps_template(tmp_path)})
    assert "$" not in rendered.config_json and rendered.config["hostname"] == "web"
    result = runc_run(bundle, runc_root, rendered.config_json)
    assert result.returncode == 0, result.stderr

    inside = cap_masks(result.stdout)
    ours = cap_masks(open("/proc/self/status").read())["CapBnd"]
    known = (1 << len(capabilities.CAPABILITY_NAMES)) - 1
    assert inside["CapBnd"] == ours & known
    assert inside["CapEff"] == ours & known


def test_every_kernel_capability_fails_when_the_bounding_set_is_reduced(bundle, runc_root, tmp_path):
    """runc runs with CAP_SYS_MODULE dropped from its bounding set (setpriv), whatever this
    process has: asking for every capability the kernel knows must then fail."""
    last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    known = capabilities.CAPABILITY_NAMES[:last_cap + 1]
    assert "CAP_SYS_MODULE" in known
    text = _caps_template(tmp_path).replace(
        "$ALL_PROCESS_CAPABILITIES", ", ".join(f'"{c}"' for c in known))
    (bundle / "rootfs/exports").mkdir()
    result = runc_run(bundle, runc_root, text, prefix=("setpriv", "--bounding-set=-sys_module", "--"))
    assert result.returncode != 0
    assert "caps" in result.stderr.lower() or "capabilit" in result.stderr.lower(), result.stderr


def test_user_namespace_rewrite_runs(bundle, runc_root, tmp_path):
    """The user-mode rewrite of the default spec is accepted by runc (run here as root)."""
    rendered = render_bundle(bundle, {}, user_mode=True, uid=0, gid=0)
    cfg = json.loads(rendered.config_json)
    assert {"type": "user"} in cfg["linux"]["namespaces"]
    assert all(ns["type"] != "network" for ns in cfg["linux"]["namespaces"])
    cfg["process"]["args"] = ["/bin/busybox", "sh", "-c", "grep ' /sys ' /proc/mounts; echo ok"]
    result = runc_run(bundle, runc_root, json.dumps(cfg))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "ok"
    assert any(" ro," in ln or " ro " in ln for ln in lines[:-1]), lines  # /sys read-only
