"""Click mode in the Image Editor and its overlay: markers for the clicks, the selected objects' mask on top.

Click adds a point to the current object, Shift-click a point that is not on it, Ctrl-click starts a new object;
Enter or right-click ends, Esc puts the clicks back as they were. On a captured render the mask comes from the id
map at once; on other images the server segments the clicks (a ``segment`` request after each click).
"""
from __future__ import annotations

import bpy
import gpu
import numpy as np
from gpu_extras.batch import batch_for_shader

from . import bridge, capture, geometry, operators, runtime
from .sounding_protocol import constants

#: RGBA of the markers: clicks on the object, clicks off it; the active object's are opaque, others faded.
ON_COLOUR = (0.2, 0.9, 0.3)
OFF_COLOUR = (0.95, 0.2, 0.2)
INACTIVE_ALPHA = 0.45
MARKER_SIZE = 10.0
MASK_RGBA = (1.0, 0.55, 0.1, 0.4)
STATUS_TEXT = ("Click: on the object   Shift-click: not on it   Ctrl-click: new object   "
               "Enter/Right-click: done   Esc: cancel")
#: Mouse events that pan and zoom the Image Editor while click mode runs.
NAVIGATION = {"MIDDLEMOUSE", "WHEELUPMOUSE", "WHEELDOWNMOUSE", "TRACKPADPAN", "TRACKPADZOOM", "NDOF_MOTION"}


