"""The benchmarks' tables stay readable in an 80-column terminal: every value printed whole."""

import io

from rich.console import Console

from cli.bench_cmd import _table, speed_tables

IMAGE_ROW = {"size": "768x512", "level": 8, "compress_s": 0.912, "compress_without_colour_map_s": 0.812,
             "decompress_s": 0.745, "prior_decode_s": 0.334, "decoder_net_s": 0.412,
             "prior_positions_per_s": 124600, "naive_float_prior_decode_s": None, "bytes": 25800,
             "bpp": 0.5249}
SPEED = {"threads": 2, "torch_threads": 2,
         "images": [IMAGE_ROW, {**IMAGE_ROW, "size": "1024x1024", "level": 4, "compress_s": 12.345,
                                "naive_float_prior_decode_s": 123.456, "bytes": 1234567}],
         "speech": {"audio_seconds": 10.0, "encode_rtf": 98.4, "decode_rtf": 48.9,
                    "round_trip_rtf": 32.7, "prior_symbols_per_s_in_decode": 9774,
                    "bits_per_second": 1032.8}}


def printed(*tables, width: int = 80) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width)
    for t in tables:
        console.print(t)
    return out.getvalue()


def test_bench_speed_tables_show_every_value_whole_at_80_columns():
    text = printed(*speed_tables(SPEED))
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    cells = {c.strip() for line in text.splitlines() for c in line.split("│")}
    for row in SPEED["images"]:
        assert {str(v) for v in row.values()} <= cells  # every column of the result, uncut
    assert {str(v) for v in SPEED["speech"].values()} <= cells


def test_bench_cli_table_wraps_long_names_instead_of_cutting_them():
    rows = [{"command": "compress photo, no colour map", "median_s": 1.234, "worst_s": 1.456,
             "x_numpy": 8.45, "target": "<= 10x, <= 1.5 s idle", "ratio_ok": True}]
    text = printed(_table("whole processes, median of 5 (numpy import 0.15 s, load 2.1 on 2 cores)", rows))
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    assert all(v in text for v in ("1.234", "1.456", "8.45", "True", "photo,", "colour", "idle"))
