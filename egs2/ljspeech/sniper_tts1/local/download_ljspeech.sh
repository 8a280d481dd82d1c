#!/usr/bin/env bash
# Downloads and unpacks LJSpeech-1.1 into DIR/LJSpeech-1.1. Offline, it stops with a
# message that says what to do instead.
set -euo pipefail

url=${LJSPEECH_URL:-https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2}   # a mirror may be given
dir=${1:?usage: $0 DOWNLOAD_DIR}

if [ -f "${dir}/LJSpeech-1.1/metadata.csv" ]; then
    echo "LJSpeech-1.1 already in ${dir}" >&2
    exit 0
fi
mkdir -p "${dir}"
archive=${dir}/LJSpeech-1.1.tar.bz2
if [ ! -f "${archive}" ]; then
    echo "downloading ${url} (2.6 GB)" >&2
    if ! curl -fL --retry 2 --connect-timeout 20 -o "${archive}.partial" "${url}"; then
        rm -f "${archive}.partial"
        echo "error: could not download ${url} (no network?). Download and unpack" \
             "LJSpeech-1.1 elsewhere and pass --db_root /path/to/LJSpeech-1.1, or run" \
             "./run.sh --mini true for the generated mini corpus." >&2
        exit 1
    fi
    mv "${archive}.partial" "${archive}"
fi
rm -rf "${dir}/LJSpeech-1.1.partial"
mkdir -p "${dir}/LJSpeech-1.1.partial"
tar -xjf "${archive}" -C "${dir}/LJSpeech-1.1.partial" --strip-components 1
mv "${dir}/LJSpeech-1.1.partial" "${dir}/LJSpeech-1.1"
echo "LJSpeech-1.1 unpacked in ${dir}/LJSpeech-1.1" >&2
