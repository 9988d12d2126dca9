"""The add-on against a real ``sounding serve --model tiny`` process: health, capture -> click -> generate -> Speaker
and strip, the non-blocking path driven by a fake-clock timer pump, progress, cancel."""
import os

import blender_support
import bpy
import numpy as np
import pytest

from blender_support import (  # noqa: F401  (fixtures: addon, addon_zip, installed)
    TimerPump, addon, addon_zip, build_scene, free_port, installed, mixdown, pixel_of, preferences, scene_state,
    start_server, stop_server,
)

CAPTURE = 96


@pytest.fixture(scope="module")
def server(installed, tmp_path_factory):
    address = f"tcp://127.0.0.1:{free_port()}"
    process = start_server(address, tmp_path_factory.mktemp("server") / "server.log")
    yield address
    stop_server(process)


@pytest.fixture
def connected(addon, server):
    preferences().address = server
    preferences().timeout = 60.0
    return addon


def captured_scene_with_click(name="Sphere"):
    scene = build_scene()
    settings = scene.sounding
    settings.capture_size = CAPTURE
    assert bpy.ops.sounding.capture() == {"FINISHED"}
    x, y = pixel_of(scene, bpy.data.objects[name], *settings.image.size)
    assert bpy.ops.sounding.add_point(x=x, y=y) == {"FINISHED"}
    settings.duration, settings.steps, settings.seed = 1.0, 2, 7
    return scene


def test_sound_selected_gives_each_selected_object_in_view_its_own_sound(addon, tmp_path):
    model = blender_support.save_two_class_model(tmp_path / "model")  # an object prior: objects are made apart
    address = f"tcp://127.0.0.1:{free_port()}"
    process = start_server(address, tmp_path / "server.log", model=str(model))
    try:
        preferences().address, preferences().timeout = address, 60.0
        scene = build_scene()
        settings = scene.sounding
        settings.capture_size, settings.duration, settings.steps = CAPTURE, 1.0, 2
        behind = bpy.data.objects.new("Behind", bpy.data.objects["Cube"].data)  # behind the camera
        scene.collection.objects.link(behind)
        behind.location = (0, -12, 2)
        for ob in bpy.data.objects:
            ob.select_set(ob.name in ("Behind", "Camera"))
        before, images = scene_state(scene), len(bpy.data.images)
        with pytest.raises(RuntimeError, match=r"None of the selected objects is in the camera's view \(Behind\)"):
            bpy.ops.sounding.sound_selected()
        assert scene_state(scene) == before and len(bpy.data.images) == images and settings.image is None
        for ob in bpy.data.objects:
            ob.select_set(ob.name in ("Sphere", "Cube", "Behind", "Sun"))
        bpy.data.objects["Sphere"]["sounds_like"] = "bell"  # a custom property pins that object's class
        assert bpy.ops.sounding.sound_selected() == {"FINISHED"}  # background mode: blocks until placed
        assert settings.image.name == "Sounding Capture"
        assert [o.target.name for o in settings.objects] == ["Cube", "Sphere"]  # Behind out of view, Sun no surface
        mix = settings.results[-1]
        assert [(layer.object_index, layer.target.name) for layer in mix.layers] == [(0, "Cube"), (1, "Sphere")]
        assert [o.sounds_like for o in settings.objects] == ["", "bell"] and mix.layers[1].sounds_like == "bell"
        for layer in mix.layers:  # each object's own sound on its own Speaker
            speaker = bpy.data.objects[f"Sounding {layer.target.name} ({layer.sounds_like})"]
            assert speaker.parent == layer.target and speaker.data.sound.filepath == layer.filepath
        assert scene_state(scene)["speakers"] == before["speakers"] + 2
    finally:
        stop_server(process)


def test_health_fills_the_status_line(connected):
    build_scene()
    assert bpy.ops.sounding.health() == {"FINISHED"}
    assert connected.runtime.SESSION.status.startswith("ok: model tiny on cpu")


