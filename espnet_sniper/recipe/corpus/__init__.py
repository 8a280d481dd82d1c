"""The mini corpus (run.sh --mini true): sentences of our own spoken by espeak-ng, in
LJSpeech's layout, with where espeak-ng started each word."""
