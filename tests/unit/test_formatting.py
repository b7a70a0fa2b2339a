"""--format's Go-template subset (docs/json.md, "--format")."""

from __future__ import annotations

import pytest

from syscontainers.cli.formatting import heading, render
from syscontainers.errors import UsageError

ROW = {"name": "web", "image_id": "a" * 64, "names": ["x:1", "y:2"], "source": {"transport": "docker"},
       "pinned": False, "values": {"PORT": "80"}, "reason": None}


@pytest.mark.parametrize("template, out", [
    ("{{.name}}", "web"),
    ("{{ .name }}\\t{{.pinned}}", "web\tfalse"),
    ("{{.ImageId}}", "a" * 64),                 # podman's PascalCase
    ("{{.source.transport}}", "docker"),
    ("{{.Source.Transport}}", "docker"),
    ("{{json .values}}", '{"PORT":"80"}'),
    ("{{join .names \",\"}}", "x:1,y:2"),
    ("{{upper .name}}-{{lower .Name}}", "WEB-web"),
    ("{{.reason}}|", "|"),                      # null prints as nothing
    ("name={{.name}}\\n", "name=web\n"),
])
def test_templates(template, out):
    assert render(template, ROW) == out


def test_an_unknown_field_names_the_fields_there_are():
    with pytest.raises(UsageError) as e:
        render("{{.nmae}}", ROW)
    assert "no field 'nmae'" in str(e.value) and "image_id, name, names" in str(e.value)


@pytest.mark.parametrize("template, message", [
    ("{{}}", "empty"), ("{{nope .name}}", "unknown function 'nope'"),
    ("{{.name.first}}", "names no field"), ("{{join .names}}", "wrong arguments"),
])
def test_bad_templates_are_usage_errors(template, message):
    with pytest.raises(UsageError, match=message):
        render(template, ROW)


def test_table_heading():
    assert heading("{{.name}}\\t{{.ImageId}} {{json .values}}") == "NAME\tIMAGE_ID VALUES"


def test_every_verb_with_json_has_format():
    from syscontainers.cli.commands import build_parser
    from syscontainers.cli.parser import leaf_parsers

    for leaf in leaf_parsers(build_parser()):
        if "--json" in leaf._option_string_actions:
            assert "--format" in leaf._option_string_actions, leaf.prog
