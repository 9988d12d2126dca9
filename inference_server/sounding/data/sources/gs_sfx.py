"""Fluid R3 sound effects and instruments rendered with fluidsynth: the GS "SFX" drum kit (bank 128, program 56,
one effect per key) and a few GM melodic programs. Each effect or program is one recording; its variants differ in
velocity, note length, pitch (melodic only) and reverb, and stay in the recording's split.

Two more GM sound fonts (and FluidR3 GM's own effect programs 122-127) add timbres as *variants* of those same
recordings, not as new ones: the split assigns recordings by per-class counts in a hash order, so a new recording
would move old ones between splits (and a generator trained on the old splits would then have seen test audio).
A program rendered from another font is the same instrument or effect played by another sampler, so it joins the
recording of that program or kit effect and inherits its split; MuseScore General also reuses many FluidR3 samples,
which this keeps in one split."""
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
#: GM sound-effect program -> the GS SFX kit key of the same effect, whose recording its renders are variants of.
GM_EFFECTS = {122: 82, 123: 78, 125: 70, 126: 58, 127: 72}


@dataclass(frozen=True)
class ExtraFont:
    """A GM sound font whose renders of ``programs`` (keys of GM_PROGRAMS or GM_EFFECTS) are extra variants."""

    path: Path
    package: str
    licence: str
    #: Variant names are ``<prefix>-v<n>``; FluidR3's own renders keep ``v<n>``.
    prefix: str
    programs: tuple[int, ...]


EXTRA_FONTS = (
    # FluidR3 GM's effect programs are other samples than the GS kit's (waveform correlation < 0.2).
    ExtraFont(GM_SOUNDFONT, "fluid-soundfont-gm", "MIT", "gm", tuple(GM_EFFECTS)),
    ExtraFont(Path("/usr/share/sounds/sf2/TimGM6mb.sf2"), "timgm6mb-soundfont", "GPL-2", "tim",
              (*GM_PROGRAMS, *GM_EFFECTS)),
    # Only the programs where MuseScore General has its own samples; its others (and all its effects) render as
    # FluidR3 GM's (correlation 0.86-1.0) and would only duplicate clips.
    ExtraFont(Path("/usr/share/sounds/sf3/MuseScore_General_Full.sf3"), "musescore-general-soundfont", "MIT", "msg",
              (0, 1, 42, 71)),
)
PACKAGES = ("fluid-soundfont-gs", "fluid-soundfont-gm", "fluidsynth", *(font.package for font in EXTRA_FONTS))


@dataclass(frozen=True)
class RenderVariant:
    velocity: int
    seconds: float
    reverb_room: float
    #: Semitones added to the base note (melodic programs only: kit keys select the effect, GM effects stay at 60).
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


def kit_recording(key: int) -> str:
    return f"fluid-soundfont-gs:sfx-kit/{key}-{SFX_KIT[key][0]}"


def program_recording(program: int) -> str:
    return f"fluid-soundfont-gm:program/{program}-{GM_PROGRAMS[program][0]}"


def _clip(name: str, recording: str, label: str, caption: str, licence: str, variant: str, midi: bytes,
          soundfont: Path, reverb_room: float) -> SourceClip:
    return SourceClip(source=NAME, name=name, recording=recording, label=label, caption=caption, licence=licence,
                      variant=variant, load_audio=lambda: render(midi, soundfont, reverb_room))


def extra_clips(font: ExtraFont) -> list[SourceClip]:
    """``font``'s renders of its programs, each a variant of the FluidR3 recording of the same program or effect."""
    found = []
    for program in font.programs:
        if program in GM_EFFECTS:
            key = GM_EFFECTS[program]
            effect, label = SFX_KIT[key]
            name, recording, caption = effect, kit_recording(key), f"{effect.capitalize()}."
        elif program in GM_PROGRAMS:
            name, label = GM_PROGRAMS[program]
            recording, caption = program_recording(program), f"A {name} note."
        else:
            raise ValueError(f"{font.path.name}: GM program {program} is neither in GM_PROGRAMS nor in GM_EFFECTS")
        for index, variant in enumerate(VARIANTS):
            note = 60 + (0 if program in GM_EFFECTS else variant.transpose)
            midi = note_midi(note, variant.velocity, variant.seconds, 0, program=program)
            found.append(_clip(name, recording, label, caption, font.licence, f"{font.prefix}-v{index}", midi,
                               font.path, variant.reverb_room))
    return found


def clips() -> list[SourceClip]:
    if shutil.which("fluidsynth") is None:
        raise FileNotFoundError("fluidsynth is needed to render the sound fonts")
    missing = [str(path) for path in (GS_SOUNDFONT, GM_SOUNDFONT, *(font.path for font in EXTRA_FONTS))
               if not path.exists()]
    if missing:
        raise FileNotFoundError(f"sound fonts not installed: {', '.join(missing)} (packages: {', '.join(PACKAGES)})")
    return listed_clips()


def listed_clips() -> list[SourceClip]:
    """Every clip this source offers, listed without checking that the fonts are installed (nothing is rendered)."""
    found = []
    for key, (effect, label) in SFX_KIT.items():
        for index, variant in enumerate(VARIANTS):
            midi = note_midi(key, variant.velocity, variant.seconds, _DRUM_CHANNEL, program=56, bank=128)
            found.append(_clip(effect, kit_recording(key), label, f"{effect.capitalize()}.", LICENCE, f"v{index}",
                               midi, GS_SOUNDFONT, variant.reverb_room))
    for program, (instrument, label) in GM_PROGRAMS.items():
        for index, variant in enumerate(VARIANTS):
            midi = note_midi(60 + variant.transpose, variant.velocity, variant.seconds, 0, program=program)
            found.append(_clip(instrument, program_recording(program), label, f"A {instrument} note.", LICENCE,
                               f"v{index}", midi, GM_SOUNDFONT, variant.reverb_room))
    for font in EXTRA_FONTS:
        found.extend(extra_clips(font))
    return found
