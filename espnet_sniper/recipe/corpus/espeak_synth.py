"""Speak with the espeak-ng library and record where each word starts.

The command line ``espeak-ng -w`` writes the same samples (it synthesizes with an end
pause, as here), but it cannot say where the words are; the library reports a word event
with its sample position while it synthesizes. Those positions are the truth the
teacher's durations are measured against (``word_onsets.py``).

The library keeps state (filters, noise) from one text to the next, and neither
re-initializing nor terminating it resets that (terminating can hang), so each call of
``speak`` must run in a process of its own: then every utterance is exactly what
``espeak-ng -w`` alone would write.
"""

import ctypes
import ctypes.util
from typing import List, Tuple

import numpy as np

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_RATE = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p),
                ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


def speak(text: str, voice: str, words_per_minute: int) -> Tuple[np.ndarray, int, List[int]]:
    """int16 samples, their sample rate, and the sample at which each word starts."""
    name = ctypes.util.find_library("espeak-ng")
    if name is None:
        raise RuntimeError("the espeak-ng library is not installed; run tools/setup.sh "
                           "(it installs espeak-ng)")
    lib = ctypes.CDLL(name)
    sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0)
    if sample_rate <= 0:
        raise RuntimeError(f"espeak-ng failed to initialize (code {sample_rate})")
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise ValueError(f"espeak-ng has no voice {voice!r} (see espeak-ng --voices)")
    lib.espeak_SetParameter(_RATE, words_per_minute, 0)

    chunks: List[np.ndarray] = []
    onsets: List[int] = []

    def collect(wav, n_samples: int, events) -> int:
        if n_samples > 0:
            chunks.append(np.ctypeslib.as_array(wav, (n_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            # after a clause, espeak-ng may close with a word event of no text (length 0)
            if events[i].type == _EVENT_WORD and events[i].length > 0:
                onsets.append(events[i].sample)
            i += 1
        return 0

    callback = _Callback(collect)  # referenced until synthesis ends
    lib.espeak_SetSynthCallback(callback)
    data = text.encode("utf-8")
    code = lib.espeak_Synth(ctypes.create_string_buffer(data), len(data) + 1, 0, _POS_CHARACTER,
                            0, _CHARS_UTF8 | _ENDPAUSE, None, None)
    if code != 0:
        raise RuntimeError(f"espeak-ng failed to speak {text!r} (code {code})")
    lib.espeak_Synchronize()
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    return samples, sample_rate, onsets
