"""The Blender add-on in real bpy, installed from its built zip: packaging, capture, clicks, placement, errors,
unregister. Tests that need a running server are in test_addon_server.py."""
import os
import sys
import zipfile

import bpy
import numpy as np
import pytest

from blender_support import (  # noqa: F401  (fixtures: addon, addon_zip, installed)
    ADDON, addon, addon_zip, build_scene, disable, enable, free_port, installed, mixdown, pixel_of, preferences,
    package, scene_state, sounding_executable, write_sine,
)

CAPTURE = 96  # long side of test captures (scene is 128x96 -> 96x72)


def test_zip_bundles_pyzmq_for_every_platform_and_vendors_the_protocol(addon_zip):
    target = package.target_for(sys.version_info)
    assert addon_zip.name == f"sounding-0.1.0-{target.name}.zip"
    with zipfile.ZipFile(addon_zip) as z:
        names = z.namelist()
        manifest = z.read("blender_manifest.toml").decode()
        vendored = {n: z.read(n).decode() for n in names if n.startswith("sounding_protocol/")}
    wheels = [n for n in names if n.startswith("wheels/")]
    abi = "cp311-cp311" if target.python == "3.11" else "cp312-abi3"  # pyzmq has no cp313 wheel: abi3 serves 3.12+
    for tag in ("manylinux", "macosx", "win_amd64"):
        assert any(tag in w for w in wheels), tag
    assert all(w.startswith("wheels/pyzmq-27.3.0-") and abi in w for w in wheels)
    assert all(f'"./{w}"' in manifest for w in wheels)
    assert f'blender_version_min = "{target.blender_min}"' in manifest
    assert 'id = "sounding"' in manifest and "SPDX:GPL-3.0-or-later" in manifest and "[permissions]" in manifest
    assert "sounding_protocol/client.py" in vendored
    assert not any("from sounding_protocol" in text for text in vendored.values())  # relative imports only
    assert not any("__pycache__" in n for n in names)


def test_each_zip_holds_one_python_abi_so_its_blender_versions_accept_it(tmp_path):
    """A zip with cp311 and abi3 wheels together counts as Python 3.11 only, so Blender 5.1+ would refuse it."""
    zips = package.build(tmp_path / "dist", build_dir=tmp_path / "build")
    assert [z.name for z in zips] == ["sounding-0.1.0-blender4.5.zip", "sounding-0.1.0-blender5.1.zip"]
    manifests = [zipfile.ZipFile(z).read("blender_manifest.toml").decode() for z in zips]
    assert 'blender_version_min = "4.5.0"' in manifests[0] and 'blender_version_max = "5.1.0"' in manifests[0]
    assert 'blender_version_min = "5.1.0"' in manifests[1] and "blender_version_max" not in manifests[1]
    assert "cp311-cp311" in manifests[0] and "abi3" not in manifests[0]
    assert "cp312-abi3" in manifests[1] and "cp311" not in manifests[1]


def test_installed_extension_uses_its_own_protocol_copy_and_pyzmq_wheel(addon):
    client = sys.modules[f"{ADDON}.sounding_protocol.client"]
    assert os.path.dirname(addon.__file__) == os.path.dirname(os.path.dirname(client.__file__))
    local = bpy.utils.user_resource("EXTENSIONS", path=".local")
    assert os.path.isdir(os.path.join(local, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}",
                                      "site-packages", "zmq"))


def test_capture_maps_pixels_to_objects_and_clicks_find_them(addon):
    scene = build_scene()
    scene.sounding.capture_size = CAPTURE
    assert bpy.ops.sounding.capture() == {"FINISHED"}
    image = scene.sounding.image
    assert image is not None and image.name == "Sounding Capture" and image.packed_file is not None
    assert tuple(image.size) == (96, 72)
    assert (scene.render.resolution_x, scene.render.resolution_y, scene.render.filepath) == (128, 96, "/tmp/")
    ids = addon.operators.capture_of(image)
    assert set(ids.names) == {"Cube", "Sphere", "Ground"}
    x, y = pixel_of(scene, bpy.data.objects["Sphere"], 96, 72)
    assert bpy.ops.sounding.add_point(x=x, y=y) == {"FINISHED"}
    selected = scene.sounding.objects[0]
    assert selected.target.name == "Sphere" and selected.points[0].positive

    objects = addon.bridge.selections(addon.operators.clicked_objects(scene.sounding), "engine", ids)
    assert len(objects) == 1 and objects[0].points is None and objects[0].text == "engine"
    mask = objects[0].mask
    sphere = ids.names.index("Sphere") + 1
    assert mask.shape == (72, 96) and np.array_equal(mask, ids.ids == sphere) and 300 < mask.sum() < 2000

    cx, cy = pixel_of(scene, bpy.data.objects["Cube"], 96, 72)
    assert bpy.ops.sounding.add_point(x=cx, y=cy, new_object=True) == {"FINISHED"}
    assert len(scene.sounding.objects) == 2 and scene.sounding.objects[1].target.name == "Cube"
    assert bpy.ops.sounding.add_point(x=cx, y=cy, negative=True) == {"FINISHED"}
    assert scene.sounding.objects[1].target.name == "Cube"  # a negative click never picks the object
    objects = addon.bridge.selections(addon.operators.clicked_objects(scene.sounding), "", ids)
    assert len(objects) == 2 and objects[1].mask is None and objects[1].labels == [1, 0]  # on - off = nothing

    with pytest.raises(RuntimeError, match="outside"):
        bpy.ops.sounding.add_point(x=500, y=5)


