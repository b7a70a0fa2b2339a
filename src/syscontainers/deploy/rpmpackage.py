"""RPM packages for system containers: ``install --system-package`` (docs/templates.md, "Host files"; docs/operations.md, "System packages").

Three concerns, each a small piece with no knowledge of deployments:

- **the decision** (:func:`decide_system_package`): which of ``no`` / ``yes`` / ``build`` a
  requested value means on this host. The host is described by :class:`HostFacts`
  (:func:`probe_host` reads the real one; tests pass their own), so the whole table is
  testable without an rpm-based machine.
- **the spec** (:func:`package_meta`, :func:`render_spec`): a spec file *generated here* from
  the image's labels and a list of :class:`PackageFile`. Label text is image content, hence
  hostile: it is escaped so that it can neither expand a macro (``%(cmd)`` would run a shell
  at build time) nor start a spec section (a description line ``%files``...). The spec has no
  ``%prep``/``%build``/``%install`` and no scriptlets: it only packages a build root prepared
  by the caller, and installing the package runs nothing.
- **the tools** (:func:`build_rpm`: ``rpmbuild -bb`` in a private top dir; :class:`RpmTool`:
  ``rpm -i`` / ``-U`` / ``-e`` / ``-q``, optionally under ``--root`` for tests).

Like atomic, the package is named ``atomic-container-NAME``; an image's own ``rpm.spec`` /
``rpm.spec.template`` only makes ``auto`` choose a package (atomic never built from it either):
building or installing from an image's spec would run the image's shell code (``%install``,
``%post``, ``%(...)``) as root on the host before the operator ever started the container.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from ..errors import PackagingError, UsageError
from ..paths import OS_RELEASE, OSTREE_BOOTED, PREINSTALLED_DIR
from ..proc import run

PACKAGE_PREFIX = "atomic-container"
PREINSTALLED_ROOT = str(PREINSTALLED_DIR)   # where a packaged container lives
# /etc/os-release ID / ID_LIKE words of distributions whose package manager is rpm
RPM_DISTROS = frozenset({"fedora", "rhel", "centos", "suse", "opensuse", "sles", "mageia",
                         "openmandriva", "amzn", "ol", "rocky", "almalinux"})
MODES = ("auto", "build", "no", "yes")

_NAME_OK = re.compile(r"^[A-Za-z0-9._+-]+$")         # rpm's Name: alnum and ._+- (no @)
_VERREL_BAD = re.compile(r"[^A-Za-z0-9._+~^]")        # rpm's Version/Release (no '-')
_PATH_OK = re.compile(r"^/[A-Za-z0-9._+@,:=~/-]+$")   # no blanks, quotes, globs, macros
_DEP_OK = re.compile(r"^[A-Za-z0-9_.+()/:-]+(\s*(<=|>=|=|<|>)\s*[A-Za-z0-9_.+~^:-]+)?$")


# ---------------------------------------------------------------------------- the decision

@dataclass(frozen=True)
class HostFacts:
    """What the decision needs to know about the host."""

    rpm_based: bool        # the system package manager is rpm (and rpm is installed)
    ostree_booted: bool    # /run/ostree-booted: /usr is an OSTree deployment, rpm -i cannot work


def probe_host(os_release: Path = OS_RELEASE, ostree_marker: Path = OSTREE_BOOTED) -> HostFacts:
    """The real host's facts: rpm-based when /etc/os-release's ID or ID_LIKE names an rpm
    distribution and ``rpm`` is on PATH (Debian can have rpm installed: that does not make
    rpm its package manager)."""
    words: set[str] = set()
    try:
        for line in os_release.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("ID", "ID_LIKE"):
                words.update(value.strip().strip("\"'").lower().split())
    except OSError:
        pass
    rpm_based = bool(words & RPM_DISTROS) and shutil.which("rpm") is not None
    return HostFacts(rpm_based=rpm_based, ostree_booted=os.path.lexists(ostree_marker))


def decide_system_package(requested: str, *, ships_package_content: bool, host: HostFacts,
                          user_mode: bool) -> str:
    """``no``, ``yes`` or ``build`` for ``--system-package=requested``; UsageError when the
    value cannot work here. ``ships_package_content``: the image has ``rpm.spec``,
    ``rpm.spec.template`` or ``hostfs/`` (only ``auto`` looks at it).

    | requested | user mode | OSTree-booted | not rpm-based | rpm-based host |
    |-----------|-----------|---------------|---------------|----------------|
    | no        | no        | no            | no            | no             |
    | auto      | no        | no            | no            | yes if content, else no |
    | yes       | error     | error         | error         | yes            |
    | build     | error     | build         | build         | build          |
    """
    if requested not in MODES:
        raise UsageError(f"--system-package must be one of {', '.join(MODES)}, not {requested!r}")
    if requested == "no":
        return "no"
    if requested == "auto":
        usable = not user_mode and host.rpm_based and not host.ostree_booted
        return "yes" if usable and ships_package_content else "no"
    if user_mode:
        raise UsageError(f"--system-package={requested} needs system mode (root): packages are "
                         "system-wide; use --system-package=no")
    if requested == "build":
        return "build"
    if host.ostree_booted:
        raise UsageError("--system-package=yes cannot work on a host booted from OSTree (its "
                         "/usr is read-only); use --system-package=build or no")
    if not host.rpm_based:
        raise UsageError("--system-package=yes needs a host whose package manager is rpm; "
                         "use --system-package=build (writes the RPM) or no (plain copies)")
    return "yes"


# ---------------------------------------------------------------------------- names

def package_name(container: str) -> str:
    """``atomic-container-NAME`` (atomic's name); PackagingError when NAME cannot be one."""
    name = f"{PACKAGE_PREFIX}-{container}"
    if not _NAME_OK.match(name):
        raise PackagingError(f"container name {container!r} cannot be used in an RPM package "
                             "name (only letters, digits and . _ + -); choose another --name")
    return name


def rpm_file_name(container: str) -> str:
    """The file kept in the deployment and recorded as ``rpm-installed`` (atomic's form)."""
    return f"{package_name(container)}.rpm"


def installed_package(rpm_installed: str) -> str:
    """The package name from an info file's ``rpm-installed`` (atomic wrote the file name
    ``atomic-container-NAME.rpm``; a bare package name is accepted too)."""
    return rpm_installed[:-4] if rpm_installed.endswith(".rpm") else rpm_installed


# ---------------------------------------------------------------------------- the spec

@dataclass(frozen=True)
class PackageMeta:
    name: str
    version: str
    release: str
    summary: str
    description: str
    license: str = "GPLv2"
    url: str | None = None
    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()


@dataclass(frozen=True)
class PackageFile:
    """One ``%files`` entry: ``tree`` (a directory and everything below it), ``dir`` (the
    directory alone), ``config`` (a host file: an operator's edit survives updates and is
    saved as ``.rpmsave`` on removal, never silently lost), ``file``, ``symlink``."""

    path: str
    kind: str


def package_meta(container: str, image_id: str, labels: Mapping[str, str]) -> PackageMeta:
    """Name, version and the rest from the image's labels (atomic's ``atomic.*`` labels first,
    then the common ``version``/``release``/``summary``...); version defaults to the image ID's
    first 12 digits, release to 1."""
    low = {str(k).lower(): str(v) for k, v in labels.items()}

    def label(key: str) -> str | None:
        value = low.get(f"atomic.{key}", low.get(key))
        return value if value and value.strip() else None

    summary = label("summary") or f"system container {container}"
    return PackageMeta(
        name=package_name(container),
        version=_verrel(label("version") or image_id[:12] or "0"),
        release=_verrel(label("release") or "1"),
        summary=summary,
        description=label("description") or summary,
        license=label("license") or "GPLv2",
        url=label("url"),
        requires=_deps(label("requires"), "requires"),
        provides=_deps(label("provides"), "provides"),
        conflicts=_deps(label("conflicts"), "conflicts"),
    )


def _verrel(text: str) -> str:
    return _VERREL_BAD.sub("_", text.strip())


def _deps(text: str | None, what: str) -> tuple[str, ...]:
    out = []
    for item in (text or "").split(","):
        item = " ".join(item.split())
        if not item:
            continue
        if not _DEP_OK.match(item):
            raise PackagingError(f"image label atomic.{what}: {item!r} is not a package "
                                 "name with an optional version (NAME [>= VERSION])")
        out.append(item)
    return tuple(out)


def _one_line(text: str) -> str:
    """A tag value: one line, and ``%`` doubled so that no macro is expanded."""
    return " ".join(text.split()).replace("%", "%%")


def _description(text: str) -> str:
    # A line starting with '%' (after rpm's %% -> %) could open a section: indent it.
    lines = []
    for line in text.strip().splitlines() or [""]:
        line = line.replace("%", "%%").rstrip()
        lines.append(f" {line}" if line.lstrip().startswith("%") else line)
    return "\n".join(lines)


def _file_line(entry: PackageFile) -> str:
    if not _PATH_OK.match(entry.path) or "/../" in entry.path + "/" or "//" in entry.path:
        raise PackagingError(f"{entry.path}: this path cannot go into an RPM file list "
                             "(blanks, quotes, glob or % characters); use --system-package=no")
    prefix = {"tree": "", "file": "", "symlink": "", "dir": "%dir ",
              "config": "%config(noreplace) "}[entry.kind]
    return f'{prefix}"{entry.path}"'


def render_spec(meta: PackageMeta, files: Iterable[PackageFile]) -> str:
    """The spec text: tags, description, ``%files``. Nothing in it runs a command."""
    head = [
        # no post-processing of the build root: it holds the image's files byte for byte
        "%global __os_install_post %{nil}",
        "%global __spec_install_post %{nil}",
        "%global debug_package %{nil}",
        "%global _build_id_links none",
        f"Name: {meta.name}",
        f"Version: {meta.version}",
        f"Release: {meta.release}",
        f"Summary: {_one_line(meta.summary)}",
        f"License: {_one_line(meta.license)}",
        "AutoReqProv: no",   # the image's binaries need nothing from the host
    ]
    if meta.url:
        head.append(f"URL: {_one_line(meta.url)}")
    head += [f"Requires: {d}" for d in meta.requires]
    head += [f"Provides: {d}" for d in meta.provides]
    head += [f"Conflicts: {d}" for d in meta.conflicts]
    # no %defattr: owners and modes are those of the build root (the image's, for a rootfs)
    body = ["", "%description", _description(meta.description), "", "%files"]
    body += [_file_line(f) for f in files]
    return "\n".join(head + body) + "\n"


# ---------------------------------------------------------------------------- the tools

def _macro_path(path: Path) -> str:
    return str(path).replace("%", "%%")


def build_rpm(spec_text: str, buildroot: Path, workdir: Path) -> Path:
    """``rpmbuild -bb`` of ``spec_text`` over the prepared ``buildroot``; everything rpmbuild
    writes stays in ``workdir`` (the caller's temporary dir). Returns the .rpm's path."""
    top = workdir / "rpmbuild"
    (top / "SPECS").mkdir(parents=True, exist_ok=True)
    spec = top / "SPECS" / "container.spec"
    spec.write_text(spec_text)
    run(["rpmbuild", "-bb", "--noclean",
         "--define", f"_topdir {_macro_path(top)}",
         "--define", "_build_name_fmt %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm",
         "--buildroot", str(buildroot), str(spec)],
        what="building the RPM package (rpmbuild)")
    built = sorted((top / "RPMS").glob("*.rpm"))
    if len(built) != 1:
        raise PackagingError(f"rpmbuild did not write one package under {top / 'RPMS'}")
    return built[0]


@dataclass(frozen=True)
class RpmTool:
    """``rpm`` on the host, or under ``root`` (tests: a throwaway root with its own rpmdb,
    ``extra_install_args=("--nodeps",)``)."""

    root: Path = Path("/")
    extra_install_args: tuple[str, ...] = field(default_factory=tuple)

    def _rpm(self, *args: str) -> list[str]:
        base = ["rpm"] if Path(self.root) == Path("/") else ["rpm", "--root", str(self.root)]
        return base + list(args)

    def install(self, rpm_file: Path) -> None:
        run(self._rpm("-i", *self.extra_install_args, str(rpm_file)),
            what=f"installing {Path(rpm_file).name}")

    def upgrade(self, rpm_file: Path) -> None:
        """``rpm -U --oldpackage --replacepkgs``: the installed package becomes this file's,
        whether its version is newer, older (rollback) or the same (a rebuild: --set only)."""
        run(self._rpm("-U", "--oldpackage", "--replacepkgs", *self.extra_install_args,
                      str(rpm_file)), what=f"installing {Path(rpm_file).name} (rpm -U)")

    def erase(self, package: str) -> None:
        run(self._rpm("-e", package), what=f"removing the package {package}")

    def is_installed(self, package: str) -> bool:
        return run(self._rpm("-q", "--quiet", package), check=False).returncode == 0

    def files(self, package: str) -> frozenset[str]:
        """The paths an installed package owns (none when it is not installed)."""
        res = run(self._rpm("-ql", package), check=False)
        if res.returncode != 0:
            return frozenset()
        return frozenset(line for line in res.stdout.splitlines() if line.startswith("/"))

    def host_path(self, path: str) -> Path:
        """Where a package path lands with this tool's root."""
        return Path(self.root) / path.lstrip("/")
