"""A bounded fuzz run in CI: every mutated stream ends in success or a clean error, quickly."""

from fuzz_decoder import golden_seeds, run


def test_mutated_streams_never_crash_or_hang():
    res = run(250, seed=1, seeds=golden_seeds())  # media decoding, --indices and info
    assert res["failures"] == [], res["failures"][:5]
    assert res["clean_error"] > 60  # the mutations really do break streams
    assert res["slowest_s"] < 10.0
