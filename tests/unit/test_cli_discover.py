"""The command line's conventions, completion, man pages and `info` (docs/operations.md,
"The command line")."""

from __future__ import annotations

import subprocess

import pytest

from syscontainers.cli import manpage
from syscontainers.cli.__main__ import build_parser, main
from syscontainers.cli.complete import candidates, script
from syscontainers.cli.parser import leaf_parsers, subcommands


def run_main(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_an_unknown_verb_is_one_line_with_the_closest_one(capsys):
    code, out, err = run_main(capsys, "instal", "x")
    assert code == 2 and out == ""
    assert err == "error: unknown command 'instal'; did you mean 'install'? (see 'syscontainers --help')\n"


def test_an_unknown_verb_far_from_any_is_one_line_without_a_guess(capsys):
    code, _, err = run_main(capsys, "frobnicate")
    assert code == 2 and err == "error: unknown command 'frobnicate' (see 'syscontainers --help')\n"


def test_abbreviated_options_are_refused_everywhere(capsys):
    code, _, err = run_main(capsys, "install", "--system-pack=no", "img")
    assert code == 2 and err.count("\n") == 1 and "--system-pack=no" in err
    for parser in leaf_parsers(build_parser()):
        assert parser.allow_abbrev is False


def test_global_options_work_after_the_verb_and_keep_a_value_given_before():
    parser = build_parser()
    args = parser.parse_args(["images", "info", "x", "--repo", "/r", "--checkout-path", "/c", "-q"])
    assert (args.repo, args.checkout_path, args.quiet) == ("/r", "/c", True)
    args = parser.parse_args(["--repo", "/before", "list"])
    assert args.repo == "/before"           # absent after the verb: the value before stays
    args = parser.parse_args(["install", "--system", "--name=x", "img"])   # atomic's line
    assert args.system and args.name == "x"
    args = parser.parse_args(["pull", "-q", "img"])      # pull's own -q wins
    assert args.pull_quiet and not args.quiet
    args = parser.parse_args(["list", "-q"])             # so does list's (names only)
    assert args.list_quiet and not args.quiet


def test_images_alone_lists():
    args = build_parser().parse_args(["images"])
    assert args.func.__name__ == "_list" and args.all is False


def complete(*words, names=("web1",), images=("reg/a:1",)):
    return candidates(build_parser(), list(words), lambda: list(names), lambda: list(images))


def test_completion_of_verbs_options_choices_and_names():
    assert {"install", "update", "images", "completion"} <= set(complete(""))
    assert "__complete" not in complete("")
    assert set(complete("images", "")) >= {"list", "delete", "prune"}
    assert "--set" in complete("install", "--") and "--name" in complete("install", "--")
    assert complete("--log-level", "") == ["debug", "info", "warn"]
    assert complete("install", "--system-package", "") == ["auto", "build", "no", "yes"]
    assert complete("completion", "") == ["bash", "zsh", "fish"]
    assert complete("uninstall", "") == ["web1"]
    assert complete("install", "--name", "x", "") == ["reg/a:1"]
    assert complete("images", "delete", "a", "") == ["reg/a:1"]       # nargs="+": every word
    assert complete("rollback", "web1", "") == []                       # NAME given already


def test_completion_scripts_name_the_hidden_verb():
    for shell in ("bash", "zsh", "fish"):
        assert "syscontainers __complete" in script(shell)


def test_the_bash_script_completes_in_a_real_bash():
    """The shim, loaded into bash, with the parser answering through a stand-in command."""
    code = (script("bash") +
            'syscontainers() { printf "install\\ninfo\\nimages\\n"; }\n'
            'COMP_WORDS=(syscontainers in); COMP_CWORD=1; _syscontainers; echo "${COMPREPLY[*]}"\n')
    out = subprocess.run(["bash", "--norc", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["install", "info"]


def test_a_man_page_for_every_verb_and_each_renders(tmp_path):
    written = {p.name for p in manpage.write(tmp_path)}
    root = build_parser()
    expected = {"syscontainers.1"} | {f"syscontainers-{v}.1" for v in subcommands(root)}
    expected |= {f"syscontainers-images-{v}.1" for v in subcommands(subcommands(root)["images"])}
    assert expected <= written
    install = (tmp_path / "syscontainers-install.1").read_text()
    assert "\\-\\-set\\-secret" in install and ".SH EXIT STATUS" in install
    res = subprocess.run(["man", "--warnings", "-l", str(tmp_path / "syscontainers-install.1")],
                         capture_output=True, text=True, env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert "syscontainers-install - install an image" in " ".join(res.stdout.split())


def test_info_lists_the_paths_and_versions(capsys, tmp_path):
    code, out, err = run_main(capsys, "--checkout-path", str(tmp_path / "co"), "--repo",
                              str(tmp_path / "repo"), "info", "--json")
    assert code == 0, err
    import json
    data = json.loads(out)
    assert data["checkouts"] == str(tmp_path / "co") and data["repository"] == str(tmp_path / "repo")
    assert data["versions"]["skopeo"].startswith("skopeo version")
    assert data["short_name_mode"] in ("enforcing", "permissive", "disabled")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_verb_prints_the_script(capsys, shell):
    code, out, _ = run_main(capsys, "completion", shell)
    assert code == 0 and out == script(shell)


def test_log_level_debug_prints_every_command_run(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SYSCONTAINERS_LOG_LEVEL", "info")   # main sets it from the flag
    code, _, err = run_main(capsys, "--checkout-path", str(tmp_path), "--repo", str(tmp_path / "r"),
                            "--log-level", "debug", "info")
    assert code == 0 and "+ skopeo --version\n" in err and "+ systemctl --version\n" in err
    code, _, err = run_main(capsys, "--checkout-path", str(tmp_path), "--repo", str(tmp_path / "r"), "info")
    assert code == 0 and "+ " not in err
