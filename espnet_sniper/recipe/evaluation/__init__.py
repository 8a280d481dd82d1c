"""Stage 8: scoring against a floor and a no-skill baseline (score), intelligibility and
the recipe's own ASR judge (intelligibility, asr_judge), mel pictures (plot_mels), the
samples page (samples_page), and the listening-test kit (listening_test, its page in
listening_kit/) with its report (listening_report)."""
