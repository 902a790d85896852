"""The .vqc container: layout, round trips and rejection of malformed headers and records."""

import io
import json
import struct

import pytest

from vqcodec.codec import container
from vqcodec.codec.params import AudioParams, ImageParams
from vqcodec.errors import BadStreamError, LimitError


def test_header_round_trip_is_compact():
    h = container.Header("speech", b"\x01\x02\x03\x04", AudioParams(16000, 1, 2, 50))
    data = h.to_bytes()
    assert len(data) <= 16
    back = container.read_header(io.BytesIO(data))
    assert (back.kind, back.fingerprint, back.params) == (h.kind, h.fingerprint, h.params)
    assert back.size == len(data)


def test_record_round_trip_and_checksum():
    rec = container.record_bytes(b"payload", last=True, extra=12345)
    back = container.read_record(io.BytesIO(rec))
    assert (back.payload, back.last, back.extra, back.intact) == (b"payload", True, 12345, True)
    damaged = bytearray(rec)
    damaged[3] ^= 0x10
    assert container.read_record(io.BytesIO(bytes(damaged))).intact is False


@pytest.mark.parametrize("mutate, message", [
    (lambda d: b"", "empty input"),
    (lambda d: b"XX" + d[2:], "bad magic"),
    (lambda d: d[:2] + b"\x0a" + d[3:], "unsupported stream version 10"),
    (lambda d: d[:3] + b"\x07" + d[4:], "unknown modality"),
    (lambda d: d[:-1], "truncated"),
    (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "header checksum"),
])
def test_malformed_headers_are_rejected(mutate, message):
    good = container.Header("image", b"abcd", ImageParams(640, 480, 3)).to_bytes()
    with pytest.raises(BadStreamError, match=message):
        container.read_header(io.BytesIO(mutate(good)))


def forged_header(version: int, modality: int, values: list[int]) -> bytes:
    """A header with any version and values, its checksum valid (what no writer makes)."""
    body = container.FIXED.pack(container.MAGIC, version, modality, b"abcd")
    body += b"".join(container.varint(v) for v in values)
    return body + struct.pack(">H", container.crc16(body))


# (version, modality, values): 0 = image, 1 = speech
REFUSED_HEADERS = {
    "image version 3": ((3, 0, [640, 480, 3, 2]), "image streams have versions 1, 2, 4, 5 and 8, not 3"),
    "speech version 2": ((2, 1, [16000, 1, 2, 10]), "speech streams have versions 1, 3, 6, 7 and 9, not 2"),
    "speech version 4": ((4, 1, [16000, 1, 2, 10, 1]), "speech streams have versions 1, 3, 6, 7 and 9, not 4"),
    "speech with every frame at every stage as version 6": ((6, 1, [16000, 1, 2, 10, 0, 0]), "version 1 holds"),
    "level-1 image as version 2": ((2, 0, [640, 480, 3, 1]), "version 1 holds"),
    "uncorrected image as version 4": ((4, 0, [640, 480, 3, 2, 0]), "version 2 holds"),
    "colour tiles of 16 pixels": ((4, 0, [640, 480, 3, 1, 16]), "colour correction tiles of 16 pixels"),
    "full-context speech as version 3": ((3, 1, [16000, 1, 2, 10, 0]), "version 1 holds"),
    "unknown schedule": ((3, 1, [16000, 1, 2, 10, 5]), "unknown synthesis schedule 5"),
}


@pytest.mark.parametrize("case", REFUSED_HEADERS)
def test_a_header_in_a_version_no_writer_uses_for_its_values_is_malformed(case):
    args, message = REFUSED_HEADERS[case]
    with pytest.raises(BadStreamError, match=f"malformed stream: .*{message}"):
        container.read_header(io.BytesIO(forged_header(*args)))


@pytest.mark.parametrize("case", REFUSED_HEADERS)
def test_info_refuses_such_a_header_in_one_line(case, tmp_path):
    from conftest import run_cli

    args, message = REFUSED_HEADERS[case]
    (tmp_path / "f.vqc").write_bytes(forged_header(*args) + container.record_bytes(b"xx", True, 100))
    r = run_cli("info", tmp_path / "f.vqc")
    assert r.returncode == 2 and r.stdout == b"", r.stderr
    assert r.stderr.count(b"\n") == 1 and b"malformed stream" in r.stderr
    assert message.encode() in r.stderr


@pytest.mark.parametrize("params", [ImageParams(640, 480, 3), ImageParams(640, 480, 3, 2),
                                    ImageParams(640, 480, 3, 1, 64), ImageParams(640, 480, 1, 3, 64),
                                    AudioParams(16000, 1, 2, 10), AudioParams(16000, 1, 2, 10, 1),
                                    AudioParams(16000, 1, 3, 50, 0, 128), AudioParams(8000, 2, 2, 10, 1, 1)])
def test_every_header_a_writer_makes_reads_back_in_its_own_version(params):
    kind = "image" if isinstance(params, ImageParams) else "speech"
    data = container.Header(kind, b"abcd", params).to_bytes()
    back = container.read_header(io.BytesIO(data))
    assert back.params == params and back.version == data[2] == params.version()


