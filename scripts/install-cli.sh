#!/usr/bin/env bash
# Puts this checkout's syscontainers on the machine for an operator (as root): the command on
# PATH (a link to the venv's), its man pages and its bash/zsh/fish completion. Idempotent;
# `make demo` runs it (docs/operations.md, "The command line").
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

ln -sfn "$repo/.venv/bin/syscontainers" /usr/local/bin/syscontainers

man_dir=/usr/local/share/man/man1
mkdir -p "$man_dir"
rm -f "$man_dir"/syscontainers*.1
.venv/bin/python -m syscontainers.cli.manpage "$man_dir" >/dev/null
command -v mandb >/dev/null && mandb -q /usr/local/share/man 2>/dev/null || true

bash_dir=/usr/local/share/bash-completion/completions
zsh_dir=/usr/local/share/zsh/site-functions
fish_dir=/usr/local/share/fish/vendor_completions.d
mkdir -p "$bash_dir" "$zsh_dir" "$fish_dir"
.venv/bin/syscontainers completion bash > "$bash_dir/syscontainers"
.venv/bin/syscontainers completion zsh > "$zsh_dir/_syscontainers"
.venv/bin/syscontainers completion fish > "$fish_dir/syscontainers.fish"
echo "installed: /usr/local/bin/syscontainers, man pages in $man_dir, completion for bash, zsh, fish"