def test_clicks_on_a_plain_image_cast_a_ray_from_the_camera(addon):
    scene = build_scene()
    image = bpy.data.images.new("Photo", 64, 48)
    assert bpy.ops.sounding.use_image(image="Photo") == {"FINISHED"}
    assert scene.sounding.image == image
    x, y = pixel_of(scene, bpy.data.objects["Cube"], 64, 48)
    assert bpy.ops.sounding.add_point(x=x, y=y) == {"FINISHED"}
    assert scene.sounding.objects[0].target.name == "Cube"
    assert bpy.ops.sounding.add_point(x=1, y=1, new_object=True) == {"FINISHED"}
    assert scene.sounding.objects[1].target is None  # sky
    data = addon.capture.image_data(image)
    assert data.data is None and data.pixels.shape == (48, 64, 3) and data.pixels.dtype == np.uint8


def test_use_image_takes_the_active_objects_image_texture(addon):
    scene = build_scene()
    cube = bpy.data.objects["Cube"]
    bpy.context.view_layer.objects.active = cube
    if cube.active_material.node_tree is None:  # 4.5: node trees are opt-in (always there in 5.0)
        cube.active_material.use_nodes = True
    tree = cube.active_material.node_tree
    node = tree.nodes.new("ShaderNodeTexImage")
    node.image = bpy.data.images.new("Painted", 16, 16)
    tree.nodes.active = node
    assert bpy.ops.sounding.use_image() == {"FINISHED"}
    assert scene.sounding.image.name == "Painted"
    with pytest.raises(RuntimeError, match="No image named"):
        bpy.ops.sounding.use_image(image="Missing")


def test_use_result_adds_a_parented_speaker_and_a_strip_in_one_step(addon, tmp_path):
    scene = build_scene()
    cube = bpy.data.objects["Cube"]
    wav = write_sine(tmp_path / "sine.wav")
    for _ in range(2):
        result = scene.sounding.results.add()
        result.filepath, result.duration, result.target = str(wav), 1.0, cube
    scene.frame_current = 10
    before = scene_state(scene)
    assert bpy.ops.sounding.use_result(index=0) == {"FINISHED"}
    speaker = next(o for o in bpy.data.objects if o.type == "SPEAKER")
    assert speaker.parent == cube
    assert (speaker.matrix_world.translation - cube.matrix_world.translation).length < 1e-6
    assert speaker.data.sound.use_mono and speaker.data.sound.packed_file is not None  # unsaved blend: packed
    strip = addon.placement.strips(scene)[0]
    assert addon.placement.span(strip)[0] == 10 and strip.channel == 1 and strip.sound == speaker.data.sound
    assert bpy.ops.sounding.use_result(index=1) == {"FINISHED"}
    assert sorted(s.channel for s in addon.placement.strips(scene)) == [1, 2]  # overlapping: next free channel
    after = scene_state(scene)
    assert after["speakers"] == before["speakers"] + 2 and after["sounds"] == before["sounds"] + 2
    # Blender 5.1+ gives a new strip the Sound already loaded from the same file: each result keeps its own
    speakers = [o for o in bpy.data.objects if o.type == "SPEAKER"]
    assert {s.sound.name for s in addon.placement.strips(scene)} == {o.data.sound.name for o in speakers}
    audio = mixdown(scene, tmp_path / "mix.wav")
    start = int(9 / 24 * 48000)
    assert np.abs(audio[:start - 2000]).max() < 1e-3 and np.abs(audio[start:start + 48000]).max() > 0.1
    for s in addon.placement.strips(scene):
        s.mute = True
    assert np.abs(mixdown(scene, tmp_path / "speakers.wav")).max() > 0.01  # the speakers alone are heard
    assert bpy.ops.sounding.play_result(index=0) == {"FINISHED"}
    assert addon.runtime.SESSION.preview is not None
    assert bpy.ops.sounding.stop_preview() == {"FINISHED"} and addon.runtime.SESSION.preview is None
    layer = scene.sounding.results[0].layers.add()  # one object of a mix, heard alone
    with pytest.raises(RuntimeError, match="only the mix"):
        bpy.ops.sounding.play_result(index=0, layer=0)
    with pytest.raises(RuntimeError, match="only the mix"):
        bpy.ops.sounding.play_result(index=0, layer=1)
    assert addon.runtime.SESSION.preview is None
    layer.filepath = str(wav)
    assert bpy.ops.sounding.play_result(index=0, layer=0) == {"FINISHED"} and addon.runtime.SESSION.preview
    assert bpy.ops.sounding.stop_preview() == {"FINISHED"}


