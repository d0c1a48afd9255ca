import gzip
import io
import json
import logging
import math

import numpy as np
import pytest

from deepprune.data.io import ReadStats, atomic_write_json, read_problems, write_problems
from deepprune.data.schema import TraceFormatError
from tests.helpers.traces import make_problem


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".parquet"])
def test_round_trip(tmp_path, suffix):
    problems = [make_problem("p0", "a", ["a", None, "b"]), make_problem("p1", "b", ["b", "b"], confs=False)]
    path = tmp_path / f"traces{suffix}"
    assert write_problems(path, problems) == 2
    loaded = list(read_problems(path))
    assert [p.to_dict() for p in loaded] == [p.to_dict() for p in problems]
    assert loaded[0].traces[1].answer is None
    assert not list(tmp_path.glob(".*tmp")), "atomic write left a temp file"


def _write_lines(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def good(pid: str) -> dict:
    return {"id": pid, "question": "q", "gold": "1", "traces": [{"text": "t", "answer": "1"}]}


def with_trace(**trace: object) -> dict:
    return {"id": "b", "question": "q", "gold": "1", "traces": [{"text": "t", **trace}]}


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ("{not json", "<json>"),
        ({"question": "q", "gold": "1", "traces": []}, "id"),
        ({"id": "b", "question": "q", "gold": "1"}, "traces"),
        ({"id": "b", "question": 3, "gold": "1", "traces": []}, "question"),
        ({"id": "b", "question": "q", "gold": "1", "traces": "x"}, "traces"),
        ({"id": "b", "question": "q", "gold": "1", "traces": [{"answer": "1"}]}, "traces[0].text"),
        ({"id": "b", "question": "q", "gold": "1", "traces": [{"text": "t", "answer": 5}]}, "traces[0].answer"),
        (
            {"id": "b", "question": "q", "gold": "1", "traces": [{"text": "t", "num_tokens": "9"}]},
            "traces[0].num_tokens",
        ),
        (
            {"id": "b", "question": "q", "gold": "1", "traces": [{"text": "t", "num_tokens": -1}]},
            "traces[0].num_tokens",
        ),
        ({"id": "b", "question": "q", "gold": "1", "traces": [{"text": "t", "confs": [1, "a"]}]}, "traces[0].confs"),
        (
            {"id": "b", "question": "q", "gold": "1", "traces": [{"text": "t", "num_tokens": True}]},
            "traces[0].num_tokens",
        ),
        ([1, 2], "<record>"),
        ({"id": "b", "question": "q", "gold": "1", "traces": []}, "traces"),
        (with_trace(confs=[1.0, True]), "traces[0].confs"),
        (with_trace(confs=["1.5"]), "traces[0].confs"),
    ],
)
def test_malformed_record_names_file_line_field(tmp_path, bad, field):
    path = _write_lines(tmp_path / "bad.jsonl", [good("g1"), bad, good("g3")])
    with pytest.raises(TraceFormatError) as err:
        list(read_problems(path))
    assert err.value.line == 2 and err.value.field_name == field
    assert f"bad.jsonl:2: field '{field}'" in str(err.value)


@pytest.mark.parametrize(
    ("trace", "reason"),
    [
        ('"text": "t t t", "num_tokens": 3, "confs": [1, 2]', "2 values but num_tokens=3"),
        ('"text": "t", "num_tokens": 1, "confs": [1, 2, 3]', "3 values but num_tokens=1"),
        ('"text": "t", "num_tokens": 2, "confs": []', "0 values but num_tokens=2"),
        ('"text": "t", "confs": []', "empty, but the trace has text"),
        # JSON NaN/Infinity literals, which Python's json module accepts.
        ('"text": "t", "num_tokens": 2, "confs": [1.0, NaN]', "must be finite, got nan at index 1"),
        ('"text": "t", "num_tokens": 1, "confs": [Infinity]', "must be finite, got inf at index 0"),
        ('"text": "t", "num_tokens": 1, "confs": [-Infinity]', "must be finite, got -inf at index 0"),
        ('"text": "t", "num_tokens": 1, "confs": [1e999]', "must be finite, got inf"),
        ('"text": "t", "num_tokens": 1, "confs": [' + "9" * 400 + "]", "integer beyond float range"),
    ],
)
def test_confs_must_match_num_tokens_and_be_finite(tmp_path, trace, reason):
    line = '{"id": "b", "question": "q", "gold": "1", "traces": [{' + trace + "}]}"
    path = _write_lines(tmp_path / "c.jsonl", [good("g1"), line])
    with pytest.raises(TraceFormatError) as err:
        list(read_problems(path))
    assert str(err.value).startswith(f"{path}:2: field 'traces[0].confs': ") and reason in str(err.value)


