"""docs/FORMAT.md pinned to the bytes: a reader of headers and records written from the document
alone (nothing here imports vqcodec.codec.container or vqcodec.codec.params), run over streams
of every version and layout that vqcodec writes or still reads, and compared with `vqcodec info
--json` field by field. If this test fails, the document or the writer changed: fix the one
that is wrong, and keep the other in step."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from conftest import ROOT, make_image, make_speechlike, random_image_model, run_cli

GOLDEN = ROOT / "tests" / "golden"
TINY_SPEECH = GOLDEN / "tiny-speech.safetensors"


# -- the reader, from docs/FORMAT.md ----------------------------------------------------------
class Malformed(Exception):
    pass


def crc16(data: bytes) -> int:
    """CRC-16/CCITT: poly 0x1021, init 0xFFFF, MSB first, no final XOR."""
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Unsigned LEB128, shortest form only, at most 9 bytes."""
    value = 0
    for i in range(9):
        if pos >= len(buf):
            raise Malformed("ends early")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            if i and not b:
                raise Malformed("number in more bytes than it needs")
            return value, pos
    raise Malformed("overlong number")


def write_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append(n & 0x7F | (0x80 if n >> 7 else 0))
        n >>= 7
        if not n:
            return bytes(out)


RATES = (8000, 16000, 11025, 22050, 44100, 48000, 32000, 24000, 12000)
DETAIL_STEPS = (512, 320, 208, 136, 88, 56, 36)
IMAGE = {1: ("width", "height", "channels"), 2: ("width", "height", "channels", "level"),
         4: ("width", "height", "channels", "level", "colour"),
         5: ("width", "height", "channels", "level", "colour", "flat"),
         8: ("width", "height", "channels", "level", "colour", "flat", "detail")}
SPEECH = {1: ("rate", "channels", "stages", "chunk_frames"),
          3: ("rate", "channels", "stages", "chunk_frames", "schedule"),
          6: ("rate", "channels", "stages", "chunk_frames", "schedule", "share"),
          7: ("rate", "channels", "stages", "chunk_frames", "schedule", "share", "gain")}


def lowest_version(h: dict) -> int:
    if h["modality"] == "image":
        return (8 if h["detail"] else 5 if h["flat"] else 4 if h["colour"] else
                2 if h["level"] > 1 else 1)
    return 7 if h["gain"] else 6 if h["share"] else 3 if h["schedule"] else 1


def parse_header(buf: bytes) -> tuple[dict, int]:
    if buf[:2] != b"VQ":
        raise Malformed("magic")
    version, pos = buf[2], 3
    if version == 9:
        modality = 1
    elif 1 <= version <= 8:
        modality, pos = buf[3], 4
        if modality not in (0, 1):
            raise Malformed("modality")
    else:
        raise Malformed("version")
    h: dict = {"version": version, "modality": ("image", "speech")[modality],
               "model": buf[pos:pos + 4].hex()}
    pos += 4
    if version == 9:
        values = []
        for _ in range(5):
            v, pos = read_varint(buf, pos)
            values.append(v)
        rate, channels, packed, share, chunk = values
        if 9 <= rate < 1000 or rate in RATES:
            raise Malformed("rate field")
        h.update(rate=RATES[rate] if rate < 9 else rate, channels=channels, stages=packed >> 1,
                 schedule=packed & 1, share=share, chunk_frames=chunk, gain=1)
    else:
        fields = (IMAGE if modality == 0 else SPEECH).get(version)
        if fields is None:
            raise Malformed(f"{h['modality']} has no version {version}")
        for name in fields:
            h[name], pos = read_varint(buf, pos)
        defaults = ({"level": 1, "colour": 0, "flat": 0, "detail": 0} if modality == 0 else
                    {"schedule": 0, "share": 0, "gain": 0})
        h = {**defaults, **h}
        if lowest_version(h) != version:
            raise Malformed("not the lowest version")
    if pos + 2 > len(buf):
        raise Malformed("header ends early")
    (check,) = struct.unpack(">H", buf[pos:pos + 2])
    if check != crc16(buf[:pos]):
        raise Malformed("header checksum")
    h["header_bytes"] = pos + 2
    return h, pos + 2


