"""Token durations from a teacher's soft attention by monotonic alignment search.

Counting, for each decoder step, the token with the largest attention weight (ESPnet's
duration calculator) skips every token that never wins a step: with a reduction factor of
3 and blurry attention, half of the tokens get 0 frames. Searching instead for the
monotonic path through the attention that collects the most log-probability, with every
token held for at least one frame (as Glow-TTS aligns text and speech), keeps the
teacher's timing and gives every token a duration.
"""

import numpy as np

_FLOOR = 1e-8  # attention weights of exactly 0 would make every path through them -inf


def frame_attention(att_w: np.ndarray, reduction_factor: int, num_frames: int) -> np.ndarray:
    """(steps, tokens) attention of a decoder emitting r frames per step -> (frames, tokens).

    Each step's row covers its r frames; the frames the decoder dropped at the end
    (fewer than r) take the last row.
    """
    steps = att_w.shape[0]
    if not 0 <= num_frames - steps * reduction_factor < reduction_factor:
        raise ValueError(f"{steps} steps of {reduction_factor} frames cannot cover "
                         f"{num_frames} frames")
    rows = np.minimum(np.arange(num_frames) // reduction_factor, steps - 1)
    return att_w[rows]


def monotonic_durations(attention: np.ndarray) -> np.ndarray:
    """(frames, tokens) attention -> (tokens,) frame counts, each >= 1, summing to frames.

    The path starts on the first token at the first frame, ends on the last token at the
    last frame, and from one frame to the next stays on its token or moves to the next.
    """
    num_frames, num_tokens = attention.shape
    if num_frames < num_tokens:
        raise ValueError(f"{num_frames} frames are too few for {num_tokens} tokens "
                         "(each token needs at least one frame)")
    log_p = np.log(np.maximum(attention, _FLOOR))
    best = np.full(num_tokens, -np.inf)
    best[0] = log_p[0, 0]
    moved = np.zeros((num_frames, num_tokens), dtype=bool)
    for t in range(1, num_frames):
        from_previous = np.concatenate(([-np.inf], best[:-1]))
        moved[t] = from_previous > best
        best = np.maximum(best, from_previous) + log_p[t]
    durations = np.zeros(num_tokens, dtype=np.int64)
    token = num_tokens - 1
    for t in range(num_frames - 1, -1, -1):
        durations[token] += 1
        if t > 0 and moved[t, token]:
            token -= 1
    return durations