def test_numeric_gold_must_be_finite(tmp_path):
    path = _write_lines(tmp_path / "g.jsonl", ['{"id": "b", "question": "q", "gold": NaN, "traces": [{"text": "t"}]}'])
    with pytest.raises(TraceFormatError, match="g.jsonl:1: field 'gold': must be finite"):
        list(read_problems(path))


def test_confs_are_float64_arrays_that_round_trip_exactly(tmp_path):
    problem = make_problem("p0", "a", ["a", "b"])
    path = tmp_path / "t.jsonl"
    write_problems(path, [problem])
    (loaded,) = read_problems(path)
    confs = loaded.traces[0].confs
    assert isinstance(confs, np.ndarray) and confs.dtype == np.float64
    assert confs.tolist() == problem.traces[0].confs and len(confs[:5]) == 5
    write_problems(tmp_path / "again.jsonl", [loaded])
    assert (tmp_path / "again.jsonl").read_bytes() == path.read_bytes()


def test_duplicate_id_names_both_lines_and_skip_keeps_the_first(tmp_path):
    first = good("p")
    second = {**good("p"), "gold": "2"}
    path = _write_lines(tmp_path / "d.jsonl", [first, good("q"), second])
    with pytest.raises(TraceFormatError) as err:
        list(read_problems(path))
    assert str(err.value) == f"{path}:3: field 'id': duplicate problem id 'p' (first at line 1)"
    stats = ReadStats()
    problems = list(read_problems(path, on_error="skip", stats=stats))
    assert [(p.id, p.gold) for p in problems] == [("p", "1"), ("q", "1")]
    assert stats.skipped == 1 and "d.jsonl:3:" in stats.errors[0]


def test_numeric_and_string_ids_are_the_same_problem(tmp_path):
    path = _write_lines(tmp_path / "n.jsonl", [{**good("x"), "id": 7}, good("7")])
    with pytest.raises(TraceFormatError, match="duplicate problem id '7'"):
        list(read_problems(path))


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_non_utf8_line_names_file_line_and_skip_reads_the_rest(tmp_path, suffix):
    lines = [
        json.dumps(good("a")).encode(),
        b'{"id": "b", "question": "caf\xe9 \xff", "gold": "1"}',
        json.dumps(good("c")).encode(),
    ]
    data = b"\n".join(lines) + b"\n"
    path = tmp_path / f"latin1{suffix}"
    path.write_bytes(gzip.compress(data) if suffix == ".jsonl.gz" else data)
    with pytest.raises(TraceFormatError) as err:
        list(read_problems(path))
    assert str(err.value).startswith(f"{path}:2: field '<encoding>': not UTF-8: byte 0xe9")
    stats = ReadStats()
    assert [p.id for p in read_problems(path, on_error="skip", stats=stats)] == ["a", "c"]
    assert stats.skipped == 1


def _gzip_lines(path, records):
    """A .gz whose record i ends at ``ends[i]`` compressed bytes (a sync flush after each line)."""
    buffer, ends = io.BytesIO(), []
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        for record in records:
            handle.write((json.dumps(record) + "\n").encode())
            handle.flush()
            ends.append(buffer.tell())
    path.write_bytes(buffer.getvalue())
    return path, ends


