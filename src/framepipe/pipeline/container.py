"""What a video file's container declares about its own length, to tell a cut-off file apart.

OpenCV reports the end of a cut-off file exactly as the end of a complete one: ``read()`` fails,
``CAP_PROP_POS_FRAMES`` equals the frames decoded, and FFmpeg's "File ended prematurely" is a log
line only. Frame counts cannot tell either: Matroska stores none (OpenCV's figure is duration x
nominal rate, wrong for a variable frame rate or an audio track that runs longer), and an MP4
with an edit list counts samples that are never shown. What does tell is the container's own
structure: RIFF (AVI), ISO base media (MP4, MOV) and Matroska (MKV, WebM) state the byte length
of their top-level parts, so a file shorter than that was cut off. Other formats (MPEG-TS, a
Matroska file written live with unknown sizes) do not say, and are never called cut off.
"""

from __future__ import annotations

import os
from typing import BinaryIO

__all__ = ["declared_length", "is_cut_off"]

# ISO base media files start with one of these boxes.
_ISO_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"}
_EBML_HEADER_ID = 0x1A45DFA3
_MATROSKA_SEGMENT_ID = 0x18538067
# Fragmented MP4 has two boxes per fragment; a bound keeps a malformed file from taking long.
_MAX_TOP_LEVEL_PARTS = 1_000_000


def is_cut_off(path: str | os.PathLike[str]) -> bool:
    """True when the file is shorter than its container declares; False when it is complete or
    its format does not say (or the file cannot be read)."""
    try:
        declared = declared_length(path)
        return declared is not None and os.path.getsize(path) < declared
    except OSError:
        return False


def declared_length(path: str | os.PathLike[str]) -> int | None:
    """The byte length the container's top-level structure adds up to; None when the format is
    not one of RIFF, ISO base media or Matroska, or its sizes are left open."""
    with open(path, "rb") as file:
        head = file.read(12)
        if head[:4] == b"RIFF":
            return _riff_length(file)
        if head[4:8] in _ISO_FIRST_BOXES:
            return _iso_length(file)
        if head[:4] == _EBML_HEADER_ID.to_bytes(4, "big"):
            return _matroska_length(file)
    return None


def _riff_length(file: BinaryIO) -> int | None:
    """RIFF chunks back to back (an AVI over 1 GB continues in ``RIFF AVIX`` chunks)."""
    position = 0
    for _ in range(_MAX_TOP_LEVEL_PARTS):
        file.seek(position)
        header = file.read(8)
        if len(header) < 8 or header[:4] != b"RIFF":
            return position
        size = int.from_bytes(header[4:8], "little")
        if size == 0:
            return None  # a writer that never finished the header
        position += 8 + size + (size & 1)
    return None


def _iso_length(file: BinaryIO) -> int | None:
    """Top-level boxes back to back; a box of size 0 runs to the end of the file."""
    position = 0
    for _ in range(_MAX_TOP_LEVEL_PARTS):
        file.seek(position)
        header = file.read(8)
        if len(header) < 8:
            return position if not header else position + 8
        size = int.from_bytes(header[:4], "big")
        header_size = 8
        if size == 1:  # a 64-bit size follows the type
            large = file.read(8)
            if len(large) < 8:
                return position + 16
            size, header_size = int.from_bytes(large, "big"), 16
        if size == 0:
            return None  # "to the end of the file": no length declared
        if size < header_size:
            return None  # not a box: the format guess was wrong, or the file is garbage
        position += size
    return None


def _matroska_length(file: BinaryIO) -> int | None:
    """The EBML header, then the Segment whose size covers the rest of the file."""
    file.seek(0)
    if _read_id(file) != _EBML_HEADER_ID:
        return None
    header_size = _read_size(file)
    if header_size is None:
        return None
    file.seek(header_size, os.SEEK_CUR)
    if _read_id(file) != _MATROSKA_SEGMENT_ID:
        return None
    segment_size = _read_size(file)
    if segment_size is None:
        return None  # written live: the size was left "unknown"
    return file.tell() + segment_size


def _read_vint(file: BinaryIO) -> tuple[int, int] | None:
    """An EBML variable-length integer: (value with the length marker kept, its length)."""
    first = file.read(1)
    if not first or first[0] == 0:
        return None
    length = 9 - first[0].bit_length()
    rest = file.read(length - 1)
    if len(rest) < length - 1:
        return None
    return int.from_bytes(first + rest, "big"), length


def _read_id(file: BinaryIO) -> int | None:
    vint = _read_vint(file)
    return None if vint is None else vint[0]


def _read_size(file: BinaryIO) -> int | None:
    """An element's data size; None when unreadable or "unknown" (all value bits set)."""
    vint = _read_vint(file)
    if vint is None:
        return None
    raw, length = vint
    value = raw & ((1 << (7 * length)) - 1)
    return None if value == (1 << (7 * length)) - 1 else value
