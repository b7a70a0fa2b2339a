"""The seam between the CLI and the domain API (docs/architecture.md, "The CLI and the domain
API"): what cli/ may import, the request types, the rows update --all returns."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest

import syscontainers.cli
from syscontainers.errors import UsageError
from syscontainers.lifecycle.check import Unchecked
from syscontainers.lifecycle.install import InstallRequest
from syscontainers.lifecycle.requests import MountRequest, PullRequest, Settings, parse_settings
from syscontainers.lifecycle.runonce import RunRequest
from syscontainers.lifecycle.update import UpdateRequest, UpdateRow

CLI_DIR = Path(syscontainers.cli.__file__).parent
ALLOWED = ("syscontainers.lifecycle", "syscontainers.paths", "syscontainers.errors")


def _imports(path: Path) -> list[str]:
    """The syscontainers modules a CLI file imports (relative imports resolved)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = "syscontainers.cli" if node.level == 1 else "syscontainers"
            found.append(f"{base}.{node.module}" if node.module else base)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found += [n for n in names if n and n.startswith("syscontainers")]
    return found


def test_cli_imports_only_lifecycle_paths_errors():
    files = sorted(CLI_DIR.glob("*.py"))
    assert files
    wrong = [(f.name, m) for f in files for m in _imports(f)
             if not (m.startswith(ALLOWED) or m.startswith("syscontainers.cli")
                     or m == "syscontainers")]       # `from .. import __version__`
    assert wrong == []


def test_request_types_are_keyword_only():
    for make in (lambda: Settings({}), lambda: PullRequest("x"),
                 lambda: MountRequest("x", "/mnt"), lambda: RunRequest("x"),
                 lambda: InstallRequest("x"), lambda: UpdateRequest("web")):
        with pytest.raises(TypeError):
            make()
    assert PullRequest(image="x").tls_verify is True
    assert MountRequest(what="web", target="/mnt").writable is False


def test_parse_settings_merges_set_and_secret(tmp_path, monkeypatch):
    secret = tmp_path / "token"
    secret.write_text("s3cret\n")
    monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin\n"))
    got = parse_settings(set_args=["PORT=8080", "A=b=c"],
                         secret_args=[f"TOKEN=@{secret}", "PASS"], allow_args=["hooks"])
    assert got.values == {"PORT": "8080", "A": "b=c", "TOKEN": "s3cret", "PASS": "from-stdin"}
    assert got.secret_names == {"TOKEN", "PASS"} and got.allow == {"hooks"}
    assert parse_settings() == Settings()


@pytest.mark.parametrize("kwargs, words", [
    ({"set_args": ["NOEQUALS"]}, "NAME=VALUE"),
    ({"set_args": ["T=1"], "secret_args": ["T=@/dev/null"]}, "both --set and --set-secret"),
    ({"allow_args": ["no-such-privilege"]}, "no-such-privilege"),
])
def test_parse_settings_refuses_bad_input(kwargs, words):
    with pytest.raises(UsageError) as e:
        parse_settings(**kwargs)
    assert words in str(e.value)


def test_update_rows_and_unchecked_as_json():
    ok = UpdateRow("web", "a" * 64, "b" * 64, "updated")
    assert ok.as_json() == {"container": "web", "before": "a" * 64, "after": "b" * 64,
                            "result": "updated"}
    bad = UpdateRow("db", "", "", "failed", "deployment db.0: invalid info file")
    assert bad.as_json()["reason"] == "deployment db.0: invalid info file"
    u = Unchecked("web", "registry down")
    assert u.update_available is None
    assert u.as_json() == {"container": "web", "update_available": None, "unchecked": "registry down"}
