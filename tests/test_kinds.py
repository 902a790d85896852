"""The modality registry: every kind provides the whole interface, and the code outside
vqcodec/kinds reaches a kind only through the registry (a new kind needs no new branch)."""

import dataclasses
import io

import pytest

from vqcodec import kinds
from vqcodec.codec import container
from vqcodec.codec.describe import describe
from vqcodec.errors import BadStreamError
from vqcodec.files import decompressed_name
from vqcodec.kinds.base import Kind


def _required() -> tuple[list[str], list[str]]:
    """The methods Kind leaves unimplemented, and the attributes it only declares."""
    methods = [n for n, f in vars(Kind).items()
               if callable(f) and "NotImplementedError" in f.__code__.co_names]
    attrs = [n for n in Kind.__annotations__ if not hasattr(Kind, n)]
    return methods, attrs


@pytest.mark.parametrize("kind", list(kinds.KINDS.values()), ids=list(kinds.KINDS))
def test_every_registered_kind_provides_the_whole_interface(kind):
    methods, attrs = _required()
    assert "compress_to" in methods and "write_samples" in methods and "sample_size" in attrs
    missing = [n for n in methods if getattr(type(kind), n) is getattr(Kind, n)]
    missing += [n for n in attrs if not hasattr(kind, n)]
    assert missing == []
    assert kinds.get(kind.name) is kind and kinds.by_code(kind.code) is kind


@dataclasses.dataclass(frozen=True)
class TextParams:
    characters: int

    def values(self) -> tuple[int, ...]:
        return dataclasses.astuple(self)


class TextKind(Kind):
    """A modality the code outside vqcodec/kinds has never heard of."""

    name, code, params = "text", 9, TextParams
    rate_name, rate_digits = "bits_per_character", 2

    def output_name(self, base: str) -> str:
        return base + ".txt"

    def header_records(self, f, params):
        yield container.read_record(f)

    def describe_size(self, params, total_bytes, last):
        return {self.rate_name: self.rate(total_bytes, params.characters)}


@pytest.fixture
def text_kind(monkeypatch) -> TextKind:
    kind = TextKind()
    monkeypatch.setitem(kinds.KINDS, kind.name, kind)
    return kind


def test_info_describes_a_new_kind_through_the_registry(text_kind):
    header = container.Header("text", b"\1\2\3\4", TextParams(characters=40))
    stream = header.to_bytes() + container.record_bytes(b"x" * 10, last=True, extra=40)
    out = describe(io.BytesIO(stream))
    assert out["modality"] == "text" and out["characters"] == 40 and out["records"] == 1
    assert out["total_bytes"] == len(stream) and "error" not in out
    assert out["bits_per_character"] == round(len(stream) * 8 / 40, 2)


def test_a_kind_with_one_layout_has_version_1_only(text_kind):
    data = bytearray(container.Header("text", b"\1\2\3\4", TextParams(characters=40)).to_bytes())
    assert data[2] == 1
    data[2] = 2
    data[-2:] = container.crc16(bytes(data[:-2])).to_bytes(2, "big")
    with pytest.raises(BadStreamError, match="text streams have version 1 only, not 2"):
        container.read_header(io.BytesIO(bytes(data)))


def test_decoded_file_names_come_from_the_kind(text_kind):
    assert decompressed_name("notes.vqc", None, False, "text") == "notes.txt"
    assert decompressed_name("a/photo.jpg.vqc", None, False, "image") == "a/photo.png"
    assert decompressed_name("talk.flac.vqc", None, False, "speech") == "talk.flac"
    assert decompressed_name("talk.vqc", None, False, "speech") == "talk.wav"
