"""Durations from a teacher's attention by monotonic alignment search (the recipe's stage 4)."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from espnet_sniper.recipe.alignment.monotonic import frame_attention, monotonic_durations


def _path_score(log_p: np.ndarray, durations) -> float:
    tokens = np.repeat(np.arange(len(durations)), durations)
    return float(log_p[np.arange(len(tokens)), tokens].sum())


def _attention_of(durations, blur: float) -> np.ndarray:
    """Attention that peaks on the token each frame belongs to, spilling onto neighbours."""
    tokens = np.repeat(np.arange(len(durations)), durations)
    dist = np.abs(np.arange(len(durations))[None, :] - tokens[:, None])
    att = np.exp(-dist / blur)
    return att / att.sum(1, keepdims=True)


def test_sharp_attention_gives_its_durations_back():
    truth = [3, 1, 4, 1, 5, 9, 2]
    assert monotonic_durations(_attention_of(truth, blur=0.3)).tolist() == truth


def test_every_token_gets_a_frame_where_argmax_skips_it():
    # token 1 is never the largest weight of any frame, so counting argmaxes gives it 0
    att = np.array([[0.6, 0.4, 0.0], [0.5, 0.45, 0.05], [0.0, 0.45, 0.55], [0.0, 0.1, 0.9]])
    assert np.bincount(att.argmax(1), minlength=3)[1] == 0
    durations = monotonic_durations(att)
    assert durations.min() >= 1 and durations.sum() == 4


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(0, 4), st.integers(0, 2**32 - 1))
def test_the_path_is_the_best_monotonic_one(num_tokens, spare_frames, seed):
    num_frames = num_tokens + spare_frames
    att = np.random.default_rng(seed).dirichlet(np.ones(num_tokens), size=num_frames)
    durations = monotonic_durations(att)
    assert durations.sum() == num_frames and durations.min() >= 1
    log_p = np.log(np.maximum(att, 1e-8))
    # every split of the frames into num_tokens non-empty runs, by brute force
    best = max(
        _path_score(log_p, np.diff((0, *cuts, num_frames)))
        for cuts in itertools.combinations(range(1, num_frames), num_tokens - 1)
    )
    assert _path_score(log_p, durations) == pytest.approx(best)


def test_too_few_frames_is_an_error():
    with pytest.raises(ValueError, match="too few"):
        monotonic_durations(np.full((2, 3), 1 / 3))


def test_frame_attention_spreads_steps_over_reduction_factor_frames():
    att = np.eye(3)
    frames = frame_attention(att, reduction_factor=3, num_frames=11)
    assert frames.shape == (11, 3)
    assert frames.argmax(1).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2]
    with pytest.raises(ValueError, match="cannot cover"):
        frame_attention(att, reduction_factor=3, num_frames=12)