def test_capture_click_generate_places_a_speaker_on_the_clicked_object(connected, tmp_path):
    scene = captured_scene_with_click("Sphere")
    scene.sounding.variations = 2
    scene.frame_current = 5
    assert bpy.ops.sounding.generate(place=True) == {"FINISHED"}  # background mode: blocks until done

    results = scene.sounding.results
    assert len(results) == 2 and [r.seed for r in results] == [7, 8]
    assert all(os.path.isfile(r.filepath) and r.target.name == "Sphere" for r in results)
    speakers = [o for o in bpy.data.objects if o.type == "SPEAKER"]
    assert len(speakers) == 1 and speakers[0].parent.name == "Sphere"
    strips = list(connected.placement.strips(scene))
    assert len(strips) == 1 and connected.placement.span(strips[0])[0] == 5
    assert strips[0].sound == speakers[0].data.sound
    # The capture was sent as an exact mask: the server's mask is the sphere's pixels in the id map.
    ids = connected.operators.capture_of(scene.sounding.image)
    sphere = ids.ids == ids.names.index("Sphere") + 1
    assert np.array_equal(connected.runtime.SESSION.masks[scene.sounding.image.name], sphere)
    # The tiny model has random weights: its sounds are about one LSB loud, so "not silent" is all one can ask
    # (test_addon.py checks loudness, Speaker alone included, with a sine).
    audio = mixdown(scene, tmp_path / "mix.wav")
    start = (5 - scene.frame_start) * 48000 // 24
    assert not audio[:start].any() and audio[start:start + 48000].any()

    assert bpy.ops.sounding.use_result(index=1) == {"FINISHED"}
    assert len(list(connected.placement.strips(scene))) == 2


def test_a_saved_blend_keeps_its_sounds_in_a_sounding_folder(connected, tmp_path):
    captured_scene_with_click("Cube")
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "foley.blend"))
    assert bpy.ops.sounding.generate(place=True) == {"FINISHED"}
    result = bpy.context.scene.sounding.results[0]
    assert os.path.dirname(result.filepath) == str(tmp_path / "sounding")
    assert bpy.data.sounds[-1].packed_file is None
    bpy.ops.wm.read_homefile(use_empty=True)


def test_non_blocking_generate_reports_progress_and_can_be_cancelled(connected):
    runtime = connected.runtime
    scene = captured_scene_with_click("Cube")
    scene.sounding.steps = 100  # long enough a denoise that the drains see it, however fast the machine
    with TimerPump() as pump:
        assert bpy.ops.sounding.generate(wait=False) == {"FINISHED"}
        running = runtime.SESSION.generation()
        stages = set()
        assert pump.run_until(lambda: stages.add(running.stage) or running.outcome is not None, timeout=120)
        assert not bpy.app.timers.is_registered(runtime.drain)  # the timer stops when nothing runs
        assert "denoise" in stages and len(scene.sounding.results) == 1

        scene.sounding.steps, scene.sounding.duration = 400, 4.0
        before = scene_state(scene)
        assert bpy.ops.sounding.generate(wait=False) == {"FINISHED"}
        running = runtime.SESSION.generation()
        assert pump.run_until(lambda: running.stage == "denoise", timeout=120)
        assert bpy.ops.sounding.cancel() == {"FINISHED"}
        assert pump.run_until(lambda: running.outcome is not None, timeout=60)
    assert running.outcome.code == "cancelled" and running.message == "Cancelled."
    assert scene_state(scene) == before and runtime.SESSION.generation() is None


def test_clicks_on_a_plain_image_get_a_mask_preview_from_the_server(connected):
    runtime = connected.runtime
    build_scene()
    bpy.data.images.new("Photo", 64, 48)
    assert bpy.ops.sounding.use_image(image="Photo") == {"FINISHED"}
    assert bpy.ops.sounding.add_point(x=20, y=20) == {"FINISHED"}
    runtime.SESSION.masks.pop("Photo", None)
    with TimerPump() as pump:
        connected.click.preview_masks(bpy.context)
        assert pump.run_until(lambda: "Photo" in runtime.SESSION.masks, timeout=60)
    mask = runtime.SESSION.masks["Photo"]
    assert mask.shape == (48, 64) and mask.dtype == bool
    assert np.array_equal(connected.click.overlay_mask(bpy.context.scene.sounding, bpy.data.images["Photo"]), mask)


def test_the_render_farm_example_in_the_docs_sounds_every_selected_object(connected, tmp_path, monkeypatch):
    text = (blender_support.ROOT / "docs" / "addon.md").read_text()
    script = text.split("```python\n")[1].split("```")[0]
    assert script.startswith("# sound_selected.py")
    scene = build_scene(64, 48)
    scene.frame_end = 3
    scene.sounding.capture_size = 64
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "farm.blend"))
    for ob in bpy.context.view_layer.objects:
        ob.select_set(ob.name in ("Cube", "Sphere"))
    monkeypatch.setenv("SOUNDING_SERVER", preferences().address)
    monkeypatch.setenv("SOUNDING_DURATION", "1")
    monkeypatch.setenv("SOUNDING_OUTPUT", str(tmp_path / "render" / "foley_"))
    exec(compile(script, "sound_selected.py", "exec"), {})
    speakers = [o for o in bpy.data.objects if o.type == "SPEAKER"]
    assert sorted(s.parent.name for s in speakers) == ["Cube", "Sphere"]
    assert len(list(connected.placement.strips(bpy.context.scene))) == 2
    assert all(os.path.dirname(s.filepath) == str(tmp_path / "sounding") for s in bpy.context.scene.sounding.results)
    videos = list((tmp_path / "render").glob("foley_*"))
    assert len(videos) == 1 and videos[0].stat().st_size > 0
    bpy.ops.wm.read_homefile(use_empty=True)


