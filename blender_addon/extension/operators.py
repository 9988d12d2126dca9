"""Operators (bpy.ops.sounding.*): thin wrappers over capture, bridge and runtime (which places sounds).

Generate and Check Server return at once in the UI (a timer drains the worker's events) and wait for the reply in
background mode (``blender -b``), or when called with ``wait=True``.
"""
import os
import uuid

import aud
import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty

from . import bridge, capture, geometry, plan, runtime
from .sounding_protocol import constants


#: Object types a camera ray never hits, left out of Sound Selected.
NOT_SEEN = {"CAMERA", "LIGHT", "LIGHT_PROBE", "SPEAKER", "EMPTY", "ARMATURE", "LATTICE"}


def waits(operator) -> bool:
    """``wait`` when the caller set it, else block exactly in background mode (no event loop runs timers there)."""
    if operator.properties.is_property_set("wait"):
        return operator.wait
    return bpy.app.background


def capture_of(image: bpy.types.Image | None):
    """The id map of a capture made in this session, or None (any other image, or a capture from an earlier one)."""
    if image is None:
        return None
    return runtime.SESSION.captures.get(image.get(capture.CAPTURE_KEY, ""))


def target_at(scene: bpy.types.Scene, image: bpy.types.Image, x: float, y: float) -> bpy.types.Object | None:
    """The 3D object at image pixel (x, y): from the id map of a capture, else a ray from the scene's camera."""
    ids = capture_of(image)
    if ids is not None:
        index = ids.object_index(x, y)
        return bpy.data.objects.get(ids.names[index - 1]) if index else None
    width, height = image.size
    return capture.object_at(scene, *geometry.pixel_to_uv(x, y, width, height))


def add_point(context, x: float, y: float, negative: bool = False, new_object: bool = False) -> str | None:
    """Add a click to the active object (or to a new one); returns why it could not, or None."""
    settings = context.scene.sounding
    image = settings.image
    if image is None:
        return "Capture a render or choose an image first"
    width, height = image.size
    if not geometry.inside(x, y, width, height):
        return f"({x:.0f}, {y:.0f}) is outside the {width}x{height} image"
    if new_object or not settings.objects:
        if len(settings.objects) >= constants.MAX_OBJECTS:
            return f"At most {constants.MAX_OBJECTS} objects"
        settings.objects.add()
        settings.active_object = len(settings.objects) - 1
    selected = settings.objects[min(settings.active_object, len(settings.objects) - 1)]
    if len(selected.points) >= constants.MAX_POINTS_PER_OBJECT:
        return f"At most {constants.MAX_POINTS_PER_OBJECT} clicks per object"
    point = selected.points.add()
    point.x, point.y, point.positive = x, y, not negative
    if not negative and selected.target is None:
        selected.target = target_at(context.scene, image, x, y)
    return None


def report_outcome(operator, running: runtime.Running, failed: bool) -> set[str]:
    """Report a job the operator waited for; its return value (a failure cancels: no undo step, nothing changed)."""
    operator.report({"ERROR"} if failed else {"INFO"}, running.message)
    return {"CANCELLED"} if failed else {"FINISHED"}


def clicked_objects(settings) -> list:
    """(points, labels, text) per object, for :func:`bridge.selections`."""
    return [([(p.x, p.y) for p in o.points], [int(p.positive) for p in o.points], o.text) for o in settings.objects]


def first_target(settings) -> bpy.types.Object | None:
    return next((o.target for o in settings.objects if o.target is not None and len(o.points)), None)


class SOUNDING_OT_capture(bpy.types.Operator):
    """Render the active camera's frame at the capture size and map its pixels to objects"""

    bl_idname = "sounding.capture"
    bl_label = "Capture Render"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return context.scene is not None and context.scene.camera is not None

    def execute(self, context):
        try:
            image, ids = capture_frame(context)
        except (ValueError, RuntimeError) as exc:
            self.report({"ERROR"}, f"Capture failed: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Captured {image.size[0]}x{image.size[1]}, {len(ids.names)} objects in view")
        return {"FINISHED"}


def capture_frame(context, ids: geometry.Capture | None = None) -> tuple[bpy.types.Image, geometry.Capture]:
    """Capture the camera's frame as the image to sound (``ids``: its id map, when already cast), with no clicks
    yet; shown in the Image Editor the operator runs in."""
    settings = context.scene.sounding
    key = uuid.uuid4().hex[:12]
    image, ids = capture.capture(context.scene, settings.capture_size, runtime.SESSION.scratch(), key, ids)
    runtime.SESSION.captures[key] = ids
    settings.image = image
    settings.objects.clear()
    if context.space_data is not None and context.space_data.type == "IMAGE_EDITOR":
        context.space_data.image = image
    return image, ids


