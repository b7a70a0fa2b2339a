"""layers.sanitize_layer: every tar entry is checked, and what libostree gets is canonical.

Pure Python (no libostree): crafted tars in, the canonical tar (read back with tarfile) or a
BadImage out.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import os
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syscontainers.errors import BadImage
from syscontainers.images.layers import (BufferedWriter, DiskBudget, check_whiteout_name,
                                         sanitize_layer, tar_header)


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


# --- rarely used tar paths, budgets and boundaries (made precise by `make mutation`) ---------

def _records(**kv) -> bytes:
    out = b""
    for k, v in kv.items():
        body = b" " + k.encode() + b"=" + v + b"\n"
        n = len(body) + 1
        while len(str(n)) + len(body) != n:
            n = len(str(n)) + len(body)
        out += str(n).encode() + body
    return out


def raw_header(name: bytes, typeflag: bytes, size: int = 0, *, linkname: bytes = b"",
               mode: bytes = b"0000644\0", mtime: bytes = b"00000000000\0",
               magic: bytes = b"ustar\x0000", tail: bytes = b"") -> bytes:
    """One tar header block built by hand (so the test does not depend on tar_header)."""
    block = bytearray(512)
    block[0:len(name)] = name
    block[100:108] = mode
    block[108:116] = b"0000000\0"
    block[116:124] = b"0000000\0"
    block[124:136] = b"%011o\0" % size
    block[136:148] = mtime
    block[156:157] = typeflag
    block[157:157 + len(linkname)] = linkname
    block[257:265] = magic
    block[345:345 + len(tail)] = tail
    block[148:156] = b"        "
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def member(name: bytes, typeflag: bytes, data: bytes = b"", **kw) -> bytes:
    """A header and its data padded to whole blocks."""
    return raw_header(name, typeflag, len(data), **kw) + data + b"\0" * (-len(data) % 512)


def pax(records: bytes, typeflag: bytes = b"x") -> bytes:
    return member(b"PaxHeader", typeflag, records)


END = b"\0" * 1024


def exact(tmp_path, blob: bytes, message: str):
    """The whole BadImage message, not just a part of it."""
    with pytest.raises(BadImage) as err:
        sanitize(tmp_path, blob)
    assert str(err.value) == message


def test_mtime_is_kept_for_files_dirs_symlinks_and_hard_links(tmp_path):
    infos = []
    for name, kind, link in (("d", tarfile.DIRTYPE, ""), ("d/f", tarfile.REGTYPE, ""),
                             ("d/s", tarfile.SYMTYPE, "f"), ("d/h", tarfile.LNKTYPE, "d/f")):
        info, data = entry(name, kind, data=b"x" if kind == tarfile.REGTYPE else b"", link=link)
        info.mtime = 1_600_000_000 + len(name)
        infos.append((info, data))
    _, members = sanitize(tmp_path, make_tar(infos))
    assert {n: m.mtime for n, (m, _) in members.items()} == {
        "d": 1_600_000_001, "d/f": 1_600_000_003, "d/s": 1_600_000_003, "d/h": 1_600_000_003}


def test_pax_mtime_size_uid_gid_overrides(tmp_path):
    blob = (pax(_records(mtime=b"1234.75", uid=b"70000000", gid=b"80000000", size=b"3"))
            + member(b"f", b"0", b"abc") + END)
    _, members = sanitize(tmp_path, blob)
    f = members["f"][0]
    assert (f.mtime, f.uid, f.gid, members["f"][1]) == (1234, 70000000, 80000000, b"abc")


def test_pax_size_override_reads_that_many_data_bytes(tmp_path):
    data = b"z" * 700
    blob = pax(_records(size=b"700")) + raw_header(b"f", b"0", 0) + data + b"\0" * 324 + END
    _, members = sanitize(tmp_path, blob)
    assert members["f"][1] == data and members["f"][0].size == 700


@pytest.mark.parametrize("records, message", [
    (b"5 a=\n", None),                                        # a valid record
    (_records(path=b""), "layer L: entry '.' is a file, not a directory"),
    (b"0 a=b\n", "layer L: malformed pax header (malformed pax record)"),
    (b"99 a=b\n", "layer L: malformed pax header (malformed pax record)"),
    (b"6 a=b\0", "layer L: malformed pax header (malformed pax record)"),
    (b"6 abc\n", "layer L: malformed pax header (malformed pax record)"),
    (b"6 ab=\n7 cd=\n", "layer L: malformed pax header (malformed pax record)"),
    (_records(uid=b"x"), "layer L: malformed pax header value"),
    (_records(size=b"-1"), "layer L: malformed pax header value"),
    (_records(uid=b"4294967296"), "layer L: malformed pax header value"),
    (_records(gid=b"4294967296"), "layer L: malformed pax header value"),
    (_records(gid=b"-1"), "layer L: malformed pax header value"),
    (_records(uid=b"-1") + b"\0\0\0", "layer L: malformed pax header value"),
    (_records(mtime=b"1.x"), "layer L: malformed pax header value"),
])
def test_pax_record_parsing(tmp_path, records, message):
    blob = pax(records) + member(b"f", b"0", b"1") + END
    if message is None:
        _, members = sanitize(tmp_path, blob)
        assert members["f"][1] == b"1"
    else:
        exact(tmp_path, blob, message)


def test_pax_ids_at_the_32_bit_limit_and_nul_padding_are_accepted(tmp_path):
    blob = (pax(_records(uid=b"4294967295", gid=b"4294967295") + b"\0" * 40)
            + member(b"f", b"0", b"1") + END)
    _, members = sanitize(tmp_path, blob)
    assert (members["f"][0].uid, members["f"][0].gid) == (4294967295, 4294967295)


def test_negative_pax_mtime_is_written_as_zero_and_huge_as_the_octal_maximum(tmp_path):
    blob = (pax(_records(mtime=b"-5")) + member(b"a", b"0", b"1")
            + pax(_records(mtime=b"99999999999999")) + member(b"b", b"0", b"2") + END)
    _, members = sanitize(tmp_path, blob)
    assert members["a"][0].mtime == 0 and members["b"][0].mtime == 0o77777777777


def test_pax_header_at_the_end_of_the_stream_is_truncation(tmp_path):
    exact(tmp_path, pax(_records(path=b"f")), "layer L: tar stream is truncated")


def test_extension_header_size_limit_is_one_mib(tmp_path):
    comment = b"c" * ((1 << 20) - 20)
    rec = _records(comment=comment)
    rec += b"\0" * ((1 << 20) - len(rec))                    # exactly 1 MiB: accepted
    blob = pax(rec) + member(b"f", b"0", b"1") + END
    _, members = sanitize(tmp_path, blob)
    assert members["f"][1] == b"1"
    exact(tmp_path, pax(rec + b"\0") + member(b"f", b"0", b"1") + END,
          "layer L: tar extension header is too large")


def test_gnu_long_name_and_long_link_headers(tmp_path):
    name = b"n" * 150
    link = b"t" * 120
    blob = (member(b"t" * 100, b"0", b"T")    # not the target: the long link names 120 t's
            + member(b"././@LongLink", b"L", link + b"\0gar\0bage") + member(link[:100], b"0", b"X")
            + member(b"././@LongLink", b"L", name + b"\0") + member(b"short", b"2", linkname=b"x")
            + member(b"././@LongLink", b"K", link + b"\0ju\0nk") + member(b"h", b"1", linkname=b"t"))
    _, members = sanitize(tmp_path, blob + END)
    assert members[link.decode()][1] == b"X"
    assert members[name.decode()][0].issym() and members[name.decode()][0].linkname == "x"
    assert members["h"][0].islnk() and members["h"][0].linkname == link.decode()


def test_gnu_long_name_followed_by_end_of_stream_is_truncation(tmp_path):
    exact(tmp_path, member(b"././@LongLink", b"L", b"x\0"), "layer L: tar stream is truncated")


def test_global_pax_records_are_not_applied_to_the_entry(tmp_path):
    blob = pax(_records(uid=b"77", mtime=b"55"), b"g") + member(b"f", b"0", b"1") + END
    _, members = sanitize(tmp_path, blob)
    assert (members["f"][0].uid, members["f"][0].mtime) == (0, 0)


def test_global_pax_header_with_sparse_records_is_refused(tmp_path):
    exact(tmp_path, pax(_records(**{"GNU.sparse.size": b"5"}), b"g") + member(b"f", b"0") + END,
          "layer L: sparse files are not supported")


def test_old_style_entries_a_nul_typeflag_and_a_trailing_slash_is_a_directory(tmp_path):
    blob = (member(b"d/", b"\0", magic=b"\0" * 8) + member(b"d/f", b"\0", b"abc", magic=b"\0" * 8)
            + member(b"c", b"7", b"cont") + END)
    summary, members = sanitize(tmp_path, blob)
    assert members["d"][0].isdir() and members["d/f"][1] == b"abc"
    assert members["c"][1] == b"cont" and members["c"][0].isreg()
    assert summary.entries == 3 and summary.autocreated == []


def test_gnu_header_fields_past_the_name_are_not_a_ustar_prefix(tmp_path):
    """GNU tars ("ustar  \\0") keep atime/ctime where ustar has the prefix."""
    blob = member(b"f", b"0", b"1", magic=b"ustar  \0", tail=b"01234567012") + END
    _, members = sanitize(tmp_path, blob)
    assert set(members) == {"f"}
    blob = member(b"f", b"0", b"1", tail=b"pre") + END                  # real ustar prefix
    _, members = sanitize(tmp_path, blob)
    assert set(members) == {"pre", "pre/f"}


def test_octal_fields_with_spaces_and_empty_fields(tmp_path):
    blob = member(b"f", b"0", b"1", mode=b" 0640 \0\0", mtime=b"\0" * 12) + END
    _, members = sanitize(tmp_path, blob)
    assert members["f"][0].mode == 0o640 and members["f"][0].mtime == 0


def test_base256_mtime(tmp_path):
    blob = member(b"f", b"0", b"1", mtime=b"\x80" + (1_700_000_000).to_bytes(11, "big")) + END
    _, members = sanitize(tmp_path, blob)
    assert members["f"][0].mtime == 1_700_000_000


def test_name_of_255_bytes_passes_256_bytes_is_refused(tmp_path):
    ok = "é" * 127 + "x"                                   # 255 bytes, 128 characters
    _, members = sanitize(tmp_path, make_tar([entry("d/" + ok, data=b"1")]))
    assert members["d/" + ok][1] == b"1"
    long = "é" * 128                                       # 256 bytes, 128 characters
    exact(tmp_path, make_tar([entry("d/" + long, data=b"1")]),
          f"layer L: entry {'d/' + long!r} has a name longer than 255 bytes")


def test_256_levels_pass_257_are_refused(tmp_path):
    ok = "/".join(["a"] * 256)
    _, members = sanitize(tmp_path, make_tar([entry(ok, data=b"1")]))
    assert members[ok][1] == b"1"
    deep = ok + "/b"
    exact(tmp_path, make_tar([entry(deep, data=b"1")]),
          f"layer L: entry {deep[:60]!r}... is nested deeper than 256 levels")


def test_messages_name_the_entry_or_the_link_target(tmp_path):
    exact(tmp_path, make_tar([entry("a/../b", data=b"1")]), "layer L: entry 'a/../b' contains '..'")
    exact(tmp_path, make_tar([entry("a", data=b"1"), entry("h", tarfile.LNKTYPE, link="x/../a")]),
          "layer L: hard link target 'x/../a' contains '..'")
    exact(tmp_path, member(b"h", b"1", linkname=b"\xff") + END,
          "layer L: hard link target name b'\\xff' is not valid UTF-8")
    exact(tmp_path, member(b"\xfe", b"0") + END, "layer L: entry name b'\\xfe' is not valid UTF-8")
    exact(tmp_path, make_tar([entry("b", tarfile.LNKTYPE, link="a")]),
          "layer L: hard link 'b' points to 'a', which is not an earlier file of this layer")
    exact(tmp_path, make_tar([entry("b", tarfile.LNKTYPE, link="./")]),
          "layer L: hard link 'b' points to '', which is not an earlier file of this layer")
    exact(tmp_path, member(b"s", b"2", linkname=b"\xff") + END,
          "layer L: symlink 's' has a target that is not valid UTF-8")


def test_messages_for_kind_changes_and_paths_through_non_directories(tmp_path):
    exact(tmp_path, make_tar([entry("d", tarfile.DIRTYPE), entry("d", data=b"x")]),
          "layer L: entry 'd' changes from dir to file within the layer")
    exact(tmp_path, make_tar([entry("f", data=b"x"), entry("f", tarfile.DIRTYPE)]),
          "layer L: entry 'f' changes from file to dir within the layer")
    exact(tmp_path, make_tar([entry("s", tarfile.SYMTYPE, link="t"), entry("s/x/y", data=b"1")]),
          "layer L: entry 's/x' goes through 's', which is not a directory (symlink)")
    exact(tmp_path, make_tar([entry("n", tarfile.FIFOTYPE), entry("n/x", data=b"1")]),
          "layer L: entry 'n/x' goes through 'n', which is not a directory (skip)")
    exact(tmp_path, make_tar([entry("e/.wh.x", tarfile.DIRTYPE)]),
          "layer L: whiteout 'e/.wh.x' must be a regular file, not a dir")
    exact(tmp_path, make_tar([entry("e/.wh.x/y", data=b"1")]),
          "layer L: whiteout 'e/.wh.x' must be a regular file, not a dir")
    exact(tmp_path, make_tar([entry("e/.wh.", data=b"1")]),
          "layer L: entry 'e/.wh.': invalid whiteout name '.wh.'")
    exact(tmp_path, make_tar([entry("e/.wh.../y", data=b"1")]),
          "layer L: entry 'e/.wh...': invalid whiteout name '.wh...'")


def test_a_file_or_symlink_may_replace_a_file_or_symlink(tmp_path):
    tar = make_tar([entry("a", data=b"1"), entry("a", tarfile.SYMTYPE, link="b"),
                    entry("a", data=b"2"), entry("d", tarfile.DIRTYPE), entry("d", tarfile.DIRTYPE)])
    summary, _ = sanitize(tmp_path, tar)
    assert summary.entries == 5


def test_hard_links_to_symlinks_and_whiteout_named_links(tmp_path):
    tar = make_tar([entry("s", tarfile.SYMTYPE, link="t"), entry("h", tarfile.LNKTYPE, link="s"),
                    entry("f", data=b"1"), entry("e/.wh.f", tarfile.LNKTYPE, link="f")])
    summary, members = sanitize(tmp_path, tar)
    assert members["h"][0].islnk() and members["h"][0].linkname == "s"
    assert members["e/.wh.f"][0].linkname == "f" and summary.entries == 4
    exact(tmp_path, make_tar([entry("s", tarfile.SYMTYPE, link="t"),
                              entry(".wh.s", tarfile.LNKTYPE, link="s")]),
          "layer L: whiteout '.wh.s' must be a regular file, not a symlink")
    exact(tmp_path, make_tar([entry("s", tarfile.SYMTYPE, link="t"),
                              entry(".wh..wh.s", tarfile.LNKTYPE, link="s")]),
          "layer L: entry '.wh..wh.s': invalid whiteout name '.wh..wh.s'")
    exact(tmp_path, make_tar([entry("d", tarfile.DIRTYPE), entry("x", data=b"1"),
                              entry("x", tarfile.LNKTYPE, link="d")]),
          "layer L: hard link 'x' points to 'd', which is not an earlier file of this layer")


def test_hard_link_header_carries_only_name_target_and_mtime(tmp_path):
    f, data = entry("f", data=b"1", mode=0o4755, uid=5, gid=6)
    h, _ = entry("h", tarfile.LNKTYPE, link="f", mode=0o4755, uid=5, gid=6)
    h.mtime = 42
    _, members = sanitize(tmp_path, make_tar([(f, data), (h, b"")]))
    m = members["h"][0]
    assert (m.mode, m.uid, m.gid, m.size, m.mtime) == (0, 0, 0, 0, 42)


@pytest.mark.parametrize("typeflag", [b"V", b"S", b"M", b"A"])
def test_unsupported_entry_types_are_refused_with_their_flag(tmp_path, typeflag):
    exact(tmp_path, member(b"x", typeflag) + END,
          f"layer L: entry 'x' has an unsupported type {typeflag!r}")
    exact(tmp_path, member(b"./", typeflag) + END,
          f"layer L: entry '.' has an unsupported type {typeflag!r}")


def test_root_entries_that_are_not_directories(tmp_path):
    exact(tmp_path, member(b"./", b"0", b"1") + END, "layer L: entry '.' is a file, not a directory")
    exact(tmp_path, member(b".", b"1", linkname=b"a") + END,
          "layer L: entry '.' is a hardlink, not a directory")
    exact(tmp_path, member(b"/", b"3") + END, "layer L: entry '.' is a device, not a directory")
    summary, members = sanitize(tmp_path, member(b"./", b"5") + member(b"/", b"5") + END)
    assert summary.entries == 0 and members == {}


def test_device_with_a_size_field_has_no_data_to_skip(tmp_path):
    blob = member(b"dev/null", b"3") + member(b"f", b"0", b"1") + END
    summary, members = sanitize(tmp_path, blob)
    assert summary.skipped == ["dev/null"] and members["f"][1] == b"1"
    assert summary.autocreated == ["dev"] and summary.entries == 1


def test_user_mode_clears_setid_and_gives_the_owner_access(tmp_path):
    tar = make_tar([entry("d", tarfile.DIRTYPE, mode=0o2055), entry("d/g", data=b"x", mode=0o2044),
                    entry("d/s", tarfile.SYMTYPE, link="g", mode=0o4000),
                    entry("d/t", tarfile.DIRTYPE, mode=0o1000)])
    _, user = sanitize(tmp_path, tar, strip_setid=True)
    assert {n: m.mode for n, (m, _) in user.items()} == {
        "d": 0o755, "d/g": 0o644, "d/s": 0o777, "d/t": 0o1700}
    _, system = sanitize(tmp_path, tar)
    assert {n: m.mode for n, (m, _) in system.items()} == {
        "d": 0o2055, "d/g": 0o2044, "d/s": 0o777, "d/t": 0o1000}


def test_mode_high_bits_are_dropped(tmp_path):
    blob = member(b"f", b"0", b"1", mode=b"0107755\0") + END
    _, members = sanitize(tmp_path, blob)
    assert members["f"][0].mode == 0o7755


def _sanitize_limited(tmp_path, blob: bytes, max_tar_size, budget=None):
    path = tmp_path / "blob"
    path.write_bytes(blob)
    return sanitize_layer(path, lambda data: None, label="L", max_tar_size=max_tar_size,
                          budget=budget)


def test_max_tar_size_is_inclusive(tmp_path):
    tar = make_tar([entry("f", data=b"1" * 3000)])
    for blob in (tar, gzip.compress(tar)):
        assert _sanitize_limited(tmp_path, blob, len(tar)).uncompressed_size == len(tar)
        with pytest.raises(BadImage) as err:
            _sanitize_limited(tmp_path, blob, len(tar) - 1)
        assert str(err.value) == ("layer L unpacks to more than the 0 MiB free on the "
                                  "repository's disk")


def test_budget_message_names_free_space_and_reserve(tmp_path):
    tar = make_tar([entry("f", data=b"1" * (3 << 20))])
    budget = DiskBudget(free=12 << 20, reserve=10 << 20)
    assert budget.limit == 2 << 20
    assert DiskBudget(free=5, reserve=5).limit == 0 and DiskBudget(free=4, reserve=5).limit == 0
    with pytest.raises(BadImage) as err:
        _sanitize_limited(tmp_path, gzip.compress(tar), budget.limit, budget)
    assert str(err.value) == (
        "layer L unpacks to more than the 2 MiB the repository may use: its disk has 12 MiB "
        "free and keeps a reserve of 10 MiB (free some space or use a larger disk)")


def test_gzip_stream_errors_are_one_clear_line(tmp_path):
    tar = make_tar([entry("f", data=bytes(range(256)) * 40)])
    blob = gzip.compress(tar)
    exact(tmp_path, blob[:len(blob) // 2], "layer L: compressed stream is truncated")
    corrupt = bytearray(blob)
    corrupt[3] = 0xFF                                        # reserved flag bits set
    with pytest.raises(BadImage) as err:
        sanitize(tmp_path, bytes(corrupt))
    assert str(err.value).startswith("layer L: corrupt gzip stream (")
    exact(tmp_path, b"\x1f\x8b", "layer L: compressed stream is truncated")


def test_empty_blob_and_empty_gzip_are_empty_layers(tmp_path):
    for blob in (b"", gzip.compress(b"")):
        summary, members = sanitize(tmp_path, blob)
        assert members == {} and summary.entries == 0 and summary.uncompressed_size == 0
        assert summary.size == len(blob)


def test_large_layer_read_in_many_chunks_keeps_every_byte(tmp_path):
    """More than READ_CHUNK / INFLATE_CHUNK: the reader's buffer is compacted on the way."""
    import random
    rnd = random.Random(7)
    files = [(f"f{i}", rnd.randbytes(rnd.randrange(1, 900_000))) for i in range(5)]
    tar = make_tar([entry(n, data=d) for n, d in files])
    for blob in (tar, gzip.compress(tar, compresslevel=1)):
        summary, members = sanitize(tmp_path, blob)
        assert {n: members[n][1] for n, _ in files} == dict(files)
        assert summary.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
        assert summary.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
        assert summary.size == len(blob) and summary.uncompressed_size == len(tar)


