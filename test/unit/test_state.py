"""A damaged or foreign SNIPER state is refused with a message that says what to do."""

import pickle

import pytest
import torch

from espnet_sniper.state import SniperState, SniperStateError

META = {"params": {"enc.weight": [4, 3], "dec.weight": [2, 4]},
        "sniper_config": {"schedule": {0: 40, 5: 20, 10: 0}, "max_param_sparsity": 75.0}}


@pytest.fixture
def saved(tmp_path):
    gen = torch.Generator().manual_seed(0)
    values = {n: torch.randn(*s, generator=gen) for n, s in META["params"].items()}
    state = SniperState(scores={n: v.abs() for n, v in values.items()},
                        init_values=values, meta=META)
    path = tmp_path / "sniper" / "state.pth"
    state.save(path)
    return state, path


def test_round_trip_and_no_temporary_left(saved):
    state, path = saved
    loaded = SniperState.load(path)
    assert loaded.meta == META
    for name in META["params"]:
        assert torch.equal(loaded.scores[name], state.scores[name])
        assert torch.equal(loaded.init_values[name], state.init_values[name])
    assert [p.name for p in path.parent.iterdir()] == ["state.pth"]


def _expect_refusal(path, *needles):
    with pytest.raises(SniperStateError) as info:
        SniperState.load(path)
    for needle in (str(path), *needles):
        assert needle in str(info.value)


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.95])
def test_truncated_state_is_refused(saved, keep):
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    _expect_refusal(path, "truncated or corrupted", "delete")


def test_flipped_tensor_bytes_are_caught_by_the_digest(saved):
    state, path = saved
    data = bytearray(path.read_bytes())
    # the raw float32 bytes of one score tensor, stored uncompressed in torch's zip format
    needle = state.scores["enc.weight"].numpy().tobytes()
    at = bytes(data).index(needle)
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SniperStateError, match="do not match their digest"):
        SniperState.load(path)


def test_a_pickle_that_would_run_code_is_not_loaded(saved, tmp_path):
    _, path = saved
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"format_version": 1, "x": Exploit()}, path, pickle_module=pickle)
    _expect_refusal(path, "cannot be read")
    assert not marker.exists()


def test_another_programs_file_is_refused(saved):
    _, path = saved
    torch.save({"model": {}}, path)
    _expect_refusal(path, "not a SNIPER state")


@pytest.mark.parametrize("edit, key", [
    (lambda m: m["params"].update({"enc.weight": [4, 4]}), "params.enc.weight"),
    (lambda m: m["params"].pop("dec.weight"), "params.dec.weight"),
    (lambda m: m["sniper_config"]["schedule"].update({5: 10}), "sniper_config.schedule.5"),
    (lambda m: m["sniper_config"].update(max_param_sparsity=100.0),
     "sniper_config.max_param_sparsity"),
])
def test_a_state_from_another_model_or_config_is_refused_naming_the_key(saved, edit, key):
    state, path = saved
    now = {"params": dict(META["params"]),
           "sniper_config": {**META["sniper_config"],
                             "schedule": dict(META["sniper_config"]["schedule"])}}
    edit(now)
    with pytest.raises(SniperStateError) as info:
        state.check_matches(path, now)
    message = str(info.value)
    assert f"made with {key} = " in message and "new output directory" in message
    state.check_matches(path, META)  # and the unchanged one passes


def test_a_state_from_before_the_mask_choice_keys_resumes_with_their_defaults(saved):
    _, path = saved
    state = SniperState.load(path)
    now = {**META, "sniper_config": {**META["sniper_config"], "allocation": "global",
                                     "shuffle_within_tensor": False}}
    state.check_matches(path, now)  # made before the keys existed: the paper's masks
    with pytest.raises(SniperStateError, match="sniper_config.allocation"):
        state.check_matches(path, {**now, "sniper_config": {**now["sniper_config"],
                                                            "allocation": "erk"}})


def test_a_state_from_before_kept_variance_resumes_without_it(saved):
    _, path = saved
    state = SniperState.load(path)
    assert "kept_variance" not in state.meta["sniper_config"]
    now = {**META, "sniper_config": {**META["sniper_config"], "kept_variance": None}}
    state.check_matches(path, now)  # made before the key existed: no rescaling
    with pytest.raises(SniperStateError, match="made with sniper_config.kept_variance = None"):
        state.check_matches(path, {**now, "sniper_config": {**now["sniper_config"],
                                                            "kept_variance": "random"}})


def test_a_state_with_kept_variance_round_trips(tmp_path):
    meta = {**META, "sniper_config": {**META["sniper_config"], "kept_variance": "dense"}}
    values = {n: torch.ones(*s) for n, s in META["params"].items()}
    path = tmp_path / "state.pth"
    SniperState(scores=values, init_values=values, meta=meta).save(path)
    loaded = SniperState.load(path)
    assert loaded.meta["sniper_config"]["kept_variance"] == "dense"
    loaded.check_matches(path, meta)


def test_a_missing_section_or_mixed_key_types_are_named_not_a_crash(saved):
    state, path = saved
    with pytest.raises(SniperStateError, match="made with sniper_config = "):
        state.check_matches(path, {"params": META["params"]})
    # keys that only a string form orders (an epoch read as 5 or as "5") still compare
    now = {**META, "sniper_config": {**META["sniper_config"],
                                     "schedule": {0: 40, "5": 20, 10: 0}}}
    with pytest.raises(SniperStateError, match="made with sniper_config.schedule.5 = "):
        state.check_matches(path, now)


def test_the_read_error_is_named(saved, tmp_path):
    _, path = saved

    class Exploit:
        def __reduce__(self):
            return (print, ("never",))

    torch.save({"x": Exploit()}, path, pickle_module=pickle)
    _expect_refusal(path, "cannot be read (UnpicklingError: ")
