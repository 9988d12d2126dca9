"""Readers of the packed formats (Qt .rcc, OpenSFX .cat, DEP-5 copyright, GS kit MIDI) on small synthetic files,
plus the real installed packages when they are present."""
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile

from sounding.data.qt_rcc import RccBundle, RccFormatError
from sounding.data.sources import gcompris, gs_sfx, opensfx, supertuxkart


def make_rcc(files: dict[str, bytes], compress: set[str] = frozenset()) -> bytes:
    """A format-2 Qt resource bundle holding ``files`` (flat paths under one folder ``/res``)."""
    names, name_offsets = b"", {}
    for name in ["res", *files]:
        name_offsets[name] = len(names)
        encoded = name.encode("utf-16-be")
        names += struct.pack(">HI", len(name), 0) + encoded
    data, data_offsets = b"", {}
    for name, blob in files.items():
        stored = struct.pack(">I", len(blob)) + zlib.compress(blob) if name in compress else blob
        data_offsets[name] = len(data)
        data += struct.pack(">I", len(stored)) + stored
    tree = struct.pack(">IHII", 0, 2, 1, 1) + b"\0" * 8  # root: one child at index 1
    tree += struct.pack(">IHII", name_offsets["res"], 2, len(files), 2) + b"\0" * 8
    for name in files:
        flags = 1 if name in compress else 0
        tree += struct.pack(">IHHHI", name_offsets[name], flags, 0, 0, data_offsets[name]) + b"\0" * 8
    header = 20
    tree_offset, data_offset = header, header + len(tree)
    return b"qres" + struct.pack(">IIII", 2, tree_offset, data_offset, data_offset + len(data)) + tree + data + names


def test_rcc_reader_lists_and_reads_plain_and_compressed_files():
    bundle = RccBundle(make_rcc({"a.ogg": b"sound-bytes", "b.svg": b"<svg/>" * 50}, compress={"b.svg"}))
    assert bundle.paths() == ["/res/a.ogg", "/res/b.svg"]
    assert bundle.read("/res/a.ogg") == b"sound-bytes"
    assert bundle.read("/res/b.svg") == b"<svg/>" * 50


def test_rcc_reader_rejects_other_files():
    with pytest.raises(RccFormatError):
        RccBundle(b"PK\x03\x04 not a bundle")


def test_gcompris_refuses_the_reserved_activity():
    with pytest.raises(ValueError, match="reserved"):
        gcompris._activity_clips("explore_farm_animals")


def test_session_grouping_of_numbered_clips():
    assert gcompris.session_of("LRFactory_noise_03_LA") == gcompris.session_of("LRFactory_noise_06_LA")
    assert gcompris.session_of("guitar_son1") == gcompris.session_of("guitar_son4") == "guitar_son"
    assert gcompris.session_of("LRBark_1_LA_cut") == "LRBark"


def _wav_bytes(rate=11_025):
    buffer = io.BytesIO()
    soundfile.write(buffer, np.sin(np.arange(rate) / 5).astype(np.float32) * 0.5, rate, format="WAV",
                    subtype="PCM_U8")
    return buffer.getvalue()


def test_opensfx_catalogue_reader():
    entries = [(b'"Cow". By X. License: Creative Commons Zero 1.0.\0', _wav_bytes()),
               (b'"Ship horn". By Y. License: Creative Commons Attribution 3.0 Unported.\0', _wav_bytes(8000))]
    table_size = 8 * len(entries)
    table, blobs = b"", b""
    for name, wav in entries:
        blob = bytes([len(name)]) + name + wav
        table += struct.pack("<II", (table_size + len(blobs)) | 0x80000000, len(blob))
        blobs += blob
    read = opensfx.read_catalogue(table + blobs)
    assert [opensfx.title_and_licence(description) for description, _ in read] == [
        ("Cow", "CC0-1.0"), ("Ship horn", "CC-BY-3.0")]
    samples, rate = soundfile.read(io.BytesIO(read[1][1]))
    assert rate == 8000 and len(samples) == 8000


def test_dep5_licences():
    text = ("Files: data/sfx/a.ogg\n data/sfx/b.ogg\nCopyright: someone\nLicense: CC0\n\n"
            "Files: data/sfx/c.ogg\nCopyright: x\nLicense: CC-BY-SA-3.0\nComment: hi\n")
    assert supertuxkart.read_dep5_licences(text) == {
        "data/sfx/a.ogg": "CC0", "data/sfx/b.ogg": "CC0", "data/sfx/c.ogg": "CC-BY-SA-3.0"}


def test_note_midi_is_a_single_note_file():
    midi = gs_sfx.note_midi(76, 100, 1.0, channel=9, program=56, bank=128)
    assert midi[:4] == b"MThd" and midi[14:18] == b"MTrk"
    assert bytes([0x99, 76, 100]) in midi and bytes([0x89, 76, 0]) in midi and bytes([0xB9, 0, 128]) in midi


@pytest.mark.skipif(not gs_sfx.GS_SOUNDFONT.exists() or not Path("/usr/bin/fluidsynth").exists(),
                    reason="fluidsynth and fluid-soundfont-gs are not installed")
def test_fluidsynth_renders_the_dog_of_the_sfx_kit():
    samples, rate = gs_sfx.render(gs_sfx.note_midi(76, 100, 0.5, 9, program=56, bank=128), gs_sfx.GS_SOUNDFONT, 0.0)
    assert rate == gs_sfx.RENDER_RATE and np.abs(samples).max() > 0.01


@pytest.mark.skipif(not gcompris.RCC_DIR.exists(), reason="gcompris-qt-data is not installed")
def test_real_gcompris_bundles():
    clips = gcompris.clips()
    assert len(clips) >= 30 and not any("explore_farm_animals" in clip.recording for clip in clips)
    samples, rate = clips[0].load_audio()
    assert rate > 0 and len(samples) > rate // 10
