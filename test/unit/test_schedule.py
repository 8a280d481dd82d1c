import pytest

from espnet_sniper.schedule import ScheduleError, SparsitySchedule


def test_reference_meaning_key_k_applies_from_epoch_k_plus_1():
    s = SparsitySchedule({0: 40, 5: 20, 10: 10, 20: 0})
    got = [s.sparsity_for_epoch(e) for e in range(1, 23)]
    assert got == [40] * 5 + [20] * 5 + [10] * 10 + [0] * 2


def test_constant_and_dense():
    assert SparsitySchedule({0: 20}).sparsity_for_epoch(1000) == 20
    assert SparsitySchedule({0: 0}).max_sparsity == 0


def test_string_keys_from_a_command_line_are_read_as_epochs():
    assert SparsitySchedule({"0": 20, "3": 0}).points == {0: 20.0, 3: 0.0}


def test_sparsities_highest_first():
    assert SparsitySchedule({0: 40, 5: 20, 10: 0}).sparsities() == (40, 20, 0)


@pytest.mark.parametrize(
    "points, needle",
    [
        ({5: 20}, "no entry for epoch 0"),
        ({0: 40, -1: 20}, "negative"),
        ({0: 40, 2.5: 20}, "not a non-negative integer"),
        ({0: 40, True: 20}, "not a non-negative integer"),
        ({0: 100}, "[0, 100)"),
        ({0: -1}, "[0, 100)"),
        ({0: "forty"}, "must be a number"),
        ({}, "non-empty mapping"),
        ({0: 40, "0": 20}, "given twice"),
    ],
)
def test_invalid_schedules_are_refused_with_the_entry_named(points, needle):
    with pytest.raises(ScheduleError, match=None) as e:
        SparsitySchedule(points)
    assert needle in str(e.value)


def test_linear_decay_reaches_zero_after_n_epochs():
    s = SparsitySchedule.decay("linear", 40, 4)
    assert s.points == {0: 40.0, 1: 30.0, 2: 20.0, 3: 10.0, 4: 0.0}
    assert s.sparsity_for_epoch(5) == 0.0 and s.sparsity_for_epoch(1) == 40.0


def test_cosine_decay_is_monotone_and_symmetric():
    s = SparsitySchedule.decay("cosine", 40, 10)
    values = [s.points[k] for k in range(11)]
    assert values[0] == 40 and values[-1] == 0 and values[5] == pytest.approx(20)
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert values[1] > 36  # cosine decays slower than linear (36) at first


def test_unknown_decay_kind():
    with pytest.raises(ScheduleError, match="exponential"):
        SparsitySchedule.decay("exponential", 40, 10)


def test_messages_name_the_offending_entry():
    with pytest.raises(ScheduleError, match=r"^epoch 5: sparsity must be in \[0, 100\)"):
        SparsitySchedule({0: 40, 5: 120})
    with pytest.raises(ScheduleError, match=r"^epoch '3': sparsity must be a number"):
        SparsitySchedule({0: 40, "3": "ten"})
    with pytest.raises(ScheduleError, match=r"^initial: sparsity must be in \[0, 100\)"):
        SparsitySchedule.decay("linear", 120, 4)


@pytest.mark.parametrize("epochs", [0, -3, True, 2.0])
def test_decay_epochs_must_be_a_positive_integer(epochs):
    with pytest.raises(ScheduleError, match="decay epochs must be a positive integer"):
        SparsitySchedule.decay("linear", 40, epochs)


def test_a_one_epoch_decay_is_sparse_then_dense():
    s = SparsitySchedule.decay("cosine", 40, 1)
    assert s.points == {0: 40.0, 1: 0.0}


def test_decay_values_are_rounded_to_1e_6():
    # 40 * (1 + cos(pi / 10)) / 2 = 39.0211303...; 40 * 2/3 = 26.6666666...
    assert SparsitySchedule.decay("cosine", 40, 10).points[1] == 39.02113
    assert SparsitySchedule.decay("linear", 40, 3).points[1] == 26.666667


def test_epochs_count_from_one():
    with pytest.raises(ValueError, match="ESPnet epochs count from 1, got 0"):
        SparsitySchedule({0: 40}).sparsity_for_epoch(0)


def test_equality_is_by_points():
    assert SparsitySchedule({0: 40, 5: 0}) == SparsitySchedule({"0": 40.0, "5": 0})
    assert SparsitySchedule({0: 40, 5: 0}) != SparsitySchedule({0: 40, 6: 0})
    assert SparsitySchedule({0: 40}) != {0: 40.0}