def walk_records(buf: bytes, pos: int) -> list[dict]:
    """Every record up to the one flagged last, each checksum checked; nothing may follow."""
    out = []
    while True:
        start = pos
        tag, pos = read_varint(buf, pos)
        length, last = tag >> 1, tag & 1
        extra = None
        if last:
            extra, pos = read_varint(buf, pos)
        if pos + length + 2 > len(buf):
            raise Malformed("record ends early")
        payload = buf[pos:pos + length]
        pos += length
        (check,) = struct.unpack(">H", buf[pos:pos + 2])
        if check != crc16(buf[start:pos]):  # from the record's first byte, afresh
            raise Malformed("record checksum")
        pos += 2
        out.append({"payload": payload, "last": last, "extra": extra})
        if last:
            break
    if pos != len(buf):
        raise Malformed("trailing data")
    return out


def check_payload(h: dict, recs: list[dict]) -> None:
    """What the document says of payload framing (not of the range-coded contents)."""
    if h["modality"] == "image":
        assert len(recs) == 1 and recs[0]["extra"] == 0
        payload, v = recs[0]["payload"], h["version"]
        if v in (4, 5, 8):  # u32le lengths before the parts
            parts = {4: 1, 5: 2, 8: 3}[v]
            q = 0
            lengths = []
            for _ in range(parts):
                (n,) = struct.unpack("<I", payload[q:q + 4])
                lengths.append(n)
                q += 4 + n
            assert q <= len(payload)  # then the part without a length: to the end
            if v == 4:  # the colour map starts with three ratio bytes
                assert q + 3 <= len(payload)
            if v == 5:
                assert lengths[1] >= 3
            if v == 8:  # a map the header does not announce has length 0
                assert (lengths[1] == 0) == (h["colour"] == 0)
                assert (lengths[2] == 0) == (h["flat"] == 0)
        return
    # speech: frames = ceil(ceil(samples * 16000 / rate) / 320), at least 1; every record but
    # the last holds chunk_frames of them, the last 1 to chunk_frames
    samples = recs[-1]["extra"]
    frames = max(1, -(-(-(-samples * 16000 // h["rate"])) // 320))
    assert len(recs) == -(-frames // h["chunk_frames"])
    if h["gain"]:
        assert all(len(r["payload"]) >= 1 for r in recs)  # the gain byte


def expected_info(buf: bytes) -> dict:
    """What `info --json` must show for a stream, from the document's definitions."""
    h, pos = parse_header(buf)
    recs = walk_records(buf, pos)
    check_payload(h, recs)
    out = dict(h)
    out.update(records=len(recs), payload_bytes=sum(len(r["payload"]) for r in recs),
               total_bytes=len(buf), damaged_records=0)
    if h["modality"] == "image":
        out["stages"] = h["level"]
        out["level"] = h["level"] + (1 + sum(s > h["detail"] for s in DETAIL_STEPS)
                                     if h["detail"] else 0)
        out["detail"] = h["detail"] / 4
        out["bits_per_pixel"] = round(len(buf) * 8 / (h["width"] * h["height"]), 5)
    else:
        samples = recs[-1]["extra"]
        out["schedule"] = ("full-context", "low-latency")[h["schedule"]]
        out["gain"] = "per chunk" if h["gain"] else "none"
        if h["share"]:
            out["stages_option"] = round(h["stages"] - 1 + h["share"] / 256, 4)
        out.update(samples=samples, seconds=round(samples / h["rate"], 3),
                   bits_per_second=round(len(buf) * 8 * h["rate"] / samples, 1))
    return out


# -- streams of every layout --------------------------------------------------------------------
def _speech_cli(tmp, name, model, pcm_or_wav, *args) -> None:
    r = run_cli("compress", pcm_or_wav, "--model", model, "-o", tmp / f"{name}.vqc", "-q", *args)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def streams(tmp_path_factory) -> dict[str, bytes]:
    import soundfile as sf

    from vqcodec import api

    tmp = tmp_path_factory.mktemp("formatdoc")
    out = {p.stem: p.read_bytes() for p in sorted(GOLDEN.glob("*.vqc"))}  # 1 4 5 8, 1 6 7 9
    # images, bundled model (one VQ stage, detail levels above): tiny, odd, grey, flat
    rng = np.random.default_rng(3)
    one = rng.integers(0, 256, (1, 1, 3), dtype=np.uint8)
    small = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (9, 13), dtype=np.uint8)
    flat = make_image(tmp / "flat.png", 40, 24, seed=5)
    for q in (1, 2, 8):
        out[f"one-q{q}"] = api.compress(one, quality=q)
        out[f"grey-q{q}"] = api.compress(grey, quality=q)
    out["small-q4"] = api.compress(small, quality=4)
    out["small-q1-plain"] = api.compress(small, quality=1, colour=False)
    out["small-q3-plain"] = api.compress(small, quality=3, colour=False)
    out["flat-q1"] = api.compress(flat, quality=1)
    out["flat-q5"] = api.compress(flat, quality=5)
    # version 2: a model with more than one VQ stage
    staged = random_image_model(tmp / "staged.safetensors", stages=2)
    out["staged-q2"] = api.compress(small, str(staged), quality=2, colour=False)
    # speech, tiny model (2 stages): 1, 1.5, 2 stages, live, other chunks, rates, channels
    wav = tmp / "s.wav"
    x = make_speechlike(1.1, 16000, seed=4)
    sf.write(wav, x, 16000)
    pcm = tmp / "s.raw"
    pcm.write_bytes((np.stack([x, x], 1) * 32767).astype("<i2").tobytes())
    for stages in ("1", "1.5", "2"):
        _speech_cli(tmp, f"sp-{stages}", TINY_SPEECH, wav, "--stages", stages)
        _speech_cli(tmp, f"sp-{stages}-plain", TINY_SPEECH, wav, "--stages", stages,
                    "--no-level-control")
    _speech_cli(tmp, "sp-stream", TINY_SPEECH, wav, "--stream")
    _speech_cli(tmp, "sp-stream-plain", TINY_SPEECH, wav, "--stream", "--no-level-control")
    _speech_cli(tmp, "sp-stream-1.5-plain", TINY_SPEECH, wav, "--stream", "--stages", "1.5",
                "--no-level-control")
    _speech_cli(tmp, "sp-chunk-70", TINY_SPEECH, wav, "--chunk-ms", "70")
    _speech_cli(tmp, "sp-raw-stereo-8k", TINY_SPEECH, pcm, "--raw", "-r", "8000", "--channels", "2")
    _speech_cli(tmp, "sp-raw-44k1", TINY_SPEECH, pcm, "--raw", "-r", "44100")
    _speech_cli(tmp, "sp-raw-22000", TINY_SPEECH, pcm, "--raw", "-r", "22000")  # rate as itself
    _speech_cli(tmp, "sp-raw-1000", TINY_SPEECH, pcm, "--raw", "-r", "1000", "--chunk-ms", "20")
    for p in tmp.glob("sp-*.vqc"):
        out[p.stem] = p.read_bytes()
    out["api-plain"] = api.compress(x, str(TINY_SPEECH), rate=16000, level_control=False)
    # the bundled speech model's code sets: their ids, not the codes id, in the header
    short = (make_speechlike(0.3, 8000, seed=2) * 32767).astype("<i2").tobytes()
    (tmp / "short.raw").write_bytes(short)
    for codes in ("telephone", "wideband"):
        _speech_cli(tmp, f"bundled-{codes}", "speech-default", tmp / "short.raw", "--raw", "-r",
                    "8000", "--codes", codes)
        out[f"bundled-{codes}"] = (tmp / f"bundled-{codes}.vqc").read_bytes()
    return out


def test_the_streams_cover_every_layout(streams):
    layouts = set()
    for buf in streams.values():
        h, _ = parse_header(buf)
        layouts.add((h["modality"], h["version"], h.get("schedule", 0)))
    assert layouts >= {("image", v, 0) for v in (1, 2, 4, 5, 8)}
    assert layouts >= {("speech", 1, 0), ("speech", 3, 1), ("speech", 6, 0), ("speech", 6, 1),
                       ("speech", 7, 0), ("speech", 9, 0), ("speech", 9, 1)}


def test_the_documented_reader_agrees_with_info_on_every_field(streams, tmp_path):
    names = sorted(streams)
    for n in names:
        (tmp_path / f"{n}.vqc").write_bytes(streams[n])
    r = run_cli("info", "--json", *[tmp_path / f"{n}.vqc" for n in names])
    assert r.returncode == 0, r.stderr
    infos = json.loads(r.stdout)
    for n, info in zip(names, infos):
        want = expected_info(streams[n])
        got = {k: v for k, v in info.items() if k not in ("file", "codes")}
        assert got == want, n


def _model_ids(name: str) -> dict[str, str]:
    """The ids a bundled model's streams may carry, from its safetensors metadata alone."""
    path = ROOT / "vqcodec" / "models" / f"{name}.safetensors"
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        meta = json.loads(f.read(size))["__metadata__"]
    ids = {"codes": meta.get("codes") or meta["fingerprint"]}
    ids.update({k: meta[k] for k in ("wideband", "telephone") if meta.get(k)})
    return ids


def test_a_reader_finds_the_model_from_the_id(streams):
    speech, image = _model_ids("speech-default"), _model_ids("image-default")
    assert parse_header(streams["bundled-telephone"])[0]["model"] == speech["telephone"][:8]
    assert parse_header(streams["bundled-wideband"])[0]["model"] == speech["wideband"][:8]
    assert parse_header(streams["one-q1"])[0]["model"] == image["codes"][:8]


# -- what the document says is refused ------------------------------------------------------------
def _header(version: int, modality: int | None, values, fp=b"\xae\x60\x4e\xbe") -> bytes:
    body = b"VQ" + bytes([version]) + (bytes([modality]) if modality is not None else b"") + fp
    body += b"".join(write_varint(v) for v in values)
    return body + struct.pack(">H", crc16(body))


def _record(payload: bytes, last: bool, extra: int = 0) -> bytes:
    body = write_varint(len(payload) << 1 | last) + (write_varint(extra) if last else b"")
    body += payload
    return body + struct.pack(">H", crc16(body))


REFUSED = {
    "image v3": _header(3, 0, [16, 16, 3, 2]),
    "speech v2": _header(2, 1, [16000, 1, 2, 50]),
    "level 1 as v2": _header(2, 0, [16, 16, 3, 1]),
    "v4 without a map": _header(4, 0, [16, 16, 3, 1, 0]),
    "colour tile 16": _header(4, 0, [16, 16, 3, 1, 16]),
    "flat without colour": _header(8, 0, [16, 16, 3, 1, 0, 8, 208]),
    "detail step 3": _header(8, 0, [16, 16, 3, 1, 64, 0, 3]),
    "full context as v3": _header(3, 1, [16000, 1, 2, 50, 0]),
    "schedule 2": _header(3, 1, [16000, 1, 2, 50, 2]),
    "share 256": _header(6, 1, [16000, 1, 2, 50, 0, 256]),
    "share with one stage": _header(6, 1, [16000, 1, 1, 50, 0, 64]),
    "v7 without gain": _header(7, 1, [16000, 1, 2, 50, 0, 64, 0]),
    "gain 2": _header(7, 1, [16000, 1, 2, 50, 0, 64, 2]),
    "v9 listed rate as itself": _header(9, None, [16000, 1, 4, 0, 50]),
    "v9 rate field 500": _header(9, None, [500, 1, 4, 0, 50]),
    "chunk_frames 0": _header(1, 1, [16000, 1, 2, 0]),
    "modality 2": _header(1, 2, [16, 16, 3]),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_the_document_refuses_info_refuses_in_one_line(case, tmp_path):
    stream = REFUSED[case] + _record(b"\x80\0\0\0", True, 800)
    path = tmp_path / "s.vqc"
    path.write_bytes(stream)
    r = run_cli("info", path)
    assert r.returncode == 2 and len(r.stderr.decode().strip().splitlines()) == 1, r.stderr
    assert "internal error" not in r.stderr.decode()


def test_the_documented_reader_takes_v7_with_level_control_and_no_share(tmp_path):
    """share is 0 to 255 in version 7 (level control at whole stages, before version 9)."""
    stream = _header(7, 1, [16000, 1, 2, 50, 0, 0, 1]) + _record(b"\x80", True, 800)
    assert expected_info(stream)["share"] == 0
    path = tmp_path / "s.vqc"
    path.write_bytes(stream)
    assert run_cli("info", path).returncode == 0


@pytest.mark.parametrize("tail", ["second record", "trailing byte"])
def test_an_image_of_more_than_one_record_is_refused_by_info_too(tail, tmp_path):
    """As the decoder does: an image is one record, flagged last, and nothing follows it."""
    head = _header(1, 0, [16, 16, 3])
    stream = (head + _record(b"\0" * 4, False) + _record(b"\0" * 4, True) if tail == "second record"
              else head + _record(b"\0" * 4, True) + b"x")
    path = tmp_path / "s.vqc"
    path.write_bytes(stream)
    with pytest.raises((Malformed, AssertionError)):  # trailing data / not one record
        expected_info(stream)
    r = run_cli("info", "--json", path)
    assert r.returncode == 2 and len(r.stderr.decode().strip().splitlines()) == 1
    assert json.loads(r.stdout)["records"] == 1


def test_info_on_cut_and_damaged_streams_is_one_line_and_exit_2(streams, tmp_path):
    for name in ("speech-compact", "image-detail"):
        buf = streams[name]
        header_bytes = parse_header(buf)[0]["header_bytes"]
        cuts = [1, 3, 7, header_bytes - 1, header_bytes, header_bytes + 1, len(buf) // 2,
                len(buf) - 2, len(buf) - 1]
        flips = [2, 3, 8, header_bytes - 1, header_bytes, header_bytes + 3, len(buf) - 3,
                 len(buf) - 1]
        damaged = [buf[:c] for c in cuts] + [
            buf[:o] + bytes([buf[o] ^ x]) + buf[o + 1:] for o in flips for x in (0x01, 0x80)]
        for i, b in enumerate(damaged):
            with pytest.raises((Malformed, IndexError)):
                expected_info(b)
            path = tmp_path / f"{name}-{i}.vqc"
            path.write_bytes(b)
            r = run_cli("info", path)
            err = r.stderr.decode()
            assert r.returncode == 2 and len(err.strip().splitlines()) == 1, (name, i, err)
            assert "internal error" not in err and "Traceback" not in err
            if len(b) > header_bytes and b[:header_bytes] == buf[:header_bytes]:
                assert "version:" in r.stdout.decode()  # described as far as it goes


def test_crc16_is_the_ccitt_false_variant():
    assert crc16(b"123456789") == 0x29B1
    assert read_varint(b"\x80\x7d", 0) == (16000, 2)
    with pytest.raises(Malformed):
        read_varint(b"\x81\x00", 0)
