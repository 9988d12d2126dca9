"""Fluid R3 sound effects and instruments rendered with fluidsynth: the GS "SFX" drum kit (bank 128, program 56,
one effect per key) and a few GM melodic programs. Each effect or program is one recording; its variants differ in
velocity, note length, pitch (melodic only) and reverb, and stay in the recording's split."""
from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sounding.data.audio_prep import load_mono
from sounding.data.sources import SourceClip

NAME = "gs_sfx"
PACKAGES = ("fluid-soundfont-gs", "fluid-soundfont-gm", "fluidsynth")
LICENCE = "MIT"
GS_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GS.sf2")
GM_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RENDER_RATE = 44_100
_TICKS_PER_SECOND = 960  # 480 ticks per beat at the default 120 beats per minute
_DRUM_CHANNEL = 9

#: GS SFX kit key -> (effect name, class).
SFX_KIT = {
    55: ("heart beat", "heartbeat"), 56: ("footsteps 1", "footsteps"), 57: ("footsteps 2", "footsteps"),
    58: ("applause", "applause"), 59: ("door creaking", "door"), 60: ("door", "door"),
    62: ("wind chimes", "bell"), 63: ("car engine", "car"), 64: ("car stop", "car"), 65: ("car pass", "car"),
    66: ("car crash", "crash"), 67: ("siren", "siren"), 68: ("train", "train"), 69: ("jet plane", "airplane"),
    70: ("helicopter", "helicopter"), 72: ("gun shot", "gun"), 73: ("machine gun", "gun"),
    75: ("explosion", "explosion"), 76: ("dog", "dog"), 77: ("horse gallop", "horse"), 78: ("birds", "bird"),
    79: ("rain", "rain"), 80: ("thunder", "thunder"), 81: ("wind", "wind"), 82: ("seashore", "water"),
    83: ("stream", "water"),
}
#: GM program -> (instrument name, class).
GM_PROGRAMS = {
    0: ("acoustic grand piano", "piano"), 1: ("bright piano", "piano"),
    24: ("nylon guitar", "guitar"), 25: ("steel guitar", "guitar"),
    40: ("violin", "violin"), 42: ("cello", "violin"),
    56: ("trumpet", "trumpet"), 57: ("trombone", "trumpet"),
    73: ("flute", "flute"), 71: ("clarinet", "flute"),
}


@dataclass(frozen=True)
class RenderVariant:
    velocity: int
    seconds: float
    reverb_room: float
    #: Semitones added to the base note (melodic programs only; kit keys select the effect).
    transpose: int = 0


VARIANTS = (
    RenderVariant(velocity=100, seconds=2.0, reverb_room=0.0),
    RenderVariant(velocity=70, seconds=1.0, reverb_room=0.6, transpose=-5),
    RenderVariant(velocity=127, seconds=4.0, reverb_room=0.2, transpose=7),
    RenderVariant(velocity=85, seconds=3.0, reverb_room=0.9, transpose=-12),
)


def _vlq(value: int) -> bytes:
    """MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.insert(0, (value & 0x7F) | 0x80)
        value >>= 7
    return bytes(out)


def note_midi(note: int, velocity: int, seconds: float, channel: int, program: int, bank: int = 0) -> bytes:
    """A format-0 MIDI file holding one note (bank select, program change, note on, note off, one second tail)."""
    events = b""
    if bank:
        events += _vlq(0) + bytes([0xB0 | channel, 0, bank])
    events += _vlq(0) + bytes([0xC0 | channel, program])
    events += _vlq(0) + bytes([0x90 | channel, note, velocity])
    events += _vlq(int(seconds * _TICKS_PER_SECOND)) + bytes([0x80 | channel, note, 0])
    events += _vlq(_TICKS_PER_SECOND) + b"\xff\x2f\x00"
    track = b"MTrk" + struct.pack(">I", len(events)) + events
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + track


def render(midi: bytes, soundfont: Path, reverb_room: float):
    """Render with the fluidsynth command line (no audio device) -> (mono samples, rate)."""
    with tempfile.TemporaryDirectory() as tmp:
        midi_path, wav_path = Path(tmp) / "note.mid", Path(tmp) / "note.wav"
        midi_path.write_bytes(midi)
        command = ["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(RENDER_RATE), "-C", "0",
                   "-R", "1" if reverb_room > 0 else "0", "-o", f"synth.reverb.room-size={reverb_room}",
                   "-F", str(wav_path), str(soundfont), str(midi_path)]
        subprocess.run(command, check=True, capture_output=True, timeout=60)
        return load_mono(wav_path)


def clips() -> list[SourceClip]:
    if shutil.which("fluidsynth") is None or not GS_SOUNDFONT.exists():
        raise FileNotFoundError("fluidsynth and fluid-soundfont-gs are needed to render the GS SFX kit")
    found = []
    for key, (effect, label) in SFX_KIT.items():
        for index, variant in enumerate(VARIANTS):
            midi = note_midi(key, variant.velocity, variant.seconds, _DRUM_CHANNEL, program=56, bank=128)
            found.append(SourceClip(
                source=NAME, name=effect, recording=f"fluid-soundfont-gs:sfx-kit/{key}-{effect}", label=label,
                caption=f"{effect.capitalize()}.", licence=LICENCE, variant=f"v{index}",
                load_audio=lambda midi=midi, room=variant.reverb_room: render(midi, GS_SOUNDFONT, room),
            ))
    for program, (instrument, label) in GM_PROGRAMS.items():
        for index, variant in enumerate(VARIANTS):
            midi = note_midi(60 + variant.transpose, variant.velocity, variant.seconds, 0, program=program)
            found.append(SourceClip(
                source=NAME, name=instrument, recording=f"fluid-soundfont-gm:program/{program}-{instrument}",
                label=label, caption=f"A {instrument} note.", licence=LICENCE, variant=f"v{index}",
                load_audio=lambda midi=midi, room=variant.reverb_room: render(midi, GM_SOUNDFONT, room),
            ))
    return found
