"""Extra GM sound fonts in the GS/GM source: their renders are variants of the existing FluidR3 recordings, so they
add timbres without moving any recording to another split."""
import re
import shutil
from dataclasses import replace

import numpy as np
import pytest

from sounding.data.sources import gs_sfx
from sounding.data.splits import assign_splits

FONTS_INSTALLED = shutil.which("fluidsynth") is not None and all(
    path.exists() for path in (gs_sfx.GS_SOUNDFONT, gs_sfx.GM_SOUNDFONT, *(font.path for font in gs_sfx.EXTRA_FONTS)))
needs_fonts = pytest.mark.skipif(not FONTS_INSTALLED, reason="fluidsynth and the sound fonts are not installed")


def _fluidr3_and_extra():
    clips = gs_sfx.listed_clips()
    fluidr3 = [clip for clip in clips if re.fullmatch(r"v\d+", clip.variant)]
    return clips, fluidr3, [clip for clip in clips if clip not in fluidr3]


def test_extra_renders_are_variants_of_the_existing_recordings_with_their_own_licences():
    clips, fluidr3, extra = _fluidr3_and_extra()
    assert len(fluidr3) == (len(gs_sfx.SFX_KIT) + len(gs_sfx.GM_PROGRAMS)) * len(gs_sfx.VARIANTS)
    label_of = {clip.recording: clip.label for clip in fluidr3}
    assert extra and all(label_of[clip.recording] == clip.label for clip in extra)
    assert len({clip.id for clip in clips}) == len(clips)
    licence_of = {font.prefix: font.licence for font in gs_sfx.EXTRA_FONTS}
    assert licence_of["tim"] == "GPL-2" and licence_of["msg"] == "MIT"
    assert all(clip.licence == licence_of[clip.variant.split("-")[0]] for clip in extra)
    effect_recordings = {gs_sfx.kit_recording(key) for key in gs_sfx.GM_EFFECTS.values()}
    assert effect_recordings <= {clip.recording for clip in extra}


def test_extra_renders_leave_every_split_unchanged():
    clips, fluidr3, _ = _fluidr3_and_extra()
    # Other sources' recordings of the same classes take part in the per-class split too.
    others = {f"other:{clip.label}/{index}": clip.label for clip in fluidr3 for index in range(3)}
    before = assign_splits({**others, **{clip.recording: clip.label for clip in fluidr3}})
    after = assign_splits({**others, **{clip.recording: clip.label for clip in clips}})
    assert after == before


@needs_fonts
def test_each_extra_font_renders_sound():
    _, _, extra = _fluidr3_and_extra()
    for font in gs_sfx.EXTRA_FONTS:
        first = next(clip for clip in extra if clip.variant == f"{font.prefix}-v0")
        samples, rate = first.load_audio()
        assert rate == gs_sfx.RENDER_RATE and np.abs(samples).max() > 0.01, font.path


def test_a_program_without_a_recording_is_refused():
    font = replace(gs_sfx.EXTRA_FONTS[0], programs=(124,))
    with pytest.raises(ValueError, match="124"):
        gs_sfx.extra_clips(font)