class SOUNDING_OT_use_image(bpy.types.Operator):
    """Sound this image: the Image Editor's image, the active object's active image texture, or one named"""

    bl_idname = "sounding.use_image"
    bl_label = "Use Image"
    bl_options = {"REGISTER", "UNDO"}

    image: StringProperty(name="Image", description="Name of the image; empty: the one in view")

    def execute(self, context):
        image = bpy.data.images.get(self.image) if self.image else self.image_in_view(context)
        if image is None:
            self.report({"ERROR"}, f"No image named {self.image!r}" if self.image else
                        "Open an image in the Image Editor or select an object with an active image texture")
            return {"CANCELLED"}
        settings = context.scene.sounding
        settings.image = image
        settings.objects.clear()
        return {"FINISHED"}

    @staticmethod
    def image_in_view(context):
        space = context.space_data
        if space is not None and space.type == "IMAGE_EDITOR" and space.image is not None:
            return space.image
        material = context.object.active_material if context.object else None
        tree = material.node_tree if material else None
        node = tree.nodes.active if tree else None
        return node.image if node is not None and node.type == "TEX_IMAGE" else None


class SOUNDING_OT_add_point(bpy.types.Operator):
    """Add a click on the image to the active object"""

    bl_idname = "sounding.add_point"
    bl_label = "Add Click"
    bl_options = {"REGISTER", "UNDO"}

    x: FloatProperty(name="X", description="Pixels from the image's left edge")
    y: FloatProperty(name="Y", description="Pixels from the image's top edge")
    negative: BoolProperty(name="Not On Object", description="A click on what is not the object")
    new_object: BoolProperty(name="New Object", description="Start a new object with this click")

    def execute(self, context):
        problem = add_point(context, self.x, self.y, self.negative, self.new_object)
        if problem:
            self.report({"ERROR"}, problem)
            return {"CANCELLED"}
        return {"FINISHED"}


class SOUNDING_OT_remove_object(bpy.types.Operator):
    """Forget the clicks of one object"""

    bl_idname = "sounding.remove_object"
    bl_label = "Remove Object"
    bl_options = {"REGISTER", "UNDO"}

    index: IntProperty(name="Index", default=-1, description="Which object; -1: the active one")

    def execute(self, context):
        settings = context.scene.sounding
        index = settings.active_object if self.index < 0 else self.index
        if not 0 <= index < len(settings.objects):
            self.report({"ERROR"}, "No such object")
            return {"CANCELLED"}
        settings.objects.remove(index)
        settings.active_object = max(0, min(settings.active_object, len(settings.objects) - 1))
        return {"FINISHED"}


class SOUNDING_OT_clear_objects(bpy.types.Operator):
    """Forget every click"""

    bl_idname = "sounding.clear_objects"
    bl_label = "Clear Clicks"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        context.scene.sounding.objects.clear()
        context.scene.sounding.active_object = 0
        return {"FINISHED"}


class SOUNDING_OT_health(bpy.types.Operator):
    """Ask the server how it is (status line)"""

    bl_idname = "sounding.health"
    bl_label = "Check Server"

    wait: BoolProperty(name="Wait", description="Block until the server answers (default in background mode)",
                       options={"SKIP_SAVE"})

    def execute(self, context):
        timeout = min(runtime.HEALTH_TIMEOUT, runtime.preferences(context).timeout)
        job = bridge.Job(constants.OP_HEALTH, timeout=timeout)
        try:
            running = runtime.submit(context, runtime.Running(job, scene=context.scene.name), waits(self))
        except runtime.UserError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if running.outcome is None:
            return {"FINISHED"}
        failed = isinstance(running.outcome, bridge.Failed) or bridge.health_problem(running.outcome.result)
        return report_outcome(self, running, bool(failed))


