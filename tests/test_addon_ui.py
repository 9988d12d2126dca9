"""The parts of the UI that need a window, run headless with stand-ins: the panels' draw() (every property and
operator it names must exist) and the click mode's event handling."""
from types import SimpleNamespace

import bpy
import pytest

from blender_support import addon, addon_zip, build_scene, installed, pixel_of  # noqa: F401  (fixtures)


class Layout:
    """Records what draw() asks for and checks each property and operator name against Blender."""

    def __init__(self, log):
        self.log = log

    def _child(self, *args, **kwargs):
        return Layout(self.log)

    row = column = box = split = _child

    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name!r}"
        self.log.append(("prop", name))

    def operator(self, idname, **kwargs):
        module, name = idname.split(".")
        rna = getattr(getattr(bpy.ops, module), name).get_rna_type()  # raises KeyError when it does not exist
        self.log.append(("operator", idname))
        return OperatorProperties(rna, self.log)

    def label(self, text="", **kwargs):
        self.log.append(("label", text))

    def progress(self, factor=0.0, type="BAR", text=""):
        assert 0.0 <= factor <= 1.0
        self.log.append(("progress", text))

    def template_ID(self, data, name, **kwargs):
        self.prop(data, name)

    def prop_search(self, data, name, search_data, search_name, **kwargs):
        self.prop(data, name)
        assert search_name in search_data.bl_rna.properties, f"no collection {search_name!r} to search"
        self.log.append(("prop_search", name))

    def template_list(self, list_type, list_id, data, name, active_data, active_name, **kwargs):
        assert hasattr(bpy.types, list_type)
        self.prop(data, name)
        self.prop(active_data, active_name)


class OperatorProperties:
    """What ``layout.operator`` returns: records each property draw() sets, which the operator must have."""

    def __init__(self, rna, log):
        object.__setattr__(self, "_rna", rna)
        object.__setattr__(self, "_log", log)

    def __setattr__(self, name, value):
        assert name in self._rna.properties, f"{self._rna.identifier} has no property {name!r}"
        self._log.append(("set", name, value))


def draw(panel_type, context) -> list:
    log = []
    panel_type.draw(SimpleNamespace(layout=Layout(log), bl_space_type=panel_type.bl_space_type), context)
    return log


def test_panels_draw_everything_they_name(addon):
    scene = build_scene()
    bpy.ops.sounding.use_image(image=bpy.data.images.new("Photo", 32, 24).name)
    bpy.ops.sounding.add_point(x=3, y=4)
    result = scene.sounding.results.add()
    result.filepath = "/nonexistent.wav"
    for panel in (addon.panels.SOUNDING_PT_image_editor, addon.panels.SOUNDING_PT_view3d):
        log = draw(panel, bpy.context)
        assert ("operator", "sounding.generate") in log and ("operator", "sounding.capture") in log
        assert (("operator", "sounding.click") in log) == (panel.bl_space_type == "IMAGE_EDITOR")
        assert (("operator", "sounding.sound_selected") in log) == (panel.bl_space_type == "VIEW_3D")
    settings = scene.sounding
    known = bpy.context.window_manager.sounding_classes
    assert ("prop", "sounds_like") in log and ("prop_search", "sounds_like") not in log  # no classes known yet
    known.add().name = "dog"
    assert ("prop_search", "sounds_like") in draw(addon.panels.SOUNDING_PT_view3d, bpy.context)
    known.clear()
    assert ("operator", "sounding.sound_as") not in log  # the result has no alternatives
    result.alternatives.add().name = "cat"
    log = draw(addon.panels.SOUNDING_PT_view3d, bpy.context)
    assert ("operator", "sounding.sound_as") in log and ("label", "Or like:") in log
    assert [entry for entry in log if entry[0] == "set"] == [("set", "label", "cat"), ("set", "result", 0)]
    result.alternatives.clear()
    for index, (made, others, unsure) in enumerate((("piano", (), False), ("drum", ("guitar", "bell"), True))):
        layer = result.layers.add()
        layer.object_index, layer.sounds_like, layer.unsure = index, made, unsure
        for other in others:
            layer.alternatives.add().name = other
    log = draw(addon.panels.SOUNDING_PT_view3d, bpy.context)
    assert ("label", "Or like:") not in log and ("label", "piano, or like:") not in log  # nothing else it resembles
    assert ("label", "drum (unsure), or like:") in log
    assert [entry for entry in log if entry[0] == "set"] == [
        ("set", "label", "guitar"), ("set", "object_index", 1), ("set", "result", 0),
        ("set", "label", "bell"), ("set", "object_index", 1), ("set", "result", 0)]
    result.layers[0].filepath = "/nonexistent-piano.wav"  # the object's own sound: a Play button, no Or like
    log = draw(addon.panels.SOUNDING_PT_view3d, bpy.context)
    assert ("label", "piano") in log and ("operator", "sounding.play_result") in log
    assert [entry for entry in log if entry[0] == "set"][:2] == [("set", "index", 0), ("set", "layer", 0)]
    for ui_list, items, active in ((addon.panels.SOUNDING_UL_objects, settings.objects, "active_object"),
                                   (addon.panels.SOUNDING_UL_results, settings.results, "active_result")):
        log = []
        ui_list.draw_item(None, bpy.context, Layout(log), settings, items[0], 0, settings, active, 0)
        assert log
    preferences = bpy.context.preferences.addons[addon.__name__].preferences
    log = []
    type(preferences).draw(SimpleNamespace(layout=Layout(log), bl_rna=preferences.bl_rna), bpy.context)
    assert ("operator", "sounding.start_server") in log and ("prop", "address") in log


