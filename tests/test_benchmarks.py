"""The benchmarks still run (one tiny pass); their numbers are read from `make bench`, not asserted."""
from benchmarks import fast_weights


def test_fast_weights_benchmark_prints_a_ratio_row_per_hidden_size(capsys):
    fast_weights.main(["--steps", "1", "--repeats", "1"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [row[0] for row in rows] == ["20", "50", "100"]
    assert all(row[-1].endswith("×") and float(row[-1][:-1]) > 0 for row in rows)


def test_translation_benchmark_prints_a_row_per_model_and_two_ratio_rows(capsys):
    from benchmarks import translation
    translation.main(["--profile", "smoke", "--batches", "1", "--sentences", "4", "--repeats", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines()[2:]]
    assert [row.split()[0] for row in rows[:3]] == ["RNNencdec", "RNNsearch", "RNNsearch"]
    assert all(cell.endswith("×") and float(cell[:-1]) > 0 for row in rows[3:] for cell in row.split()[-3:])
    assert len(rows) == 5


def test_transformer_benchmark_prints_both_models_their_ratio_and_the_attention_speed_ups(capsys):
    from benchmarks import transformer
    transformer.main(["--profile", "smoke", "--batches", "1", "--repeats", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[2:4]] == ["ours", "torch.nn.Transformer"]
    assert lines[4].split()[:3] == ["ours", "/", "torch"] and float(lines[4].split()[-1][:-1]) > 0
    attention = lines[-2:]
    assert all(row.split()[-1].endswith("×") and float(row.split()[-1][:-1]) > 0 for row in attention)


def test_captioning_benchmark_prints_a_row_per_variant_and_two_ratio_rows(capsys):
    from benchmarks import captioning
    captioning.main(["--profile", "smoke", "--batches", "1", "--images", "4", "--repeats", "1"])
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [row.split()[0] for row in rows[:3]] == ["soft", "hard", "none"]
    assert all(cell.endswith("×") and float(cell[:-1]) > 0 for row in rows[3:] for cell in row.split()[-2:])
    assert len(rows) == 5


def test_timing_warms_up_then_takes_the_median_and_alternates_the_works():
    from benchmarks import timing
    calls = []
    rate = timing.median_rate(lambda: calls.append("w"), amount=10, repeats=3)
    assert len(calls) == 4 and rate > 0                       # one warm-up pass, then three timed ones
    calls.clear()
    seconds = timing.alternating_medians({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=2)
    assert calls == ["a", "b", "a", "b", "a", "b"] and set(seconds) == {"a", "b"}