def generate(operator, context, place: bool = False, sounds_like: str | None = None, object_index: int = -1,
             made_from: str | None = None) -> set[str]:
    """Send the clicked selection with the scene's settings and each object's own Sounds Like (``sounds_like``:
    this class this once, for the whole selection, or for the clicked object at ``object_index`` alone;
    ``made_from``: the selection key of the result whose class that is, which the clicks must still be); the
    operator reports what became of it."""
    scene = context.scene
    settings = scene.sounding
    image = settings.image
    clicked = clicked_objects(settings)
    objects = bridge.selections(clicked, settings.text, capture_of(image))
    if not objects:
        operator.report({"ERROR"}, "Click an object in the image first (or give a text hint)")
        return {"CANCELLED"}
    selection = plan.selection_key(image.name, clicked)
    chosen = objects[object_index] if 0 <= object_index < len(objects) else None
    unclicked = object_index >= 0 and (chosen is None or chosen.points is None and chosen.mask is None)
    if unclicked or made_from not in (None, selection):
        operator.report({"ERROR"}, "The clicked objects are not the ones that result was made from: click them "
                                   "again, or name a class in Sounds Like")
        return {"CANCELLED"}
    pinned = [o.sounds_like for o in settings.objects if len(o.points)]  # as sent, like the targets
    own, sounds_like = plan.object_classes(pinned, settings.sounds_like, sounds_like, object_index)
    for sent, label in zip(objects, own):
        sent.sounds_like = label
    try:
        data = capture.image_data(image)
    except ValueError as exc:
        operator.report({"ERROR"}, str(exc))
        return {"CANCELLED"}
    target = first_target(settings)
    options = {"duration": settings.duration, "seed": settings.seed, "variations": settings.variations,
               "steps": settings.steps or None, "guidance": settings.guidance or None,
               "sounds_like": sounds_like, "stems": True}  # stems: a mix's own sound of each object, for Per Object
    job = bridge.Job(constants.OP_GENERATE, data, objects, options, folder=runtime.sound_folder(),
                     label=target.name if target else image.name, timeout=runtime.preferences(context).timeout)
    targets = [o.target.name if o.target else "" for o in settings.objects if len(o.points)]  # as sent
    running = runtime.Running(job, scene=scene.name, image=image.name, target=target.name if target else "",
                              targets=targets, place=place, selection=selection)
    try:
        runtime.submit(context, running, waits(operator))
    except runtime.UserError as exc:
        operator.report({"ERROR"}, str(exc))
        return {"CANCELLED"}
    if running.outcome is None:
        operator.report({"INFO"}, "Generating...")
        return {"FINISHED"}
    return report_outcome(operator, running, isinstance(running.outcome, bridge.Failed))


class SOUNDING_OT_generate(bpy.types.Operator):
    """Generate the sound of the clicked objects"""

    bl_idname = "sounding.generate"
    bl_label = "Generate"
    bl_options = {"REGISTER", "UNDO"}

    wait: BoolProperty(name="Wait", description="Block until the sounds arrive (default in background mode)",
                       options={"SKIP_SAVE"})
    place: BoolProperty(name="Use First", options={"SKIP_SAVE"},
                        description="Add the first variation to the scene (Speaker, strip) as soon as it arrives")

    @classmethod
    def poll(cls, context):
        return context.scene.sounding.image is not None and runtime.SESSION.generation() is None

    def execute(self, context):
        return generate(self, context, self.place)


