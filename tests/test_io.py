import gzip
import json

import pytest
from trace_fixtures import make_problem

from deepprune.data.io import ReadStats, read_problems, write_problems
from deepprune.data.schema import TraceFormatError


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


GOOD = {"id": "g", "question": "q", "gold": "1", "traces": [{"text": "t", "answer": "1"}]}


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
    ],
)
def test_malformed_record_names_file_line_field(tmp_path, bad, field):
    path = _write_lines(tmp_path / "bad.jsonl", [GOOD, bad, GOOD])
    with pytest.raises(TraceFormatError) as err:
        list(read_problems(path))
    assert err.value.line == 2 and err.value.field_name == field
    assert f"bad.jsonl:2: field '{field}'" in str(err.value)


def test_skip_mode_counts_and_keeps_good_records(tmp_path):
    path = _write_lines(tmp_path / "bad.jsonl", [GOOD, "{oops", {"id": "x"}, GOOD])
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
        handle.write(json.dumps(GOOD) + "\n\n" + json.dumps(GOOD) + "\n")
    assert len(list(read_problems(path))) == 2


def test_bad_on_error_value_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="data.on_error"):
        list(read_problems(tmp_path / "x.jsonl", on_error="ignore"))
    with pytest.raises(FileNotFoundError):
        list(read_problems(tmp_path / "missing.jsonl"))
