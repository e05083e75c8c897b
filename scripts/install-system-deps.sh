#!/usr/bin/env bash
# Installs, where we can (Debian/Ubuntu as root), the programs noizenet uses when
# they are there: FluidSynth and a General MIDI SoundFont (WAV of MIDI; else a
# built-in synthesizer), abcm2ps (sheet music of ABC samples in report.html; else a
# note per sample), abcmidi (abc2midi: MIDI and audio of generated tunes music21
# cannot read; else those have none) and Chromium (the test that opens report.html as a person would;
# else that test is skipped and says why). Nothing here is needed to run noizenet.
set -u
missing=()
command -v fluidsynth >/dev/null 2>&1 && [ -e /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing+=(fluidsynth fluid-soundfont-gm)
command -v abcm2ps >/dev/null 2>&1 || missing+=(abcm2ps)
command -v abc2midi >/dev/null 2>&1 || missing+=(abcmidi)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: not installed (needs root and apt-get): ${missing[*]}; noizenet works without them (see README)." >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
install() { apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; }
install "${missing[@]}" || { apt-get update -qq >/dev/null 2>&1; install "${missing[@]}"; } || {
  for package in "${missing[@]}"; do  # one at a time: one that cannot be had leaves the others
    install "$package" || echo "note: could not install $package; noizenet works without it (see README)." >&2
  done
}
exit 0
