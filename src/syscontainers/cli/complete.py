"""Shell completion (docs/operations.md, "The command line"): ``completion bash|zsh|fish``
prints a small script; the script asks ``syscontainers __complete WORDS...`` for the
candidates, so what is completed is always this parser (verbs, options, choices) plus the
names of installed containers (NAME) and stored images (IMAGE), read from the host.

The hidden verb prints one candidate per line and never fails: a completion must not print an
error into the operator's command line.
"""

from __future__ import annotations

import argparse

from .parser import subcommands

SCRIPTS = {
    "bash": r'''# bash completion for syscontainers (syscontainers completion bash)
_syscontainers() {
    local cur=${COMP_WORDS[COMP_CWORD]} IFS=$'\n'
    if declare -F _get_comp_words_by_ref >/dev/null; then
        local words cword
        _get_comp_words_by_ref -n =: cur words cword
    else
        local words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
    fi
    COMPREPLY=($(compgen -W "$(syscontainers __complete "${words[@]:1:cword}" 2>/dev/null)" -- "$cur"))
    if declare -F __ltrim_colon_completions >/dev/null; then
        __ltrim_colon_completions "$cur"
    fi
    [ ${#COMPREPLY[@]} -gt 0 ] || compopt -o default 2>/dev/null
}
complete -F _syscontainers syscontainers
''',
    "zsh": r'''#compdef syscontainers
# zsh completion for syscontainers (syscontainers completion zsh)
_syscontainers() {
    local -a found
    found=("${(@f)$(syscontainers __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    found=(${found:#})
    if (( ${#found} )); then compadd -- "${found[@]}"; else _files; fi
}
if [ "$funcstack[1]" = "_syscontainers" ]; then _syscontainers "$@"; else compdef _syscontainers syscontainers; fi
''',
    "fish": r'''# fish completion for syscontainers (syscontainers completion fish)
complete -c syscontainers -e
complete -c syscontainers -a '(syscontainers __complete (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)'
''',
}

# positional metavars whose values are installed containers, stored images, either
NAMES, IMAGES = {"NAME"}, {"IMAGE", "SRC"}


def script(shell: str) -> str:
    return SCRIPTS[shell]


def candidates(root: argparse.ArgumentParser, words: list[str], names, images) -> list[str]:
    """What may come at the last of ``words`` (the word being typed, maybe ""), given the
    ones before it. ``names`` / ``images`` are called only when those are wanted."""
    parser, pending, positionals = _walk(root, words[:-1])
    current = words[-1] if words else ""
    if pending is not None:
        return list(pending.choices or ())
    if current.startswith("-"):
        return _options(parser)
    subs = subcommands(parser)
    if subs:
        return sorted(subs)
    wanted = _positional(parser, positionals)
    if wanted is None:
        return []
    if wanted.choices:
        return list(wanted.choices)
    if wanted.metavar in NAMES:
        return names()
    if wanted.metavar in IMAGES:
        return images()
    if wanted.metavar == "IMAGE|NAME":
        return names() + images()
    return []


def _walk(root, words):
    """(the parser the words lead to, the option still waiting for its value or None, how
    many positionals were given to that parser)."""
    parser, pending, positionals = root, None, 0
    for word in words:
        if pending is not None:
            pending = None
            continue
        if word.startswith("-") and word != "-":
            action = parser._option_string_actions.get(word.split("=", 1)[0])
            if action is not None and action.nargs != 0 and "=" not in word:
                pending = action
            continue
        subs = {name: p for a in parser._actions if isinstance(a, argparse._SubParsersAction)
                for name, p in a.choices.items()}
        if word in subs:
            parser, positionals = subs[word], 0
        else:
            positionals += 1
    return parser, pending, positionals


def _options(parser) -> list[str]:
    return sorted(s for a in parser._actions if a.help is not argparse.SUPPRESS
                  for s in a.option_strings if s.startswith("--") or len(s) == 2)


def _positional(parser, given: int):
    """The positional action the next word fills (None when all are given)."""
    for action in parser._actions:
        if action.option_strings or isinstance(action, argparse._SubParsersAction):
            continue
        if action.nargs in ("+", "*", argparse.REMAINDER):
            return action
        if given == 0:
            return action
        given -= 1 if action.nargs in (None, "?") else int(action.nargs)
    return None
