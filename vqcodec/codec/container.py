"""The .vqc bitstream: a few-byte binary header, then length-prefixed, checksummed records.

    header := "VQ" version:u8 modality:u8 fingerprint:4 params:varint* crc16:u16be
            | "VQ" 9:u8 fingerprint:4 params:varint* crc16:u16be       (speech, compact)
    params  := image (version 1, 2, 4, 5 or 8): width height channels [level, versions 2+]
                                          [colour tile, versions 4+] [flat block, versions 5+]
                                          [detail, version 8]
             | audio (version 1, 3, 6 or 7): rate channels stages chunk_frames [schedule, version 3+]
                                          [share, version 6+] [gain, version 7]
             | audio (version 9): rate_code channels stages*2+schedule share chunk_frames
    record  := varint(len << 1 | last) [varint(extra) if last] payload[len] crc16:u16be

crc16 is CRC-16/CCITT (init 0xFFFF) over every byte before it in the header or the record.
Version 9 is speech with level control written in fewer bytes: no modality byte (the version
says speech), the fields packed (codec/params.py: AudioParams.values) and range-coded payloads
in big-endian words cut short (codec/entropy.py: COMPACT); its records are framed as in every
version.
An image is one record (from version 4 on: the index stream's length as u32le, the index
stream, then the colour correction, vqcodec.codec.colour; in version 5 the colour correction's
length as u32le before it and the flat block map, vqcodec.codec.flat, after it; in version 8 the
flat block map's length as u32le before it too, then the detail layer, vqcodec.codec.detail;
nothing follows the record); audio is one
record per chunk of `chunk_frames` frames, each an independent range-coded stream, the last one
flagged and carrying the stream's total sample count at the original rate as `extra`. A header
is written in the lowest version that holds its params, and read only in that one: any other
version for the same values is malformed, so every stream has one header; the one exception is
speech with level control, which version 7 (written before version 9, still read) and version
9 both hold. The full description is docs/FORMAT.md.
"""

from __future__ import annotations

import binascii
import dataclasses
import struct
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from .. import kinds
from ..errors import BadStreamError, LimitError, TruncatedStreamError
from .params import AudioParams, ImageParams

MAGIC = b"VQ"
VERSION = 9  # the newest version; each stream is written in the lowest that holds it
VERSIONS = (1, 2, 3, 4, 5, 6, 7, 8, 9)
COMPACT = {9: "speech"}  # versions whose header has no modality byte: the version names the kind
FIXED = struct.Struct(">2sBB4s")  # magic, version, modality, fingerprint
MAX_RECORD = 1 << 26  # bytes in one record's payload
MAX_VARINT_BYTES = 9