class SOUNDING_OT_sound_as(bpy.types.Operator):
    """Generate the clicked objects' sound again as this class (this once: Sounds Like stays as it is)"""

    bl_idname = "sounding.sound_as"
    bl_label = "Sound As"
    bl_options = {"REGISTER", "UNDO"}

    label: StringProperty(name="Class", description="A class of the model's, such as one a result also resembles")
    object_index: IntProperty(name="Object", default=-1, min=-1,
                              description="Only this clicked object (counted from 0) sounds like the class, the "
                                          "others are recognised as before; -1: the whole selection")
    result: IntProperty(name="Result", default=-1, min=-1,
                        description="The result that offered the class: refused unless the clicks are still the "
                                    "ones it was made from; -1: no check")
    wait: BoolProperty(name="Wait", description="Block until the sounds arrive (default in background mode)",
                       options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return SOUNDING_OT_generate.poll(context)

    def execute(self, context):
        if not self.label.strip():
            self.report({"ERROR"}, "Name the class to sound like")
            return {"CANCELLED"}
        results = context.scene.sounding.results
        made_from = results[self.result].selection if 0 <= self.result < len(results) else None
        return generate(self, context, sounds_like=self.label, object_index=self.object_index, made_from=made_from)


class SOUNDING_OT_sound_selected(bpy.types.Operator):
    """Give each selected object in the camera's view its own sound: capture the frame, click each object once and
    make their sounds in one request; with Per Object each sound goes on its object (Speaker and strip)"""

    bl_idname = "sounding.sound_selected"
    bl_label = "Sound Selected"
    bl_options = {"REGISTER", "UNDO"}

    wait: BoolProperty(name="Wait", description="Block until the sounds arrive (default in background mode)",
                       options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return SOUNDING_OT_capture.poll(context) and runtime.SESSION.generation() is None

    def execute(self, context):
        scene = context.scene
        selected = sorted((ob for ob in context.selected_objects if ob.type not in NOT_SEEN), key=lambda ob: ob.name)
        if not selected:
            self.report({"ERROR"}, "Select the objects to sound first (cameras, lights, speakers and empties have "
                                   "no surface to click)")
            return {"CANCELLED"}
        try:
            ids = capture.capture_ids(scene, scene.sounding.capture_size)
        except (ValueError, RuntimeError) as exc:
            self.report({"ERROR"}, f"Capture failed: {exc}")
            return {"CANCELLED"}
        points = {ob.name: ids.point_on(ob.name) for ob in selected}
        seen = [ob for ob in selected if points[ob.name] is not None]
        unseen = ", ".join(ob.name for ob in selected if points[ob.name] is None)
        if not seen:  # nothing captured or changed yet
            self.report({"ERROR"}, f"None of the selected objects is in the camera's view ({unseen})")
            return {"CANCELLED"}
        if len(seen) > constants.MAX_OBJECTS:
            self.report({"ERROR"}, f"{len(seen)} selected objects are in view; at most {constants.MAX_OBJECTS} at once")
            return {"CANCELLED"}
        try:
            capture_frame(context, ids)
        except (ValueError, RuntimeError) as exc:
            self.report({"ERROR"}, f"Capture failed: {exc}")
            return {"CANCELLED"}
        for ob in seen:
            problem = add_point(context, *points[ob.name], new_object=True)
            if problem:  # cannot happen for a pixel of the capture itself; said rather than lost
                self.report({"ERROR"}, problem)
                return {"CANCELLED"}
            scene.sounding.objects[-1].sounds_like = str(ob.get("sounds_like", ""))  # a custom property pins a class
        if unseen:
            self.report({"WARNING"}, f"Not in the camera's view, so not sounded: {unseen}")
        return generate(self, context, place=True)


class SOUNDING_OT_cancel(bpy.types.Operator):
    """Cancel the generation in progress"""

    bl_idname = "sounding.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return runtime.SESSION.generation() is not None

    def execute(self, context):
        runtime.cancel(runtime.SESSION.generation().job.id)
        return {"FINISHED"}


def _result(operator, context):
    results = context.scene.sounding.results
    index = context.scene.sounding.active_result if operator.index < 0 else operator.index
    if not 0 <= index < len(results):
        operator.report({"ERROR"}, "No such result")
        return None
    if not os.path.isfile(results[index].filepath):
        operator.report({"ERROR"}, f"The sound file {results[index].filepath} is missing")
        return None
    return results[index]


class SOUNDING_OT_use_result(bpy.types.Operator):
    """Add this sound to the scene: a Speaker on its object and a sequencer strip, at the current frame (a mix with
    Per Object: each object's own sound on that object)"""

    bl_idname = "sounding.use_result"
    bl_label = "Use"
    bl_options = {"REGISTER", "UNDO"}

    index: IntProperty(name="Index", default=-1, description="Which result; -1: the active one")

    def execute(self, context):
        result = _result(self, context)
        if result is None:
            return {"CANCELLED"}
        try:
            placed = runtime.place(context.scene, result)
        except (RuntimeError, ValueError, runtime.UserError) as exc:
            self.report({"ERROR"}, f"Could not add the sound: {exc}")
            return {"CANCELLED"}
        added = ", ".join(p.sound.name + (f" on {p.speaker.parent.name}" if p.speaker else "") for p in placed)
        self.report({"INFO"}, f"Added {added} at frame {context.scene.frame_current}")
        return {"FINISHED"}


class SOUNDING_OT_play_result(bpy.types.Operator):
    """Listen to this sound"""

    bl_idname = "sounding.play_result"
    bl_label = "Play"

    index: IntProperty(name="Index", default=-1, description="Which result; -1: the active one")
    layer: IntProperty(name="Object", default=-1, min=-1,
                       description="A mix's object (counted from 0 among its layers) to hear alone; -1: the mix")

    def execute(self, context):
        result = _result(self, context)
        if result is None:
            return {"CANCELLED"}
        filepath = result.filepath
        if self.layer >= 0:
            filepath = result.layers[self.layer].filepath if self.layer < len(result.layers) else ""
            if not os.path.isfile(filepath):
                self.report({"ERROR"}, "That object's own sound is not there (the server sent only the mix, or "
                                       f"the file is gone): {filepath or 'none'}")
                return {"CANCELLED"}
        runtime.stop_preview()
        runtime.SESSION.preview = aud.Device().play(aud.Sound(filepath))
        return {"FINISHED"}


class SOUNDING_OT_stop_preview(bpy.types.Operator):
    """Stop the sound being previewed"""

    bl_idname = "sounding.stop_preview"
    bl_label = "Stop"

    def execute(self, context):
        runtime.stop_preview()
        return {"FINISHED"}


classes = (
    SOUNDING_OT_capture, SOUNDING_OT_use_image, SOUNDING_OT_add_point, SOUNDING_OT_remove_object,
    SOUNDING_OT_clear_objects, SOUNDING_OT_health, SOUNDING_OT_generate, SOUNDING_OT_sound_as,
    SOUNDING_OT_sound_selected, SOUNDING_OT_cancel,
    SOUNDING_OT_use_result, SOUNDING_OT_play_result, SOUNDING_OT_stop_preview,
)


#: Registers in order, unregisters in reverse.
register, unregister = bpy.utils.register_classes_factory(classes)