def test_canonical_tar_layout(tmp_path):
    """Data padded to 512 bytes, two zero blocks at the end, nothing after them."""
    path = tmp_path / "blob"
    path.write_bytes(make_tar([entry("f", data=b"abc")]))
    out = bytearray()
    sanitize_layer(path, out.extend, label="L")
    assert len(out) == 512 + 512 + 1024
    assert out[512:515] == b"abc" and out[515:] == bytes(512 - 3 + 1024)


def test_tar_header_uses_pax_only_past_the_ustar_limits():
    assert len(tar_header(b"n" * 100, 0o644, 0o7777777, 0o7777777, 0o77777777777, 0, b"0",
                          b"l" * 100)) == 512
    for kw in ({"name": b"n" * 101}, {"linkname": b"l" * 101}, {"uid": 0o7777777 + 1},
               {"gid": 0o7777777 + 1}, {"size": 0o77777777777 + 1}):
        args = dict(name=b"n", mode=0o644, uid=0, gid=0, size=0, mtime=0, typeflag=b"0",
                    linkname=b"")
        args.update(kw)
        head = tar_header(**args)
        assert len(head) == 512 * 3
        with tarfile.open(fileobj=io.BytesIO(head + END), mode="r|") as tf:
            info = tf.next()
            key = next(iter(kw))
            got = {"name": info.name.encode(), "linkname": info.linkname.encode(),
                   "uid": info.uid, "gid": info.gid, "size": info.size}[key]
            assert got == kw[key]
        assert head[156:157] == b"x" and head[:10] == b"PaxHeader\0"
        ext = tarfile.TarInfo.frombuf(head[:512], "utf-8", "strict")
        assert (ext.mode, ext.uid, ext.gid, ext.mtime, ext.linkname) == (0o644, 0, 0, 0, "")


