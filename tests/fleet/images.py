"""The fleet's web image, versions 1.0 and 2.0 (tests/fixtures/examples.py's busybox httpd).

2.0 is the "new version" of the rolling update: it serves ``web 2.0``, and its health check
(declared in its manifest.json, docs/templates.md) fails while the host's state directory
holds ``needs-migration`` (state only some hosts have, as a real release can meet): its
service starts and runs, but a controlled update finds it unhealthy and rolls back. Both
versions need the value ``TOKEN`` (a secret in the playbooks).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from tests.fixtures.examples import config_template, example_spec
from tests.fixtures.images import ImageSpec, build_oci_layout

MIGRATION_MARKER = "needs-migration"   # in /var/lib/NAME on the host (/data in the container)
REPO = "fleet/web"


def web_spec(version: str) -> ImageSpec:
    spec = example_spec(index_html=f"web {version}\n", required=["TOKEN"])
    if version == "1.0":
        return spec
    cfg = json.loads(config_template(["TOKEN"]))
    cfg["process"]["args"] = [
        "/bin/sh", "-c",
        f"if [ -e /data/{MIGRATION_MARKER} ]; then echo 'web {version}: the state of 1.x in "
        f"/data needs a migration (needs-migration)'; fi; trap 'kill $$!; exit 0' TERM; "
        "/usr/sbin/httpd -f -p 127.0.0.1:$PORT -h /srv & wait"]
    check = {"exec": ["/bin/sh", "-c", f"if [ -e /data/{MIGRATION_MARKER} ]; then echo "
                      f"'cannot read the state of 1.x'; exit 1; fi"],
             "interval": 1, "timeout": 2, "retries": 3}
    manifest = {**json.loads(spec.exports["manifest.json"]), "healthCheck": check}
    return replace(spec, exports={**spec.exports, "config.json.template": json.dumps(cfg, indent=2),
                                  "manifest.json": json.dumps(manifest, indent=2)})


def web_layouts(workdir: Path) -> dict[str, Path]:
    """OCI layouts of 1.0 and 2.0 (each tagged with its version)."""
    return {v: build_oci_layout(web_spec(v), Path(workdir) / f"web-{v}", v).layout
            for v in ("1.0", "2.0")}


def push_web(registry, layouts: dict[str, Path]) -> dict[str, str]:
    """Push 1.0 and 2.0 to ``registry``; version -> reference."""
    return {v: registry.push(layout, v, REPO) for v, layout in layouts.items()}