def test_huge_record_length_is_refused_before_reading():
    data = container.varint((1 << 40) << 1)
    with pytest.raises(LimitError):
        container.read_record(io.BytesIO(data))


def test_truncated_record_is_an_error():
    rec = container.record_bytes(b"x" * 50, last=False)
    with pytest.raises(BadStreamError, match="truncated"):
        container.read_record(io.BytesIO(rec[:20]))


def test_a_number_in_more_bytes_than_it_needs_is_malformed():
    """0x81 0x00 reads as 1, as 0x01 does: refused, so every header has one encoding."""
    good = container.Header("speech", b"abcd", AudioParams(16000, 1, 2, 50)).to_bytes()
    body = good[:8] + b"\x80\x7d" + good[10:-2]  # rate 16000 is 0x80 0x7d: fine as it is
    assert container.read_header(io.BytesIO(body + struct.pack(">H", container.crc16(body)))).params.rate == 16000
    body = good[:10] + b"\x81\x00" + good[11:-2]  # channels 1 as two bytes
    with pytest.raises(BadStreamError, match="more bytes than it needs"):
        container.read_header(io.BytesIO(body + struct.pack(">H", container.crc16(body))))


def test_overlong_varint_is_rejected():
    with pytest.raises(BadStreamError, match="overlong"):
        container.read_record(io.BytesIO(b"\xff" * 20))


@pytest.mark.parametrize("params, error", [
    (AudioParams(16000, 1, 2, 10**6), BadStreamError),  # absurd chunk: refused before decoding
    (AudioParams(16000, 1, 0, 50), BadStreamError),
    (AudioParams(16000, 1, 3, 50, 0, 256), BadStreamError),  # a share is below 256/256
    (AudioParams(16000, 1, 1, 50, 0, 128), BadStreamError),  # a partial stage needs one before it
    (AudioParams(5, 1, 2, 50), BadStreamError),
    (AudioParams(16000, 65, 2, 50), BadStreamError),
])
def test_audio_params_hold_every_limit(params, error):
    with pytest.raises(error):
        params.validate()


def test_audio_params_refuse_more_stages_than_the_model_has():
    with pytest.raises(BadStreamError, match="7 stages"):
        AudioParams(16000, 1, 7, 50).validate(model_stages=3)


def test_image_params_refuse_absurd_sizes_as_a_limit():
    with pytest.raises(LimitError):
        ImageParams(10**6, 10**6, 3).validate()


def test_camera_size_images_are_not_refused_by_default():
    """The default limit guards work, not memory (images are coded in tiles)."""
    ImageParams(6000, 4000, 3).validate()  # 24 MP, over the former 16 M default
    ImageParams(10_000, 10_000, 3).validate()
    with pytest.raises(LimitError):
        ImageParams(10_001, 10_000, 3).validate()


def _audio_stream(n_records: int, trailing: bytes = b"") -> io.BytesIO:
    recs = b"".join(container.record_bytes(b"p", last=i == n_records - 1, extra=1)
                    for i in range(n_records))
    return io.BytesIO(recs + trailing)


def test_audio_records_stop_at_the_last_and_refuse_trailing_data():
    p = AudioParams(16000, 1, 2, 50)
    assert len(list(container.audio_records(_audio_stream(3), p, 10))) == 3
    with pytest.raises(BadStreamError, match="trailing"):
        list(container.audio_records(_audio_stream(3, b"x"), p, 10))


def test_audio_records_refuse_more_records_than_the_limit_allows():
    with pytest.raises(LimitError):
        list(container.audio_records(_audio_stream(5), AudioParams(16000, 1, 2, 50), 4))


def test_info_reports_an_image_header_of_zero_width_as_malformed(tmp_path):
    from conftest import run_cli

    (tmp_path / "z.vqc").write_bytes(forged_header(1, 0, [0, 480, 3]) + container.record_bytes(b"xx", True, 0))
    r = run_cli("info", tmp_path / "z.vqc", "--json")
    assert r.returncode == 2
    assert "malformed stream: image 0x480x3" in json.loads(r.stdout)["error"]


@pytest.mark.parametrize("stages, want", [(2, (2, 0)), (2.5, (3, 128)), (3.0, (3, 0)), (1, (1, 0)),
                                          (1.25, (2, 64)), (2.9999, (3, 0)), (2.998, (3, 255)),
                                          (2.001, (2, 0))])
def test_a_fractional_stage_count_is_a_partial_last_stage(stages, want):
    from vqcodec.codec.params import joined_stages, split_stages

    assert split_stages(stages, 3) == want
    if stages in (2, 2.5, 3.0, 1, 1.25):
        assert joined_stages(*want) == stages


@pytest.mark.parametrize("stages", [0.5, 3.01, 4])
def test_a_stage_count_outside_the_model_is_refused(stages):
    from vqcodec.codec.params import split_stages
    from vqcodec.errors import UsageError

    with pytest.raises(UsageError, match="between 1 and 3"):
        split_stages(stages, 3)