def crc16(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


def varint(n: int) -> bytes:
    """Unsigned LEB128."""
    if n < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_exact(stream: BinaryIO, n: int, what: str) -> bytes:
    data = stream.read(n)
    if data is None or len(data) < n:
        raise TruncatedStreamError(f"truncated stream: {what} ends early")
    return data


def read_varint(stream: BinaryIO, what: str) -> int:
    """One varint of `what` from `stream`; BadStreamError when it ends early or runs long."""
    return _read_varint(stream, bytearray(), what)


def _read_varint(stream: BinaryIO, raw: bytearray, what: str) -> int:
    value = 0
    for i in range(MAX_VARINT_BYTES):
        byte = _read_exact(stream, 1, what)[0]
        raw.append(byte)
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if i and not byte:  # 0x81 0x00 for 1: every number has one encoding, as varint writes it
                raise BadStreamError(f"malformed stream: {what} has a number in more bytes than it needs")
            return value
    raise BadStreamError(f"malformed stream: {what} has an overlong number")


@dataclass
class Header:
    kind: str  # a registered modality: "image" or "speech"
    fingerprint: bytes  # first 4 bytes of the model fingerprint
    params: ImageParams | AudioParams
    size: int = 0  # bytes on disk, filled in when read

    @property
    def version(self) -> int:
        """The lowest version that holds the parameters (1 for kinds with one layout): the one
        written, and the only one read."""
        return self.params.version() if hasattr(self.params, "version") else 1

    def to_bytes(self) -> bytes:
        if self.version in COMPACT:
            body = MAGIC + bytes([self.version]) + self.fingerprint
        else:
            body = FIXED.pack(MAGIC, self.version, kinds.get(self.kind).code, self.fingerprint)
        body += b"".join(varint(p) for p in self.params.values())
        return body + struct.pack(">H", crc16(body))

    def describe(self) -> dict[str, int | str]:
        out: dict[str, int | str] = {"modality": self.kind, "model": self.fingerprint.hex(),
                                     "version": self.version, "header_bytes": self.size}
        describe = getattr(self.params, "describe", None)
        out.update(describe() if describe else dataclasses.asdict(self.params))
        return out


def read_header(stream: BinaryIO) -> Header:
    """Parse and validate a header; raises BadStreamError with a one-line reason."""
    fixed = stream.read(3)
    if not fixed:
        raise BadStreamError("empty input: not a vqcodec stream")
    if len(fixed) < 3 or fixed[:2] != MAGIC:
        raise BadStreamError("not a vqcodec stream (bad magic bytes)")
    version = fixed[2]
    if version not in VERSIONS:
        raise BadStreamError(f"unsupported stream version {version} (this vqcodec reads "
                             f"{', '.join(map(str, VERSIONS[:-1]))} and {VERSIONS[-1]})")
    raw = bytearray(fixed)
    if version in COMPACT:
        kind = kinds.get(COMPACT[version])
    else:
        raw += _read_exact(stream, 1, "header")
        kind = kinds.by_code(raw[-1])
        if kind is None:
            raise BadStreamError(f"malformed stream: unknown modality {raw[-1]}")
    fingerprint = _read_exact(stream, 4, "header")
    raw += fingerprint
    # a kind whose layout grew with the version counts its fields (and refuses a version it
    # lacks); any other kind has version 1 only
    count = getattr(kind.params, "count", None)
    if count is None and version != 1:
        raise BadStreamError(f"malformed stream: {kind.name} streams have version 1 only, not {version}")
    n = count(version) if count else len(dataclasses.fields(kind.params))
    values = [_read_varint(stream, raw, "header") for _ in range(n)]
    (check,) = struct.unpack(">H", _read_exact(stream, 2, "header"))
    if check != crc16(bytes(raw)):
        raise BadStreamError("corrupt stream: header checksum mismatch")
    # from_header refuses values no writer puts in a header of this version (one header per stream)
    from_header = getattr(kind.params, "from_header", None)
    params = from_header(version, values) if from_header else kind.params(*values)
    return Header(kind.name, fingerprint, params, len(raw) + 2)


@dataclass
class Record:
    payload: bytes
    last: bool
    extra: int
    intact: bool  # checksum matched
    size: int


def record_bytes(payload: bytes, last: bool, extra: int = 0) -> bytes:
    head = varint(len(payload) << 1 | int(last)) + (varint(extra) if last else b"")
    body = head + payload
    return body + struct.pack(">H", crc16(body))


def read_record(stream: BinaryIO, max_payload: int = MAX_RECORD) -> Record:
    """Read one record. A checksum mismatch is reported in `intact`, not raised, so a damaged
    audio chunk can be skipped; a record that cannot be framed raises BadStreamError."""
    raw = bytearray()
    tag = _read_varint(stream, raw, "record")
    length, last = tag >> 1, bool(tag & 1)
    if length > max_payload:
        raise LimitError(f"record of {length} bytes exceeds the limit of {max_payload}")
    extra = _read_varint(stream, raw, "record") if last else 0
    payload = _read_exact(stream, length, "record payload")
    (check,) = struct.unpack(">H", _read_exact(stream, 2, "record checksum"))
    intact = check == crc16(bytes(raw) + payload)
    return Record(payload, last, extra, intact, len(raw) + length + 2)


def audio_records(stream: BinaryIO, params: AudioParams, max_records: int) -> Iterator[Record]:
    """Every record of an audio stream, in order, up to the flagged last one; then checks that
    nothing follows. The one reader of audio records: decoding, `--indices` and `info` use it.

    Raises BadStreamError for framing errors or trailing data and LimitError past `max_records`;
    a record whose checksum fails is yielded with `intact` False (the caller decides)."""
    params.validate()
    count = 0
    while True:
        rec = read_record(stream)
        count += 1
        if count > max_records:
            raise LimitError(f"stream is longer than the limit (more than {max_records} chunks; "
                             "raise it with --max-seconds)")
        yield rec
        if rec.last:
            break
    if stream.read(1):
        raise BadStreamError("trailing data after the end of the audio stream")