def test_tar_header_fields_are_ustar():
    block = tar_header(b"f", 0o104755, 1, 2, 3, -7, b"0")
    info = tarfile.TarInfo.frombuf(block, "utf-8", "strict")
    assert (info.mode, info.uid, info.gid, info.size, info.mtime) == (0o4755, 1, 2, 3, 0)
    assert block[257:265] == b"ustar\x0000" and block[265:345] == bytes(80)
    assert block[345:] == bytes(167)
    assert tarfile.TarInfo.frombuf(tar_header(b"f", 0, 0, 0, 0, 1 << 40, b"0"), "utf-8",
                                   "strict").mtime == 0o77777777777


@pytest.mark.parametrize("length", [101, 102, *range(986, 996)])
def test_pax_record_lengths_around_a_new_digit(length):
    """A record's length counts its own digits: 3 -> 4 digits happens near a 990-byte name."""
    name = b"p" * length
    head = tar_header(name, 0o644, 0, 0, 0, 0, b"0")
    record = head[512:].split(b"\n", 1)[0] + b"\n"
    assert record == b"%d path=%s\n" % (len(record), name)
    with tarfile.open(fileobj=io.BytesIO(head + END), mode="r|") as tf:
        assert tf.next().name.encode() == name


def test_buffered_writer_batches_small_writes_and_passes_big_ones(tmp_path):
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        w = BufferedWriter(fd, batch=10)
        w(b"abc")
        w(memoryview(b"def"))
        assert path.read_bytes() == b""                      # held back
        w(b"ghij")                                           # reaches the batch: written
        assert path.read_bytes() == b"abcdefghij"
        w(b"k")
        w(b"0123456789")                                     # big: the small one goes first
        assert path.read_bytes() == b"abcdefghijk0123456789"
        w(b"z")
        w.flush()
        w.flush()
        assert path.read_bytes() == b"abcdefghijk0123456789z"
    finally:
        os.close(fd)
    assert BufferedWriter(1).batch == 1 << 18