def test_names_of_a_long_object_and_a_mix_fit_blenders_limit_whole(addon, tmp_path):
    scene = build_scene()
    cube = bpy.data.objects["Cube"]
    cube.name = "Grand piano in the north-east corner, no\u00ebl"  # 43 characters, 44 bytes
    result = scene.sounding.results.add()
    result.filepath, result.duration, result.target = str(write_sine(tmp_path / "s.wav")), 1.0, cube
    result.sounds_like = "piano + electric guitar + trumpet"
    assert bpy.ops.sounding.use_result(index=0) == {"FINISHED"}
    speaker = next(o for o in bpy.data.objects if o.type == "SPEAKER")
    expected = "Sounding Grand piano in the north-east corne\u2026 (piano + \u2026)"
    assert addon.plan.sound_name(cube.name, result.sounds_like) == expected
    assert speaker.name == speaker.data.sound.name == addon.placement.strips(scene)[0].name == expected


def test_a_failed_placement_changes_nothing(addon, tmp_path, monkeypatch):
    scene = build_scene()
    result = scene.sounding.results.add()
    result.filepath, result.duration, result.target = str(write_sine(tmp_path / "s.wav")), 1.0, bpy.data.objects["Cube"]
    before = scene_state(scene)

    def fail(*args):
        raise ValueError("no free sequencer channel")

    monkeypatch.setattr(addon.placement, "add_strip", fail)
    with pytest.raises(RuntimeError, match="no free sequencer channel"):
        bpy.ops.sounding.use_result(index=0)
    assert scene_state(scene) == before

    monkeypatch.undo()
    bpy.context.view_layer.objects.active = bpy.data.objects["Cube"]
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        with pytest.raises(RuntimeError, match="only be added in Object Mode"):
            bpy.ops.sounding.use_result(index=0)
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    assert scene_state(scene) == before


def test_server_down_is_a_clear_error_and_leaves_the_scene_alone(addon):
    scene = build_scene()
    preferences().address = f"tcp://127.0.0.1:{free_port()}"
    preferences().timeout = 1.0
    bpy.ops.sounding.use_image(image=bpy.data.images.new("Photo", 32, 24).name)
    bpy.ops.sounding.add_point(x=16, y=12)
    before = scene_state(scene)
    with pytest.raises(RuntimeError, match="No answer from the Sounding server"):
        bpy.ops.sounding.generate(wait=True)
    assert scene_state(scene) == before
    with pytest.raises(RuntimeError, match="No answer"):
        bpy.ops.sounding.health()  # background mode: blocks by default
    assert "No answer" in addon.runtime.SESSION.status
    with pytest.raises(RuntimeError, match="Name the class"):
        bpy.ops.sounding.sound_as(label="  ")  # refused before anything is sent
    with pytest.raises(RuntimeError, match="No answer from the Sounding server"):
        bpy.ops.sounding.sound_as(label="dog", wait=True)
    assert scene_state(scene) == before and scene.sounding.sounds_like == ""


@pytest.mark.skipif(bpy.app.online_access, reason="Online Access is on in this Blender")
def test_remote_servers_need_online_access(addon):
    build_scene()
    preferences().address = "tcp://192.0.2.10:5557"
    try:
        with pytest.raises(RuntimeError, match="Online Access is off"):
            bpy.ops.sounding.health()
    finally:
        preferences().address = "tcp://127.0.0.1:5557"


def test_unregister_leaves_nothing_registered(addon):
    module = addon
    disable()
    try:
        assert not hasattr(bpy.types.Scene, "sounding")
        assert not [name for name in dir(bpy.types) if name.startswith("SOUNDING_")]
        assert not bpy.app.timers.is_registered(module.runtime.drain)
        assert module.runtime.SESSION.bridge is None and not module.click._handles
    finally:
        enable()
    assert hasattr(bpy.types.Scene, "sounding")


def test_start_local_server_runs_sounding_serve_in_its_own_process(addon, tmp_path):
    prefs = preferences()
    prefs.executable = str(tmp_path / "missing")
    with pytest.raises(RuntimeError, match="was not found"):
        bpy.ops.sounding.start_server()
    port = free_port()
    prefs.executable, prefs.address, prefs.model = sounding_executable(), f"tcp://localhost:{port}", "tiny"
    try:
        assert bpy.ops.sounding.start_server() == {"FINISHED"}
        process = addon.runtime.SESSION.server
        assert process.args[1:] == ["serve", "--bind", f"tcp://127.0.0.1:{port}", "--model", "tiny"]
        assert process.poll() is None
        assert bpy.ops.sounding.stop_server() == {"FINISHED"}
        assert process.returncode is not None and addon.runtime.SESSION.server is None
    finally:
        prefs.address, prefs.model = "tcp://127.0.0.1:5557", ""
