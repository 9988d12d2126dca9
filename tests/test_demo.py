"""The main job (`python3 build.py demo`) end to end on the embedded foley-mini, shortened: a real `sounding serve`
process, every demo scene through protocol v1, and the files of `demo_out/`."""
import re

import numpy as np
import soundfile

import sounding.data.images
from sounding import demo
from sounding_protocol.client import unsure_note


def test_the_demo_writes_a_page_that_shows_and_plays_every_scene(tmp_path, capsys):
    out = tmp_path / "demo_out"
    out.mkdir()
    (out / "99_earlier_run_v1.wav").write_bytes(b"RIFF")
    (out / "notes.txt").write_text("mine")
    assert demo.main(["--out", str(out), "--steps", "2", "--duration", "1", "--variations", "1"]) == 0
    page = (out / "index.html").read_text()
    for scene in demo.SCENES:
        assert scene.title in page
    referenced = re.findall(r"src='([^']+)'", page)
    wavs = [name for name in referenced if name.endswith(".wav")]
    alone = [name for name in wavs if "_object" in name]  # a mix's own sound of each object
    assert len(wavs) - len(alone) == len(demo.SCENES)
    assert len(referenced) == 3 * len(demo.SCENES) + len(alone)  # overlay, sound, spectrogram; each object alone
    assert len(alone) == 2 * len(re.findall(r"made to sound like <b>\w+ \+ \w+</b>", page)) > 0  # two-object mixes
    assert {"02_music_room_v1_object1.wav", "02_music_room_v1_object2.wav"} <= set(alone)
    assert "object 1: piano alone" in page and "object 2: guitar alone" in page
    assert all((out / name).is_file() for name in referenced)
    assert not (out / "99_earlier_run_v1.wav").exists() and (out / "notes.txt").read_text() == "mine"
    for name in wavs:
        audio, rate = soundfile.read(out / name)
        assert rate == 16000 and len(audio) == rate and np.abs(audio).max() > 0.01
    assert page.count("made to sound like <b>") == len(demo.SCENES)  # foley-mini has an object prior
    assert "made to sound like <b>fireworks</b> (asked for by name)" in page
    for label in ("piano", "guitar", "horse"):  # objects of the rendered 3D frames, clicked inside their exact masks
        assert f"made to sound like <b>{label}</b>" in page
    sections = {s.split("</h2>")[0]: s for s in page.split("<section><h2>")[1:]}
    rendered = [text for title, text in sections.items() if "3D frame" in title]
    assert len(rendered) == 4 and not any("unsure" in text for text in rendered)  # the classes it knows
    cat = sections["One object: the cat (a close-up: five clicks)"]
    assert f"made to sound like <b>dog</b> ({unsure_note()})" in cat
    # both clicked: each object made apart, then mixed, and each names what else it may be
    assert "made to sound like <b>piano + guitar</b> (object 1: piano, or like " in page
    named = sections["Two-object scene, clicking both, the cat asked to sound like a dog"]
    assert "made to sound like <b>dog + " in named and "(object 1: dog, or like " in named  # one object named alone
    printed = capsys.readouterr().out
    assert "skipped" not in printed
    assert "recognised as:" in printed
    assert "made to sound like: fireworks (asked for by name)" in printed
    assert printed.count("made to sound like: ") == len(demo.SCENES)
    assert "\n    object 2: guitar, or like " in printed


def test_a_rendered_frame_gives_each_model_its_exact_mask_and_a_click_inside_it():
    frame = demo.load_picture(demo.PICTURES["music_room"])
    piano, guitar = frame.masks["pianoAQueue"], frame.masks["electricGuitar"]
    assert frame.image.size == (demo.RENDER_SIZE[1], demo.RENDER_SIZE[0])
    assert piano.any() and guitar.any() and not (piano & guitar).any()
    scene = next(s for s in demo.SCENES if s.models == ("pianoAQueue", "electricGuitar"))
    for (x, y), mask in zip((clicks[0] for clicks in scene.clicked(frame)), (piano, guitar)):
        assert mask[y, x]


def test_a_frame_that_cannot_be_made_here_says_why_and_how_to_fix_it(monkeypatch, tmp_path):
    assert demo.prepare_frame(demo.PICTURES["cat"])[1] is None

    def blender_without_libraries(*args, **kwargs):
        raise RuntimeError("Blender renders failed (1):\nImportError: libX11.so.6: cannot open shared object file\n")

    monkeypatch.setattr(demo, "render_staged", blender_without_libraries)
    frame, why = demo.prepare_frame(demo.PICTURES["field"])
    assert frame is None
    assert why == "Blender could not render it: ImportError: libX11.so.6: cannot open shared object file"
    monkeypatch.setattr(sounding.data.images, "SWEETHOME3D_DIR", tmp_path)
    frame, why = demo.prepare_frame(demo.PICTURES["field"])
    assert frame is None and "apt-get install sweethome3d-furniture" in why