def test_pax_value_may_contain_equals_signs(tmp_path):
    blob = pax(_records(path=b"a=b=c")) + member(b"x", b"0", b"1") + END
    _, members = sanitize(tmp_path, blob)
    assert set(members) == {"a=b=c"}


def test_canonical_headers_directories_end_in_a_slash_files_have_no_link(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(make_tar([entry("d/e", tarfile.DIRTYPE), entry("d/f", data=b"1"),
                               entry("d/g", data=b"2")]))
    out = bytearray()
    sanitize_layer(path, out.extend, label="L")
    with tarfile.open(fileobj=io.BytesIO(bytes(out)), mode="r:") as tf:
        got = [(m.name, m.type, m.linkname, m.uid, m.gid, m.size, m.mtime, m.mode)
               for m in tf.getmembers()]
    assert got == [("d", tarfile.DIRTYPE, "", 0, 0, 0, 0, 0o755),      # autocreated, once
                   ("d/e", tarfile.DIRTYPE, "", 0, 0, 0, 0, 0o755),
                   ("d/f", tarfile.REGTYPE, "", 0, 0, 1, 0, 0o644),
                   ("d/g", tarfile.REGTYPE, "", 0, 0, 1, 0, 0o644)]
    assert out[0:2] == b"d/" and out[512:516] == b"d/e/"


def test_autocreated_parent_may_not_become_a_file(tmp_path):
    exact(tmp_path, make_tar([entry("a/x", data=b"1"), entry("a", data=b"2")]),
          "layer L: entry 'a' changes from dir to file within the layer")


def test_a_zlib_stream_after_a_gzip_member_is_corrupt(tmp_path):
    import zlib
    tar = make_tar([entry("a", data=b"1" * 5000)])
    blob = gzip.compress(tar[:1024]) + zlib.compress(tar[1024:])
    with pytest.raises(BadImage, match=r"^layer L: corrupt gzip stream \("):
        sanitize(tmp_path, blob)


def test_pieces_handed_on_are_bounded_by_the_read_and_inflate_chunks(tmp_path):
    """docs: a layer is streamed, never held whole: 1 MiB reads, 4 MiB of inflated data."""
    tar = make_tar([entry("zeros", data=bytes(18 << 20))])
    for blob, chunk in ((tar, 1 << 20), (gzip.compress(tar, compresslevel=1), 4 << 20)):
        path = tmp_path / "blob"
        path.write_bytes(blob)
        pieces = []
        sanitize_layer(path, lambda data: pieces.append(len(data)), label="L")
        assert max(pieces) == chunk and sum(pieces) == 512 + (18 << 20) + 1024


def test_gzip_member_ending_exactly_at_a_read_chunk(tmp_path):
    """The next member starts with a fresh read, not in the left-over bytes."""
    import random
    tar = make_tar([entry("r", data=random.Random(3).randbytes(1_200_000))])
    k = (1 << 20) - 200
    while len(gzip.compress(tar[:k], compresslevel=0)) < 1 << 20:
        k += 1
    first = gzip.compress(tar[:k], compresslevel=0)
    assert len(first) == 1 << 20
    blob = first + gzip.compress(tar[k:])
    summary, members = sanitize(tmp_path, blob)
    assert len(members["r"][1]) == 1_200_000
    assert summary.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert summary.size == len(blob)


def test_buffered_writer_finishes_a_write_a_signal_cut_short():
    """A signal during a blocking write makes os.write return a partial count: the rest
    must still be written. The pipe is full before the signal, so the write is blocked."""
    import fcntl
    import signal
    import termios
    import threading
    import time
    r, w = os.pipe()
    main = threading.get_ident()
    data = bytes(range(256)) * (16 << 10)                       # 4 MiB
    got = bytearray()

    def reader():
        capacity = fcntl.fcntl(r, fcntl.F_GETPIPE_SZ)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            queued = int.from_bytes(fcntl.ioctl(r, termios.FIONREAD, b"\0" * 4), "little")
            if queued >= capacity:
                break
            time.sleep(0.01)
        signal.pthread_kill(main, signal.SIGUSR1)
        while chunk := os.read(r, 1 << 16):
            got.extend(chunk)

    old = signal.signal(signal.SIGUSR1, lambda *_: None)
    t = threading.Thread(target=reader)
    try:
        t.start()
        BufferedWriter(w, batch=16)(data)
    finally:
        os.close(w)
        t.join()
        os.close(r)
        signal.signal(signal.SIGUSR1, old)
    assert bytes(got) == data


def test_non_regular_entries_have_no_data_whatever_their_size_field_says(tmp_path):
    blob = (member(b"d/", b"5") [:124] + b"%011o\0" % 512 + member(b"d/", b"5")[136:])
    blob = bytearray(blob)
    blob[148:156] = b"        "
    blob[148:156] = b"%06o\0 " % sum(blob)
    blob = bytes(blob) + member(b"d/f", b"0", b"1") + END
    _, members = sanitize(tmp_path, blob)
    assert members["d"][0].isdir() and members["d"][0].size == 0 and members["d/f"][1] == b"1"


def test_hard_link_to_a_skipped_device_is_skipped_too_and_stays_a_non_directory(tmp_path):
    tar = make_tar([entry("null", tarfile.CHRTYPE), entry("h", tarfile.LNKTYPE, link="null"),
                    entry("h2", tarfile.LNKTYPE, link="h")])
    summary, members = sanitize(tmp_path, tar)
    assert summary.skipped == ["null", "h", "h2"] and members == {}
    exact(tmp_path, make_tar([entry("null", tarfile.CHRTYPE),
                              entry("h", tarfile.LNKTYPE, link="null"), entry("h/x", data=b"1")]),
          "layer L: entry 'h/x' goes through 'h', which is not a directory (skip)")


def _with_field(block: bytes, start: int, value: bytes, checksum: bytes | None = None,
                signed: bool = False) -> bytes:
    """Set one header field and recompute the checksum (unsigned, or as old signed tars)."""
    b = bytearray(block)
    b[start:start + len(value)] = value
    b[148:156] = b"        "
    total = sum(b[:512]) - (2 * sum(x for x in b[:512] if x > 127) if signed else 0)
    b[148:156] = (checksum or b"%06o\0 ") % total
    return bytes(b)


def test_base256_fields_use_every_byte(tmp_path):
    f = member(b"f", b"0", b"1")
    # the 0x81 lead byte carries value bits: this uid is far past 32 bits
    exact(tmp_path, _with_field(f, 108, b"\x81" + bytes(6) + b"\x05") + END,
          "layer L: malformed pax header value")
    _, members = sanitize(tmp_path, _with_field(f, 136, b"\x80\x01" + bytes(10)) + END)
    assert members["f"][0].mtime == 0o77777777777                      # 2**80: clamped
    exact(tmp_path, _with_field(f, 136, b"\xff" + bytes(11)) + END,
          "layer L: malformed tar header (negative number)")


def test_checksum_fields_of_other_writers(tmp_path):
    high = b"\xff" * 80                                  # GNU: uname/gname/atime ignored here
    gnu = member(b"f", b"0", b"1", magic=b"ustar  \0")
    blob = _with_field(gnu, 265, high)                   # checksum >= 0o100000: 6 digits
    _, members = sanitize(tmp_path, blob + END)
    assert members["f"][1] == b"1"
    seven = _with_field(gnu, 265, b"x", checksum=b"%07o ")   # 7 digits and a space, no NUL
    _, members = sanitize(tmp_path, seven + END)
    assert members["f"][1] == b"1"
    b = bytearray(_with_field(gnu, 265, b"\xe9" * 4))
    b[148:156] = b"        "
    signed = sum(b[:512]) - 2 * sum(x for x in b[:512] if x > 127)
    b[148:156] = b"\x80" + signed.to_bytes(7, "big")     # a base-256 checksum, signed sum
    _, members = sanitize(tmp_path, bytes(b) + END)
    assert members["f"][1] == b"1"


def test_signed_checksum_counts_the_type_flag_byte(tmp_path):
    blob = _with_field(member(b"x", b"0"), 156, b"\xe9", signed=True)
    exact(tmp_path, blob + END, "layer L: entry 'x' has an unsupported type b'\\xe9'")


def test_hard_link_is_a_file_for_later_entries(tmp_path):
    exact(tmp_path, make_tar([entry("f", data=b"1"), entry("h", tarfile.LNKTYPE, link="f"),
                              entry("h/x", data=b"1")]),
          "layer L: entry 'h/x' goes through 'h', which is not a directory (file)")


def test_stream_ending_exactly_after_a_header(tmp_path):
    summary, members = sanitize(tmp_path, member(b"d/", b"5"))
    assert members["d"][0].isdir() and summary.entries == 1


def test_signed_checksum_counts_bytes_from_128_up(tmp_path):
    blob = _with_field(member(b"f", b"0", b"1"), 265, b"\x7f\x80\xe9", signed=True)
    _, members = sanitize(tmp_path, blob + END)
    assert members["f"][1] == b"1"


def test_full_width_fields(tmp_path):
    """Fields that use every byte (no NUL) end at their own width."""
    prefix = b"p" * 155
    blob = _with_field(member(b"f", b"0", b"1"), 345, prefix + b"z")    # a byte in the padding
    _, members = sanitize(tmp_path, blob + END)
    assert set(members) == {"p" * 155, "p" * 155 + "/f"}
    blob = _with_field(member(b"f", b"0", b"1"), 100, b"00000644")
    blob = _with_field(blob, 124, b"000000000001")
    _, members = sanitize(tmp_path, blob + END)
    assert members["f"][0].mode == 0o644 and members["f"][1] == b"1"
    tar = make_tar([entry("s", tarfile.SYMTYPE, link="t" * 100)], fmt=tarfile.USTAR_FORMAT)
    _, members = sanitize(tmp_path, tar)
    assert members["s"][0].linkname == "t" * 100


def test_base256_mode_and_size(tmp_path):
    blob = _with_field(member(b"f", b"0", b"abc"), 100, b"\x80" + bytes(5) + (0o644).to_bytes(2, "big"))
    blob = _with_field(blob, 124, b"\x80" + bytes(10) + b"\x03")
    _, members = sanitize(tmp_path, blob + END)
    assert members["f"][0].mode == 0o644 and members["f"][1] == b"abc"


def test_unsupported_compression_messages_are_exact(tmp_path):
    exact(tmp_path, b"\x28\xb5\x2f\xfd" + bytes(100),
          "layer L is zstd-compressed; only gzip and uncompressed layers are supported")
    exact(tmp_path, bz2.compress(b"x"),
          "layer L is bzip2-compressed; only gzip and uncompressed layers are supported")


def test_setid_bits_are_kept_unless_asked(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(make_tar([entry("su", data=b"x", mode=0o4750)]))
    out = bytearray()
    sanitize_layer(path, out.extend, label="L")                # strip_setid defaults to False
    assert tarfile.TarInfo.frombuf(bytes(out[:512]), "utf-8", "strict").mode == 0o4750
