#!/usr/bin/env bash
# Installs FluidSynth and a General MIDI SoundFont where we can (Debian/Ubuntu as
# root). Without them noizenet renders WAV with its built-in synthesizer and says so.
set -u
if command -v fluidsynth >/dev/null 2>&1 && [ -e /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: FluidSynth not installed (needs root and apt-get); WAV files will use the built-in synthesizer." >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends fluidsynth fluid-soundfont-gm >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1
  apt-get install -y -qq --no-install-recommends fluidsynth fluid-soundfont-gm >/dev/null 2>&1 \
    || echo "note: could not install FluidSynth; WAV files will use the built-in synthesizer." >&2
fi
exit 0
