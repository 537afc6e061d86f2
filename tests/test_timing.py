from attnmem_core import timing


def test_by_turns_warms_up_then_times_each_work_once_a_round_in_turn():
    calls = []
    seconds = timing.by_turns({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, warmups=2)
    assert calls == ["a", "b"] * 5
    assert {name: len(s) for name, s in seconds.items()} == {"a": 3, "b": 3}
    assert all(t >= 0 for s in seconds.values() for t in s)
