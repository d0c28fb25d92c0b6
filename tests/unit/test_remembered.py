from shared.remembered import Remembered


def test_past_its_size_the_value_put_longest_ago_is_forgotten() -> None:
    remembered: Remembered[str, int] = Remembered(2)
    remembered.put("a", 1)
    remembered.put("b", 2)
    remembered.put("a", 3)  # put again: now the newest
    remembered.put("c", 4)

    assert [remembered.get(key) for key in ("a", "b", "c")] == [3, None, 4]


def test_a_forgotten_key_is_missed_and_forgetting_an_unknown_one_is_harmless() -> None:
    remembered: Remembered[str, int] = Remembered(2)
    remembered.put("a", 1)
    remembered.forget("a")
    remembered.forget("never")

    assert remembered.get("a") is None
