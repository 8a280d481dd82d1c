"""Token durations for FastSpeech2: the forward-sum aligner (forward_sum), the Tacotron2
teacher's teacher-forced attention (teacher, fetch_teacher for a pretrained one),
monotonic alignment search over an attention (monotonic), and the checks of the result
(check_durations, word_onsets)."""