def test_a_running_generation_shows_progress_and_cancel(addon):
    build_scene()
    runtime = addon.runtime
    job = addon.bridge.Job("generate")
    runtime.SESSION.jobs[job.id] = runtime.Running(job, scene="Scene", stage="denoise", step=3, total=10)
    try:
        log = draw(addon.panels.SOUNDING_PT_view3d, bpy.context)
    finally:
        del runtime.SESSION.jobs[job.id]
    assert ("progress", "denoise 3/10") in log and ("operator", "sounding.cancel") in log
    assert ("operator", "sounding.generate") not in log


class ClickMode:
    """Drives SOUNDING_OT_click's modal() with stand-in events over a 200 x 150 px region showing the image 1:1."""

    def __init__(self, addon, image):
        self.width, self.height = image.size
        region = SimpleNamespace(type="WINDOW", x=0, y=0, width=200, height=150,
                                 view2d=SimpleNamespace(region_to_view=self.region_to_view))
        self.area = SimpleNamespace(type="IMAGE_EDITOR", regions=[region], tag_redraw=lambda: None)
        self.context = SimpleNamespace(
            scene=bpy.context.scene, area=self.area, space_data=SimpleNamespace(image=None),
            workspace=SimpleNamespace(status_text_set=lambda text: None),
            window_manager=SimpleNamespace(modal_handler_add=lambda op: None))
        self.operator = SimpleNamespace(report=lambda kind, text: None)
        self.cls = addon.click.SOUNDING_OT_click
        for name in ("click", "restore"):
            setattr(self.operator, name, getattr(self.cls, name).__get__(self.operator))
        self.operator.end = self.cls.end
        assert self.cls.invoke(self.operator, self.context, None) == {"RUNNING_MODAL"}

    def region_to_view(self, x, y):
        return x / self.width, y / self.height  # the image's bottom-left corner at the region's

    def send(self, kind, x=0.0, y=0.0, value="PRESS", shift=False, ctrl=False):
        event = SimpleNamespace(type=kind, value=value, mouse_x=x, mouse_y=self.height - y, shift=shift, ctrl=ctrl)
        return self.cls.modal(self.operator, self.context, event)


def test_click_mode_clicks_shift_clicks_ctrl_clicks_and_enter(addon):
    scene = build_scene()
    scene.sounding.capture_size = 96
    bpy.ops.sounding.capture()
    image = scene.sounding.image
    mode = ClickMode(addon, image)
    assert mode.context.space_data.image == image
    sx, sy = pixel_of(scene, bpy.data.objects["Sphere"], *image.size)
    cx, cy = pixel_of(scene, bpy.data.objects["Cube"], *image.size)
    assert mode.send("LEFTMOUSE", sx, sy) == {"RUNNING_MODAL"}
    assert mode.send("LEFTMOUSE", sx, sy, value="RELEASE") == {"RUNNING_MODAL"}
    assert mode.send("LEFTMOUSE", cx, cy, shift=True) == {"RUNNING_MODAL"}
    assert mode.send("LEFTMOUSE", cx, cy, ctrl=True) == {"RUNNING_MODAL"}
    assert mode.send("WHEELUPMOUSE") == {"PASS_THROUGH"}
    assert mode.send("LEFTMOUSE", 500, 10) == {"PASS_THROUGH"}  # outside the image region: the sidebar's
    assert mode.send("RET") == {"FINISHED"}
    objects = scene.sounding.objects
    assert [o.target.name for o in objects] == ["Sphere", "Cube"]
    assert [p.positive for p in objects[0].points] == [True, False]
    assert objects[0].points[0].x == pytest.approx(sx) and objects[0].points[0].y == pytest.approx(sy)


def test_click_mode_escape_puts_the_clicks_back(addon):
    scene = build_scene()
    scene.sounding.capture_size = 64
    bpy.ops.sounding.capture()  # a capture: no mask preview request to a server
    bpy.ops.sounding.add_point(x=10, y=10)
    mode = ClickMode(addon, scene.sounding.image)
    mode.send("LEFTMOUSE", 20, 20)
    mode.send("LEFTMOUSE", 30, 30, ctrl=True)
    assert len(scene.sounding.objects) == 2
    assert mode.send("ESC") == {"CANCELLED"}
    objects = scene.sounding.objects
    assert len(objects) == 1 and [(p.x, p.y) for p in objects[0].points] == [(10, 10)]
