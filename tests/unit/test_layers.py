"""layers.sanitize_layer: every tar entry is checked, and what libostree gets is canonical.

Pure Python (no libostree): crafted tars in, the canonical tar (read back with tarfile) or a
BadImage out.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syscontainers.errors import BadImage
from syscontainers.images.layers import check_whiteout_name, sanitize_layer, tar_header


def entry(name, kind=tarfile.REGTYPE, data=b"", link="", mode=None, uid=0, gid=0):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode if mode is not None else (0o755 if kind == tarfile.DIRTYPE else 0o644)
    info.uid, info.gid = uid, gid
    info.linkname = link
    if kind == tarfile.REGTYPE:
        info.size = len(data)
    return info, data


def make_tar(entries, fmt=tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def sanitize(tmp_path, blob: bytes, strip_setid=False):
    path = tmp_path / "blob"
    path.write_bytes(blob)
    out = bytearray()
    summary = sanitize_layer(path, lambda data: out.extend(data), label="L",
                             strip_setid=strip_setid)
    with tarfile.open(fileobj=io.BytesIO(bytes(out)), mode="r:") as tf:
        members = {m.name: (m, tf.extractfile(m).read() if m.isreg() else None)
                   for m in tf.getmembers()}
    return summary, members


def bad(tmp_path, blob: bytes, match: str):
    with pytest.raises(BadImage, match=match):
        sanitize(tmp_path, blob)


# --- well-formed layers ------------------------------------------------------------------

def test_gzip_layer_digests_and_content(tmp_path):
    tar = make_tar([entry("etc", tarfile.DIRTYPE), entry("etc/motd", data=b"hi\n")])
    blob = gzip.compress(tar)
    summary, members = sanitize(tmp_path, blob)
    assert summary.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert summary.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert summary.size == len(blob) and summary.uncompressed_size == len(tar)
    assert members["etc/motd"][1] == b"hi\n"
    assert members["etc"][0].isdir()


def test_plain_tar_layer(tmp_path):
    tar = make_tar([entry("a", data=b"1")])
    summary, members = sanitize(tmp_path, tar)
    assert summary.digest == summary.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert members["a"][1] == b"1"


def test_names_are_normalised_and_root_entry_dropped(tmp_path):
    tar = make_tar([entry("./", tarfile.DIRTYPE), entry("./usr/", tarfile.DIRTYPE),
                    entry("./usr//bin/./sh", data=b"x"), entry("/abs/file", data=b"y")])
    _, members = sanitize(tmp_path, tar)
    assert set(members) == {"usr", "usr/bin", "usr/bin/sh", "abs", "abs/file"}


def test_missing_parents_are_created_before_children(tmp_path):
    tar = make_tar([entry("a/b/c/file", data=b"x"), entry("a/b", tarfile.DIRTYPE, mode=0o700)])
    summary, members = sanitize(tmp_path, tar)
    assert summary.autocreated == ["a", "a/b/c"]          # a/b got its own entry later
    assert members["a"][0].mode == 0o755 and members["a"][0].uid == 0
    assert members["a/b"][0].mode == 0o700


def test_long_names_and_link_targets_survive(tmp_path):
    long_dir = "d" * 90 + "/" + "e" * 90
    target = long_dir + "/" + "f" * 120
    tar = make_tar([entry(target, data=b"x"), entry("s", tarfile.SYMTYPE, link=target),
                    entry("h" * 150, tarfile.LNKTYPE, link=target)], fmt=tarfile.GNU_FORMAT)
    _, members = sanitize(tmp_path, tar)
    assert members[target][1] == b"x"
    assert members["s"][0].linkname == target
    assert members["h" * 150][0].islnk() and members["h" * 150][0].linkname == target


def test_hard_link_to_earlier_file(tmp_path):
    tar = make_tar([entry("bin/a", data=b"x"), entry("bin/b", tarfile.LNKTYPE, link="./bin/a")])
    _, members = sanitize(tmp_path, tar)
    assert members["bin/b"][0].islnk() and members["bin/b"][0].linkname == "bin/a"


def test_symlink_mode_is_0777_and_big_ids_kept(tmp_path):
    tar = make_tar([entry("l", tarfile.SYMTYPE, link="/etc/passwd", mode=0o644),
                    entry("f", data=b"x", uid=3_000_000, gid=4_000_000)])
    _, members = sanitize(tmp_path, tar)
    assert members["l"][0].mode == 0o777
    assert (members["f"][0].uid, members["f"][0].gid) == (3_000_000, 4_000_000)


def test_setuid_kept_in_system_mode_stripped_in_user_mode(tmp_path):
    tar = make_tar([entry("bin", tarfile.DIRTYPE, mode=0o555),
                    entry("bin/su", data=b"x", mode=0o4755), entry("ro", data=b"x", mode=0o400)])
    _, system = sanitize(tmp_path, tar)
    assert system["bin/su"][0].mode == 0o4755
    _, user = sanitize(tmp_path, tar, strip_setid=True)
    assert user["bin/su"][0].mode == 0o755
    assert user["ro"][0].mode == 0o600
    assert user["bin"][0].mode == 0o755


def test_device_nodes_and_fifos_are_skipped_and_reported(tmp_path):
    tar = make_tar([entry("dev", tarfile.DIRTYPE), entry("dev/null", tarfile.CHRTYPE),
                    entry("dev/sda", tarfile.BLKTYPE), entry("run/fifo", tarfile.FIFOTYPE),
                    entry("dev/null2", tarfile.LNKTYPE, link="dev/null"),
                    entry("etc/ok", data=b"1")])
    summary, members = sanitize(tmp_path, tar)
    assert summary.skipped == ["dev/null", "dev/sda", "run/fifo", "dev/null2"]
    assert "dev/null" not in members and "etc/ok" in members


def test_valid_whiteouts_pass(tmp_path):
    tar = make_tar([entry("etc/.wh.motd"), entry("var/.wh..wh..opq")])
    _, members = sanitize(tmp_path, tar)
    assert {"etc/.wh.motd", "var/.wh..wh..opq"} <= set(members)


def test_multi_member_gzip_and_trailing_data_count_in_digest(tmp_path):
    tar = make_tar([entry("a", data=b"1" * 5000)])
    blob = gzip.compress(tar[:1024]) + gzip.compress(tar[1024:] + b"\0" * 4096)
    summary, members = sanitize(tmp_path, blob)
    assert members["a"][1] == b"1" * 5000
    assert summary.diff_id == "sha256:" + hashlib.sha256(tar + b"\0" * 4096).hexdigest()


def test_tar_without_end_blocks_is_accepted(tmp_path):
    tar = make_tar([entry("a", data=b"1")], fmt=tarfile.USTAR_FORMAT)
    _, members = sanitize(tmp_path, tar[:1024])           # header + one data block, no end
    assert members["a"][1] == b"1"


def test_tar_header_round_trip_via_tarfile():
    block = tar_header(b"x" * 200, 0o4755, 10, 20, 0, 5, b"0")
    info = tarfile.TarInfo.frombuf(block[-512:], "utf-8", "strict")
    assert info.mode == 0o4755 and info.uid == 10 and info.gid == 20


# --- hostile or malformed layers ---------------------------------------------------------

def test_dotdot_is_rejected(tmp_path):
    bad(tmp_path, make_tar([entry("a/../../etc/passwd", data=b"x")]), r"contains '\.\.'")


def test_absurdly_deep_paths_are_rejected(tmp_path):
    bad(tmp_path, make_tar([entry("a/" * 300 + "f", data=b"x")]), "nested deeper than 256")


def test_hard_link_outside_is_rejected(tmp_path):
    tar = make_tar([entry("a", data=b"1"), entry("b", tarfile.LNKTYPE, link="../outside")])
    bad(tmp_path, tar, r"hard link target '../outside' contains")


def test_hard_link_to_later_or_missing_entry_is_rejected(tmp_path):
    tar = make_tar([entry("b", tarfile.LNKTYPE, link="a"), entry("a", data=b"1")])
    bad(tmp_path, tar, "not an earlier file")


def test_hard_link_to_directory_is_rejected(tmp_path):
    tar = make_tar([entry("d", tarfile.DIRTYPE), entry("b", tarfile.LNKTYPE, link="d")])
    bad(tmp_path, tar, "not an earlier file")


def test_entry_through_symlink_of_same_layer_is_rejected(tmp_path):
    tar = make_tar([entry("etc", tarfile.SYMTYPE, link="/host/etc"), entry("etc/x", data=b"x")])
    bad(tmp_path, tar, r"goes through 'etc', which is not a directory \(symlink\)")


def test_entry_through_file_is_rejected(tmp_path):
    tar = make_tar([entry("a", data=b"1"), entry("a/b/c", data=b"x")])
    bad(tmp_path, tar, "goes through 'a'")


def test_dot_entry_as_symlink_is_rejected(tmp_path):
    tar = make_tar([entry(".", tarfile.SYMTYPE, link="/tmp"), entry("x", data=b"1")])
    bad(tmp_path, tar, r"entry '\.' is a symlink")


def test_directory_replaced_by_file_is_rejected(tmp_path):
    tar = make_tar([entry("d", tarfile.DIRTYPE), entry("d", data=b"x")])
    bad(tmp_path, tar, "changes from dir to file")


@pytest.mark.parametrize("name", [".wh.", ".wh..", ".wh...", ".wh..wh.foo", ".wh..wh..opqx"])
def test_bad_whiteout_names_are_rejected(tmp_path, name):
    bad(tmp_path, make_tar([entry(f"etc/{name}")]), "invalid whiteout name")


def test_whiteout_that_is_a_directory_is_rejected(tmp_path):
    bad(tmp_path, make_tar([entry("etc/.wh.x", tarfile.DIRTYPE)]), "must be a regular file")
    bad(tmp_path, make_tar([entry("etc/.wh.x/y", data=b"1")]), "must be a regular file")


def test_non_utf8_name_is_rejected(tmp_path):
    info, data = entry("x", data=b"1")
    tar = bytearray(make_tar([(info, data)], fmt=tarfile.USTAR_FORMAT))
    tar[0] = 0xFF                                          # name byte, fix the checksum
    tar[148:156] = b"%06o\0 " % (sum(tar[:148]) + 256 + sum(tar[156:512]))
    bad(tmp_path, bytes(tar), "not valid UTF-8")


def test_corrupt_header_checksum_is_rejected(tmp_path):
    tar = bytearray(make_tar([entry("x", data=b"1")], fmt=tarfile.USTAR_FORMAT))
    tar[0] = ord("y")
    bad(tmp_path, bytes(tar), "checksum mismatch")


def test_truncated_layer_is_rejected(tmp_path):
    tar = make_tar([entry("x", data=b"1" * 4000)])
    bad(tmp_path, tar[:1500], "truncated")
    bad(tmp_path, gzip.compress(tar)[:-30], "truncated")


def test_sparse_files_are_rejected(tmp_path):
    info, data = entry("s", data=b"1")
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}
    bad(tmp_path, make_tar([(info, data)]), "sparse")


def test_unsupported_compression_is_a_clear_error(tmp_path):
    bad(tmp_path, b"\x28\xb5\x2f\xfd" + b"\0" * 100, "zstd-compressed")
    bad(tmp_path, bz2.compress(make_tar([entry("x")])), "bzip2-compressed")


def test_garbage_is_rejected(tmp_path):
    bad(tmp_path, b"not a tar at all" * 64, "malformed tar header")


def test_check_whiteout_name():
    check_whiteout_name(".wh.foo")
    check_whiteout_name(".wh..wh..opq")
    check_whiteout_name("plain")
    with pytest.raises(ValueError):
        check_whiteout_name(".wh..wh.x")


# --- property: any well-formed layer comes out with the same content ----------------------

_NAME = st.text(alphabet="abcXYZ019._-", min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..") and not s.startswith(".wh."))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.lists(_NAME, min_size=1, max_size=4).map("/".join),
                       st.binary(max_size=700), max_size=12))
def test_any_tree_of_files_round_trips(tmp_path_factory, files):
    # A path cannot be both a file and a directory: keep only the ones that are leaves.
    leaves = {p: d for p, d in files.items() if not any(q.startswith(p + "/") for q in files)}
    tmp = tmp_path_factory.mktemp("prop")
    summary, members = sanitize(tmp, gzip.compress(make_tar(
        [entry(p, data=d) for p, d in leaves.items()])))
    assert {p: members[p][1] for p in leaves} == leaves
    dirs = {m for m, (info, _) in members.items() if info.isdir()}
    assert dirs == {p.rsplit("/", i)[0] for p in leaves for i in range(1, p.count("/") + 1)}
    assert summary.entries == len(leaves) + 0            # autocreated dirs are not counted


def test_gzip_bomb_is_refused_past_the_disk_budget(tmp_path):
    """64 MiB of zeros gzip to ~64 KiB; with 8 MiB of room the layer is refused while being
    read, before it is written out in full."""
    tar = make_tar([entry("zeros", data=bytes(64 << 20))])
    path = tmp_path / "bomb"
    path.write_bytes(gzip.compress(tar, compresslevel=9))
    written = []
    with pytest.raises(BadImage, match="unpacks to more than the 8 MiB free"):
        sanitize_layer(path, lambda data: written.append(len(data)), label="L",
                       max_tar_size=8 << 20)
    assert sum(written) <= (8 << 20) + (4 << 20)   # at most one inflate chunk past the limit


# --- symlink target limits, global pax headers (docs/formats.md) ----------------------------

def test_symlink_target_of_4095_bytes_passes_4096_is_refused(tmp_path):
    ok = "t" * 4095
    _, members = sanitize(tmp_path, make_tar([entry("s", tarfile.SYMTYPE, link=ok)]))
    assert members["s"][0].linkname == ok
    bad(tmp_path, make_tar([entry("s", tarfile.SYMTYPE, link=ok + "t")]),
        "^layer L: symlink 's' has an empty or too long target")


def test_empty_symlink_target_is_refused(tmp_path):
    bad(tmp_path, make_tar([entry("s", tarfile.SYMTYPE, link="")]),
        "symlink 's' has an empty or too long target")


def _with_global_pax(records: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers=records) as tf:
        info, data = entry("etc/motd", data=b"hi\n")
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("key", ["path", "linkpath", "size"])
def test_global_pax_header_may_not_set_path_linkpath_or_size(tmp_path, key):
    """A global header would rename every later entry (one for path names all of them
    ../../x): refused, not applied nor ignored."""
    bad(tmp_path, _with_global_pax({key: "../../outside" if key != "size" else "5"}),
        "^layer L: global pax headers may not set path, linkpath or size")


def test_other_global_pax_records_are_ignored(tmp_path):
    _, members = sanitize(tmp_path, _with_global_pax({"comment": "made by hand"}))
    assert members["etc/motd"][1] == b"hi\n" and set(members) == {"etc", "etc/motd"}


def test_xattrs_are_not_imported(tmp_path):
    """docs/formats.md: pax SCHILY.xattr.* records (file capabilities, labels) are dropped."""
    info, data = entry("usr/bin/ping", data=b"elf")
    info.pax_headers = {"SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
                        "SCHILY.xattr.user.note": "x"}
    _, members = sanitize(tmp_path, make_tar([(info, data)]))
    ping = members["usr/bin/ping"][0]
    assert members["usr/bin/ping"][1] == b"elf"
    assert not [k for k in ping.pax_headers if k.startswith("SCHILY.xattr")]


@pytest.mark.parametrize("compress, name", [(bz2.compress, "bzip2"),
                                            (lambda b: __import__("lzma").compress(b), "xz")])
def test_bzip2_and_xz_layers_are_a_clear_error(tmp_path, compress, name):
    bad(tmp_path, compress(make_tar([entry("a", data=b"1")])), name)


# --- tar header parsing, made precise by `make mutation` ----------------------------------

def test_ustar_prefix_and_exactly_100_byte_names(tmp_path):
    long_name = "d" * 80 + "/" + "f" * 60           # ustar: split into prefix + name
    name100 = "n" * 100                              # fills the name field: no NUL after it
    tar = make_tar([entry("d" * 80, tarfile.DIRTYPE), entry(long_name, data=b"L"),
                    entry(name100, data=b"N")], fmt=tarfile.USTAR_FORMAT)
    _, members = sanitize(tmp_path, tar)
    assert members[long_name][1] == b"L" and members[name100][1] == b"N"


def test_base256_ids_and_sizes(tmp_path):
    """GNU tars store numbers too big for octal in base-256 (high bit set)."""
    big = 0o7777777 + 12345
    tar = make_tar([entry("big", data=b"x", uid=big, gid=big + 1)], fmt=tarfile.GNU_FORMAT)
    _, members = sanitize(tmp_path, tar)
    assert (members["big"][0].uid, members["big"][0].gid) == (big, big + 1)


def test_negative_base256_number_is_refused(tmp_path):
    tar = bytearray(make_tar([entry("neg", data=b"x")], fmt=tarfile.USTAR_FORMAT))
    tar[108:116] = b"\xff" * 8                       # uid: a negative base-256 number
    tar[148:156] = b"        "
    tar[148:156] = b"%06o\0 " % sum(tar[:512])
    bad(tmp_path, bytes(tar), r"malformed tar header \(negative number\)")


def test_signed_header_checksum_of_old_tars_is_accepted(tmp_path):
    """Some old tars summed the header bytes as signed chars: a byte > 127 then counts
    negative. Both checksums are accepted, any other is not."""
    tar = bytearray(make_tar([entry("old", data=b"x")], fmt=tarfile.USTAR_FORMAT))
    tar[265:268] = b"\xe9t\xe9"                      # uname with bytes > 127
    tar[148:156] = b"        "
    signed = sum(tar[:512]) - 2 * sum(b for b in tar[:512] if b > 127)
    tar[148:156] = b"%06o\0 " % signed
    _, members = sanitize(tmp_path, bytes(tar))
    assert members["old"][1] == b"x"
    tar[148:156] = b"%06o\0 " % (signed + 2)
    bad(tmp_path, bytes(tar), r"malformed tar header \(header checksum mismatch\)")