def test_truncated_gzip_names_file_and_records_read(tmp_path):
    path, ends = _gzip_lines(tmp_path / "torn.jsonl.gz", [good(f"p{i}") for i in range(4)])
    path.write_bytes(path.read_bytes()[: (ends[1] + ends[2]) // 2])  # the stream stops inside the third record
    with pytest.raises(TraceFormatError) as err:
        list(read_problems(path))
    message = str(err.value)
    assert message.startswith(f"{path}:3: field '<gzip>': compressed stream is truncated or corrupt")
    assert "2 records were read before it" in message
    stats = ReadStats()
    assert [p.id for p in read_problems(path, on_error="skip", stats=stats)] == ["p0", "p1"]
    assert stats.read == 2 and stats.skipped == 1 and "<gzip>" in stats.errors[0]


def test_missing_gzip_trailer_is_an_error_after_all_records(tmp_path):
    path, _ = _gzip_lines(tmp_path / "t.jsonl.gz", [good("a"), good("b")])
    path.write_bytes(path.read_bytes()[:-4])  # the size field of the trailer is gone
    with pytest.raises(TraceFormatError, match=r"t.jsonl.gz:3: field '<gzip>'.*2 records were read before it"):
        list(read_problems(path))


def test_corrupt_gzip_data(tmp_path):
    path, ends = _gzip_lines(tmp_path / "c.jsonl.gz", [good("a"), good("b")])
    data = bytearray(path.read_bytes())
    data[ends[0] + 2 : ends[0] + 12] = b"\xff" * 10  # garbage inside the second record's deflate data
    path.write_bytes(bytes(data))
    # Damage is found a read buffer at a time: the error may name an earlier line than the damaged one.
    with pytest.raises(TraceFormatError, match=r"c.jsonl.gz:[12]: field '<gzip>': compressed stream is truncated"):
        list(read_problems(path))


def test_not_a_gzip_file(tmp_path):
    path = _write_lines(tmp_path / "plain.jsonl.gz", [good("a")])
    with pytest.raises(TraceFormatError, match=r"plain.jsonl.gz:1: field '<gzip>'.*0 records were read"):
        list(read_problems(path))


def test_unreadable_parquet_names_the_file(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(ValueError, match="x.parquet: not a readable Parquet file"):
        list(read_problems(path))


def _strict_json(text: str):
    def refuse(constant: str):
        raise AssertionError(f"non-JSON constant {constant} written")

    return json.loads(text, parse_constant=refuse)


def test_atomic_write_json_writes_non_finite_as_null_and_names_the_key(tmp_path, caplog):
    metrics = {
        "accuracy": 0.5,
        "threshold": float("nan"),
        "problems": [{"id": "p0", "score": np.float32("inf")}, {"id": "p1", "score": -math.inf}],
        "array": np.array([1.0, np.nan]),
        "count": np.int64(3),
    }
    with caplog.at_level(logging.WARNING, logger="deepprune.data.io"):
        atomic_write_json(tmp_path / "metrics.json", metrics)
    written = _strict_json((tmp_path / "metrics.json").read_text())
    assert written == {
        "accuracy": 0.5,
        "threshold": None,
        "problems": [{"id": "p0", "score": None}, {"id": "p1", "score": None}],
        "array": [1.0, None],
        "count": 3,
    }
    warned = caplog.text
    for key in (
        "['threshold'] is nan",
        "['problems'][0]['score'] is inf",
        "['problems'][1]['score'] is -inf",
        "['array'][1] is nan",
    ):
        assert f"metrics.json: {key}; written as null" in warned


def test_skip_mode_counts_and_keeps_good_records(tmp_path):
    path = _write_lines(tmp_path / "bad.jsonl", [good("g1"), "{oops", {"id": "x"}, good("g4")])
    stats = ReadStats()
    problems = list(read_problems(path, on_error="skip", stats=stats))
    assert len(problems) == 2 and stats.read == 2 and stats.skipped == 2
    assert any(":2:" in e for e in stats.errors) and any(":3:" in e for e in stats.errors)


def test_missing_answer_is_extracted_but_null_is_kept(tmp_path):
    record = {
        "id": "e",
        "question": "q",
        "gold": "1",
        "traces": [{"text": "so the answer is 7."}, {"text": "the answer is 8", "answer": None}],
    }
    path = _write_lines(tmp_path / "e.jsonl", [record])
    from deepprune.data.answers import extract_answer_is

    (problem,) = read_problems(path, extract_answer=extract_answer_is)
    assert [t.answer for t in problem.traces] == ["7", None]


def test_gzip_is_streamed(tmp_path):
    path = tmp_path / "t.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps(good("a")) + "\n\n" + json.dumps(good("b")) + "\n")
    assert len(list(read_problems(path))) == 2


def test_bad_on_error_value_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="data.on_error"):
        list(read_problems(tmp_path / "x.jsonl", on_error="ignore"))
    with pytest.raises(FileNotFoundError):
        list(read_problems(tmp_path / "missing.jsonl"))


def test_write_problems_refuses_non_finite_confs(tmp_path):
    problem = make_problem("p0", "a", ["a"])
    problem.traces[0].confs[1] = float("nan")
    with pytest.raises(ValueError, match="problem 'p0': Out of range float values"):
        write_problems(tmp_path / "t.jsonl", [problem])
    assert not list(tmp_path.iterdir())