def overlay_rgba(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool mask (row 0 = top) -> (H, W, 4) float32 texture pixels (row 0 = bottom, as GPU textures)."""
    rgba = np.zeros(mask.shape + (4,), np.float32)
    rgba[mask[::-1]] = MASK_RGBA
    return rgba


def marker_triangles(centres, size: float = MARKER_SIZE) -> list[tuple[float, float]]:
    """Diamond markers around region points: 2 triangles (6 vertices) each, for the UNIFORM_COLOR shader (point
    sprites differ between Blender versions)."""
    half = size / 2
    vertices = []
    for x, y in centres:
        left, right, bottom, top = (x - half, y), (x + half, y), (x, y - half), (x, y + half)
        vertices += [left, bottom, right, left, right, top]
    return vertices


def overlay_mask(settings, image) -> np.ndarray | None:
    """What the selection covers: the id map's objects for a capture, else the server's last masks for the image."""
    ids = operators.capture_of(image)
    if ids is None:
        return runtime.SESSION.masks.get(image.name)
    objects = bridge.selections(operators.clicked_objects(settings), "", ids)
    masks = [o.mask for o in objects if o.mask is not None]
    return np.logical_or.reduce(masks) if masks else None


class _Overlay:
    """The overlay's mask and GPU texture, rebuilt only when the clicks or the server's masks change (draw
    callbacks run on every redraw)."""

    key = None
    texture = None


def _mask_texture(settings, image):
    clicks = tuple((p.x, p.y, p.positive) for o in settings.objects for p in o.points)
    key = (image.name, clicks, id(runtime.SESSION.masks.get(image.name)))
    if _Overlay.key != key:
        _Overlay.key, _Overlay.texture = key, None
        mask = overlay_mask(settings, image)
        if mask is not None and mask.shape == (image.size[1], image.size[0]):
            height, width = mask.shape
            buffer = gpu.types.Buffer("FLOAT", width * height * 4, overlay_rgba(mask).ravel())
            _Overlay.texture = gpu.types.GPUTexture((width, height), format="RGBA16F", data=buffer)
    return _Overlay.texture


def draw_overlay() -> None:
    """SpaceImageEditor POST_PIXEL callback; reads only."""
    context = bpy.context
    space, region = context.space_data, context.region
    settings = context.scene.sounding
    image = settings.image
    if image is None or space.image != image:
        return
    width, height = image.size
    if not width or not height:
        return
    view2d = region.view2d
    gpu.state.blend_set("ALPHA")
    texture = _mask_texture(settings, image)
    if texture is not None:
        corners = [view2d.view_to_region(u, v, clip=False) for u, v in ((0, 0), (1, 0), (1, 1), (0, 1))]
        shader = gpu.shader.from_builtin("IMAGE")
        batch = batch_for_shader(shader, "TRI_FAN",
                                 {"pos": corners, "texCoord": ((0, 0), (1, 0), (1, 1), (0, 1))})
        shader.bind()
        shader.uniform_sampler("image", texture)
        batch.draw(shader)
    shader = gpu.shader.from_builtin("UNIFORM_COLOR")
    for index, selected in enumerate(settings.objects):
        alpha = 1.0 if index == settings.active_object else INACTIVE_ALPHA
        for positive, colour in ((True, ON_COLOUR), (False, OFF_COLOUR)):
            centres = [view2d.view_to_region(*geometry.pixel_to_uv(p.x, p.y, width, height), clip=False)
                       for p in selected.points if p.positive == positive]
            if centres:
                shader.uniform_float("color", (*colour, alpha))
                batch_for_shader(shader, "TRIS", {"pos": marker_triangles(centres)}).draw(shader)
    gpu.state.blend_set("NONE")


def preview_masks(context) -> None:
    """Ask the server to segment the clicks on a non-captured image (the overlay shows its answer)."""
    settings = context.scene.sounding
    image = settings.image
    objects = [o for o in bridge.selections(operators.clicked_objects(settings)) if o.points]
    if not objects or operators.capture_of(image) is not None:
        return
    job = bridge.Job(constants.OP_SEGMENT, capture.image_data(image), objects,
                     timeout=runtime.preferences(context).timeout)
    runtime.submit(context, runtime.Running(job, scene=context.scene.name, image=image.name), wait=False)


class SOUNDING_OT_click(bpy.types.Operator):
    """Click objects in the image: click on the object, Shift-click off it, Ctrl-click for a new object;
    Enter or right-click to finish, Esc to cancel"""

    bl_idname = "sounding.click"
    bl_label = "Click Objects"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return (context.area is not None and context.area.type == "IMAGE_EDITOR"
                and context.scene.sounding.image is not None)

    def invoke(self, context, event):
        settings = context.scene.sounding
        context.space_data.image = settings.image
        self._window = next(r for r in context.area.regions if r.type == "WINDOW")
        self._before = [([(p.x, p.y, p.positive) for p in o.points], o.target, o.text) for o in settings.objects]
        self._active = settings.active_object
        context.workspace.status_text_set(STATUS_TEXT)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type in NAVIGATION:
            return {"PASS_THROUGH"}
        if event.value != "PRESS":
            return {"RUNNING_MODAL"} if event.type == "LEFTMOUSE" else {"PASS_THROUGH"}
        if event.type == "LEFTMOUSE":
            return self.click(context, event)
        if event.type in {"RET", "NUMPAD_ENTER", "RIGHTMOUSE"}:
            self.end(context)
            return {"FINISHED"}
        if event.type == "ESC":
            self.restore(context.scene.sounding)
            self.end(context)
            return {"CANCELLED"}
        return {"PASS_THROUGH"}

    def click(self, context, event):
        region = self._window
        mx, my = event.mouse_x - region.x, event.mouse_y - region.y
        if not (0 <= mx < region.width and 0 <= my < region.height):
            return {"PASS_THROUGH"}  # the sidebar, the header: let their buttons work
        image = context.scene.sounding.image
        x, y = geometry.uv_to_pixel(*region.view2d.region_to_view(mx, my), *image.size)
        problem = operators.add_point(context, x, y, negative=event.shift, new_object=event.ctrl)
        if problem:
            self.report({"WARNING"}, problem)
        else:
            try:
                preview_masks(context)
            except (runtime.UserError, ValueError) as exc:
                self.report({"WARNING"}, f"No mask preview: {exc}")
        context.area.tag_redraw()
        return {"RUNNING_MODAL"}

    def restore(self, settings) -> None:
        settings.objects.clear()
        for points, target, text in self._before:
            selected = settings.objects.add()
            selected.target, selected.text = target, text
            for x, y, positive in points:
                point = selected.points.add()
                point.x, point.y, point.positive = x, y, positive
        settings.active_object = self._active

    @staticmethod
    def end(context) -> None:
        context.workspace.status_text_set(None)
        context.area.tag_redraw()


classes = (SOUNDING_OT_click,)
_handles = []


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    _handles.append(bpy.types.SpaceImageEditor.draw_handler_add(draw_overlay, (), "WINDOW", "POST_PIXEL"))


def unregister():
    while _handles:
        bpy.types.SpaceImageEditor.draw_handler_remove(_handles.pop(), "WINDOW")
    _Overlay.key = _Overlay.texture = None
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