def test_a_server_started_after_a_failure_is_reached_on_the_same_connection(addon, tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    preferences().address, preferences().timeout = address, 1.0
    build_scene()
    with pytest.raises(RuntimeError, match="No answer"):
        bpy.ops.sounding.health()
    bridge = addon.runtime.SESSION.bridge
    process = start_server(address, tmp_path / "late.log")
    try:
        preferences().timeout = 30.0
        assert bpy.ops.sounding.health() == {"FINISHED"}
        assert addon.runtime.SESSION.bridge is bridge and addon.runtime.SESSION.status.startswith("ok")
    finally:
        stop_server(process)


def test_a_text_hint_alone_makes_a_sound_without_a_speaker(connected):
    scene = build_scene()
    bpy.ops.sounding.use_image(image=bpy.data.images.new("Photo", 48, 32).name)
    scene.sounding.text, scene.sounding.duration, scene.sounding.steps = "rain", 1.0, 2
    assert bpy.ops.sounding.generate(place=True) == {"FINISHED"}
    assert len(scene.sounding.results) == 1 and scene.sounding.results[0].target is None
    assert not [o for o in bpy.data.objects if o.type == "SPEAKER"]
    assert len(list(connected.placement.strips(scene))) == 1


def test_the_class_recognised_or_asked_for_names_the_result_and_the_speaker(addon, tmp_path):
    """A tiny model with an object prior over two classes: the reply's best class reaches the result list, the
    status line and the names of the Speaker and the strip; Sounds Like asks for a class, and an unknown one is
    refused with the model's classes and leaves the scene as it was."""
    model = blender_support.save_two_class_model(tmp_path / "model")
    address = f"tcp://127.0.0.1:{free_port()}"
    process = start_server(address, tmp_path / "server.log", model=str(model))
    try:
        preferences().address, preferences().timeout = address, 60.0
        scene = captured_scene_with_click("Sphere")
        assert bpy.ops.sounding.health() == {"FINISHED"}
        assert [c.name for c in bpy.context.window_manager.sounding_classes] == ["bell", "drum"]  # Sounds Like's list
        assert bpy.ops.sounding.generate(place=True) == {"FINISHED"}
        recognised = scene.sounding.results[0].sounds_like
        assert recognised in ("bell", "drum") and scene.sounding.results[0].unsure
        assert addon.runtime.SESSION.notice == (f"1 sound(s) generated, sounding like {recognised} (unsure: a clicked "
                                                "object is unlike every class the model knows; name one with Sounds "
                                                "Like to choose).")
        speaker = next(o for o in bpy.data.objects if o.type == "SPEAKER")
        strip = next(iter(addon.placement.strips(scene)))
        assert speaker.name == strip.name == f"Sounding Sphere ({recognised})"

        other = "drum" if recognised == "bell" else "bell"
        assert [a.name for a in scene.sounding.results[0].alternatives] == [other]  # what "Or like:" offers
        assert bpy.ops.sounding.sound_as(label=f" {other.upper()} ", result=0) == {"FINISHED"}  # as the model spells
        assert scene.sounding.sounds_like == ""  # this once: the next click is recognised again
        assert [(r.sounds_like, r.unsure) for r in scene.sounding.results] == [(recognised, True), (other, False)]
        assert [a.name for a in scene.sounding.results[1].alternatives] == [recognised]
        assert addon.runtime.SESSION.notice == f"1 sound(s) generated, sounding like {other}."  # asked: no guess
        assert bpy.ops.sounding.use_result(index=1) == {"FINISHED"}
        assert {s.name for s in addon.placement.strips(scene)} == {f"Sounding Sphere ({c})" for c in ("bell", "drum")}

        before = scene_state(scene)
        with pytest.raises(RuntimeError, match="'tuba' is not one of the model's classes: bell, drum"):
            bpy.ops.sounding.sound_as(label="tuba")
        assert scene_state(scene) == before and len(scene.sounding.results) == 2
        scene.sounding.sounds_like = "tuba"
        with pytest.raises(RuntimeError, match="'tuba' is not one of the model's classes: bell, drum"):
            bpy.ops.sounding.generate(place=True)
        assert scene_state(scene) == before and len(scene.sounding.results) == 2

        # Two objects are made apart and mixed: each layer offers its own other class, and one click remakes that
        # object alone as it (the other is recognised as before).
        scene = captured_scene_with_click("Sphere")
        x, y = pixel_of(scene, bpy.data.objects["Cube"], *scene.sounding.image.size)
        assert bpy.ops.sounding.add_point(x=x, y=y, new_object=True) == {"FINISHED"}
        assert bpy.ops.sounding.generate() == {"FINISHED"}
        mix = scene.sounding.results[0]
        sphere, cube = ((layer.object_index, layer.sounds_like) for layer in mix.layers)
        assert mix.sounds_like == f"{sphere[1]} + {cube[1]}" and (sphere[0], cube[0]) == (0, 1)
        other = ({"bell", "drum"} - {cube[1]}).pop()
        assert [a.name for a in mix.layers[1].alternatives] == [other] and not mix.alternatives
        # Per Object: each object's own sound on its own Speaker and strip, all in one step; off: the mix on the first.
        assert [layer.target.name for layer in mix.layers] == ["Sphere", "Cube"]
        assert all(os.path.isfile(layer.filepath) and layer.filepath != mix.filepath for layer in mix.layers)
        before = scene_state(scene)
        assert bpy.ops.sounding.use_result(index=0) == {"FINISHED"}
        after = scene_state(scene)
        assert (after["speakers"], after["strips"]) == (before["speakers"] + 2, before["strips"] + 2)
        for layer, name in zip(mix.layers, ("Sphere", "Cube")):
            speaker = bpy.data.objects[f"Sounding {name} ({layer.sounds_like})"]
            assert speaker.parent.name == name and speaker.data.sound.filepath == layer.filepath
        scene.sounding.per_object = False
        assert bpy.ops.sounding.use_result(index=0) == {"FINISHED"}
        assert bpy.data.objects[f"Sounding Sphere ({mix.sounds_like})"].data.sound.filepath == mix.filepath
        assert scene_state(scene)["speakers"] == after["speakers"] + 1
        scene.sounding.per_object = True
        os.remove(mix.layers[1].filepath)
        before = scene_state(scene)
        with pytest.raises(RuntimeError, match="is missing"):
            bpy.ops.sounding.use_result(index=0)
        assert scene_state(scene) == before  # nothing of the first object's sound either
        assert bpy.ops.sounding.sound_as(label=other, object_index=1) == {"FINISHED"}
        remade = scene.sounding.results[1]
        assert remade.sounds_like == f"{sphere[1]} + {other}" and scene.sounding.sounds_like == ""
        assert [(layer.sounds_like, layer.unsure) for layer in remade.layers] == [(sphere[1], True), (other, False)]
        before = scene_state(scene)
        with pytest.raises(RuntimeError, match="not the ones that result was made from"):
            bpy.ops.sounding.sound_as(label=other, object_index=2)
        assert scene_state(scene) == before
        # The buttons name the result: once the clicks change, its objects' places mean other objects.
        assert bpy.ops.sounding.sound_as(label=other, object_index=1, result=1) == {"FINISHED"}
        # An object's own Sounds Like pins its class for every request; the scene's goes to the others.
        scene.sounding.objects[1].sounds_like = other
        assert bpy.ops.sounding.generate() == {"FINISHED"}
        assert [(layer.sounds_like, layer.unsure) for layer in scene.sounding.results[-1].layers] == \
            [(sphere[1], True), (other, False)]
        scene.sounding.sounds_like = cube[1]
        assert bpy.ops.sounding.generate() == {"FINISHED"}
        assert [layer.sounds_like for layer in scene.sounding.results[-1].layers] == [cube[1], other]
        scene.sounding.sounds_like, scene.sounding.objects[1].sounds_like = "", ""
        assert bpy.ops.sounding.add_point(x=x + 1, y=y, new_object=True) == {"FINISHED"}
        before = scene_state(scene)
        with pytest.raises(RuntimeError, match="not the ones that result was made from"):
            bpy.ops.sounding.sound_as(label=other, object_index=1, result=1)
        with pytest.raises(RuntimeError, match="not the ones that result was made from"):  # the whole selection too
            bpy.ops.sounding.sound_as(label=other, result=1)
        assert scene_state(scene) == before
    finally:
        stop_server(process)
