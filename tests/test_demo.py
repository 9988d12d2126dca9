"""The main job (`python3 build.py demo`) end to end on the embedded foley-mini, shortened: a real `sounding serve`
process, every demo scene through protocol v1, and the files of `demo_out/`."""
import re

import numpy as np
import soundfile

from sounding import demo


def test_the_demo_writes_a_page_that_shows_and_plays_every_scene(tmp_path, capsys):
    out = tmp_path / "demo_out"
    assert demo.main(["--out", str(out), "--steps", "2", "--duration", "1", "--variations", "1"]) == 0
    page = (out / "index.html").read_text()
    for scene in demo.SCENES:
        assert scene.title in page
    referenced = re.findall(r"src='([^']+)'", page)
    wavs = [name for name in referenced if name.endswith(".wav")]
    assert len(wavs) == len(demo.SCENES) and len(referenced) == 3 * len(demo.SCENES)  # overlay, sound, spectrogram
    assert all((out / name).is_file() for name in referenced)
    for name in wavs:
        audio, rate = soundfile.read(out / name)
        assert rate == 16000 and len(audio) == rate and np.abs(audio).max() > 0.01
    assert page.count("recognised as <b>") == len(demo.SCENES)  # foley-mini has an object prior
    assert "asked to sound like <b>fireworks</b>" in page
    assert "recognised as:" in capsys.readouterr().out
