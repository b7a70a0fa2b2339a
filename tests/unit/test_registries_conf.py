"""Short names qualified by registries.conf (docs/operations.md, "Short names and
registries.conf"): aliases, search registries, short-name-mode, drop-ins, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from syscontainers.errors import ConfigError, ReferenceError_
from syscontainers.images import registries
from syscontainers.images.reference import parse_reference


def conf_env(tmp_path: Path, main: str) -> dict:
    path = tmp_path / "registries.conf"
    path.write_text(main)
    return {"CONTAINERS_REGISTRIES_CONF": str(path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}


def names(text: str, conf: registries.RegistriesConf) -> list[str]:
    return [str(r.docker) for r in registries.qualify(parse_reference(text), conf).candidates]


def test_an_alias_wins_and_keeps_tag_and_digest(tmp_path):
    conf = registries.load(conf_env(tmp_path, 'unqualified-search-registries = ["a.io", "b.io"]\n'
                                              '[aliases]\n"etcd" = "quay.io/coreos/etcd"\n'), euid=0)
    assert names("etcd:v3.5", conf) == ["quay.io/coreos/etcd:v3.5"]
    assert names("etcd", conf) == ["quay.io/coreos/etcd:latest"]
    digest = "sha256:" + "a" * 64
    assert names(f"etcd@{digest}", conf) == [f"quay.io/coreos/etcd@{digest}"]
    short = registries.qualify(parse_reference("etcd"), conf)
    assert short.how.startswith("alias in ") and short.candidates[0].original == "etcd"


def test_no_search_registries_is_docker_hub_as_atomic_did(tmp_path):
    conf = registries.load(conf_env(tmp_path, ""), euid=0)
    short = registries.qualify(parse_reference("busybox"), conf)
    assert short.how == "default" and names("busybox", conf) == ["docker.io/library/busybox:latest"]


def test_one_search_registry_is_used(tmp_path):
    conf = registries.load(conf_env(tmp_path, 'unqualified-search-registries = ["r.example:5000"]\n'), euid=0)
    assert names("team/app:1", conf) == ["r.example:5000/team/app:1"]


def test_several_search_registries_enforcing_refuses_the_ambiguity(tmp_path):
    conf = registries.load(conf_env(tmp_path, 'unqualified-search-registries = ["a.io", "b.io"]\n'), euid=0)
    with pytest.raises(ReferenceError_) as e:
        registries.qualify(parse_reference("app"), conf)
    assert "ambiguous" in str(e.value) and "a.io/app:latest, b.io/app:latest" in str(e.value)
    assert "[aliases]" in str(e.value)


@pytest.mark.parametrize("mode", ["permissive", "disabled"])
def test_several_search_registries_are_tried_in_order_otherwise(tmp_path, mode):
    conf = registries.load(conf_env(tmp_path, f'unqualified-search-registries = ["a.io", "b.io"]\n'
                                              f'short-name-mode = "{mode}"\n'), euid=0)
    assert names("app", conf) == ["a.io/app:latest", "b.io/app:latest"]


def test_a_qualified_name_is_its_own_candidate(tmp_path):
    conf = registries.load(conf_env(tmp_path, '[aliases]\n"quay.io/x" = "other.io/y"\n'), euid=0)
    assert names("quay.io/x:1", conf) == ["quay.io/x:1"]


def test_drop_ins_override_the_main_file_in_name_order(tmp_path, monkeypatch):
    dropins = tmp_path / "d"       # (the unit conftest points SYSTEM_DROPINS at an empty dir)
    dropins.mkdir()
    (dropins / "10-a.conf").write_text('unqualified-search-registries = ["first.io"]\n'
                                       '[aliases]\n"x" = "first.io/x"\n')
    (dropins / "20-b.conf").write_text('[aliases]\n"x" = "second.io/x"\n')
    monkeypatch.setattr(registries, "SYSTEM_DROPINS", dropins)
    conf = registries.load(conf_env(tmp_path, 'unqualified-search-registries = ["main.io"]\n'), euid=0)
    assert conf.search == ("first.io",) and names("x", conf) == ["second.io/x:latest"]
    assert [p.name for p in conf.files] == ["registries.conf", "10-a.conf", "20-b.conf"]


def test_the_version_1_search_table_is_read(tmp_path):
    conf = registries.load(conf_env(tmp_path, '[registries.search]\nregistries = ["v1.io"]\n'), euid=0)
    assert conf.search == ("v1.io",)


def test_a_user_file_replaces_the_system_one_for_a_user(tmp_path):
    user = tmp_path / "cfg/containers"
    user.mkdir(parents=True)
    (user / "registries.conf").write_text('unqualified-search-registries = ["mine.io"]\n')
    files = registries.conf_files({"XDG_CONFIG_HOME": str(tmp_path / "cfg")}, euid=1000)
    assert files[0] == user / "registries.conf"
    assert registries.conf_files({"XDG_CONFIG_HOME": str(tmp_path / "cfg")}, euid=0)[0] == \
        registries.SYSTEM_CONF


@pytest.mark.parametrize("text, message", [
    ("short-name-mode = 'loose'\n", "short-name-mode must be one of"),
    ("unqualified-search-registries = 'a.io'\n", "must be a list"),
    ("[aliases]\nx = 1\n", "[aliases] maps short names"),
    ("this is not toml\n", "is not valid TOML"),
])
def test_a_bad_file_is_one_line_naming_it(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        registries.load(conf_env(tmp_path, text), euid=0)
    assert message in str(e.value) and "registries.conf" in str(e.value) and "\n" not in str(e.value)


def test_an_alias_without_a_registry_is_an_error(tmp_path):
    conf = registries.load(conf_env(tmp_path, '[aliases]\n"x" = "just/a/path"\n'), euid=0)
    with pytest.raises(ConfigError, match="names no registry"):
        registries.qualify(parse_reference("x"), conf)
