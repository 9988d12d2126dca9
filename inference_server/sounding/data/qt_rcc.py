"""Reader for Qt binary resource bundles (``.rcc``), the format GCompris ships its images and sounds in.

Layout (qtbase ``rcc.cpp``): a ``qres`` header with the offsets of three tables; the tree holds fixed-size entries
(14 bytes in format 1, 22 in 2+) pointing into the names table (UTF-16-BE) and the data table (length-prefixed blobs,
zlib-compressed with a 4-byte size prefix when flag 1 is set, zstd when flag 4 is set)."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

_FLAG_COMPRESSED = 1
_FLAG_DIRECTORY = 2
_FLAG_COMPRESSED_ZSTD = 4


class RccFormatError(ValueError):
    """The file is not a Qt resource bundle this reader understands."""


class RccBundle:
    """The files of one bundle, by their resource path (``"/gcompris/src/activities/.../x.ogg"``)."""

    def __init__(self, data: bytes):
        if data[:4] != b"qres":
            raise RccFormatError("missing 'qres' magic")
        version, self._tree, self._data, self._names = struct.unpack(">IIII", data[4:20])
        self._entry_size = 14 if version == 1 else 22
        self._raw = data
        self._files: dict[str, tuple[int, int]] = {}
        self._walk(0, "")

    @classmethod
    def open(cls, path: Path) -> "RccBundle":
        return cls(Path(path).read_bytes())

    def paths(self) -> list[str]:
        return sorted(self._files)

    def read(self, path: str) -> bytes:
        flags, offset = self._files[path]
        size = struct.unpack(">I", self._raw[self._data + offset: self._data + offset + 4])[0]
        blob = self._raw[self._data + offset + 4: self._data + offset + 4 + size]
        if flags & _FLAG_COMPRESSED:
            return zlib.decompress(blob[4:])
        if flags & _FLAG_COMPRESSED_ZSTD:
            raise RccFormatError(f"{path}: zstd-compressed entries are not supported")
        return blob

    def _name(self, offset: int) -> str:
        start = self._names + offset
        length = struct.unpack(">H", self._raw[start: start + 2])[0]
        return self._raw[start + 6: start + 6 + 2 * length].decode("utf-16-be")

    def _walk(self, index: int, prefix: str) -> None:
        entry = self._tree + index * self._entry_size
        name_offset, flags = struct.unpack(">IH", self._raw[entry: entry + 6])
        path = f"{prefix}/{self._name(name_offset)}" if index else ""
        if flags & _FLAG_DIRECTORY:
            count, first = struct.unpack(">II", self._raw[entry + 6: entry + 14])
            for child in range(first, first + count):
                self._walk(child, path)
        else:
            self._files[path] = (flags, struct.unpack(">I", self._raw[entry + 10: entry + 14])[0])
