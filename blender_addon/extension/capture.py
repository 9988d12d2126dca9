"""Images to sound: capture the active camera's frame and find which object each pixel shows (camera ray casts,
any render engine), or take an existing image's bytes."""
from __future__ import annotations

import os

import bpy
import numpy as np

from . import geometry, pngio
from .bridge import ImageData
from .geometry import Capture
from .sounding_protocol.image_header import JPEG_SOI, PNG_SIGNATURE

CAPTURE_IMAGE = "Sounding Capture"
#: Custom property on a captured Image: the key of its id map in ``runtime.captures`` (not saved: lost on reload).
CAPTURE_KEY = "sounding_capture"


def _camera_rays(scene: bpy.types.Scene, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    camera = scene.camera
    corners = np.array([tuple(c) for c in camera.data.view_frame(scene=scene)])
    return geometry.frame_rays(corners, np.array(camera.matrix_world), camera.data.type == "ORTHO", u, v)


def object_at(scene: bpy.types.Scene, u: float, v: float) -> bpy.types.Object | None:
    """The object the scene camera sees at frame point (u, v), or None (no camera, or nothing there)."""
    if scene.camera is None:
        return None
    origins, directions = _camera_rays(scene, np.array([u]), np.array([v]))
    depsgraph = bpy.context.evaluated_depsgraph_get()
    hit, _location, _normal, _index, ob, _matrix = scene.ray_cast(depsgraph, origins[0], directions[0])
    return ob.original if hit else None


def object_ids(scene: bpy.types.Scene, width: int, height: int) -> Capture:
    """One camera ray per pixel centre; agrees with Cycles' Object Index pass except on a few silhouette pixels."""
    origins, directions = _camera_rays(scene, *geometry.pixel_centres(width, height))
    depsgraph = bpy.context.evaluated_depsgraph_get()
    ray_cast = scene.ray_cast
    ids = np.zeros(width * height, np.int32)
    index_of: dict[str, int] = {}
    for i, (origin, direction) in enumerate(zip(origins.tolist(), directions.tolist())):
        hit, _location, _normal, _index, ob, _matrix = ray_cast(depsgraph, origin, direction)
        if hit:
            ids[i] = index_of.setdefault(ob.original.name, len(index_of) + 1)
    return Capture(ids=ids.reshape(height, width), names=list(index_of))


def _image_settings_state(settings) -> list[tuple[str, object]]:
    names = ("media_type", "file_format", "color_mode", "color_depth")  # media_type: 5.0+, set before file_format
    return [(name, getattr(settings, name)) for name in names if hasattr(settings, name)]


def render_frame(scene: bpy.types.Scene, filepath: str, width: int, height: int) -> None:
    """Render the active camera at ``width`` x ``height`` into an 8-bit RGB PNG; the scene's settings are restored."""
    render = scene.render
    settings = render.image_settings
    saved_render = [(name, getattr(render, name)) for name in
                    ("resolution_x", "resolution_y", "resolution_percentage", "filepath")]
    saved_image = _image_settings_state(settings)
    try:
        render.resolution_x, render.resolution_y, render.resolution_percentage = width, height, 100
        render.filepath = filepath
        if hasattr(settings, "media_type"):
            settings.media_type = "IMAGE"
        settings.file_format, settings.color_mode, settings.color_depth = "PNG", "RGB", "8"
        bpy.ops.render.render(write_still=True, scene=scene.name)
    finally:
        for name, value in saved_image:
            setattr(settings, name, value)
        for name, value in saved_render:
            setattr(render, name, value)


def capture_ids(scene: bpy.types.Scene, long_side: int) -> Capture:
    """Which object each pixel of a capture at ``long_side`` shows, without rendering it."""
    if scene.camera is None:
        raise ValueError("the scene has no active camera")
    return object_ids(scene, *geometry.capture_size(scene.render.resolution_x, scene.render.resolution_y, long_side))


def capture(scene: bpy.types.Scene, long_side: int, folder: str, key: str,
            ids: Capture | None = None) -> tuple[bpy.types.Image, Capture]:
    """Render the camera's frame, load it as the image ``Sounding Capture`` (packed into the blend file) and map
    its pixels to objects (``ids``: that map, from :func:`capture_ids`). ``key`` names the capture in
    ``runtime.captures``."""
    ids = capture_ids(scene, long_side) if ids is None else ids
    height, width = ids.ids.shape
    filepath = os.path.join(folder, f"capture_{key}.png")
    render_frame(scene, filepath, width, height)
    image = bpy.data.images.load(filepath, check_existing=False)
    image.pack()
    old = bpy.data.images.get(CAPTURE_IMAGE)
    if old is not None:
        old.user_remap(image)
        bpy.data.images.remove(old)
    image.name = CAPTURE_IMAGE
    image[CAPTURE_KEY] = key
    return image, ids


def _encoded_format(data: bytes) -> str | None:
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(JPEG_SOI):
        return "jpeg"
    return None


def image_data(image: bpy.types.Image) -> ImageData:
    """What the server gets for ``image``: its PNG/JPEG bytes as they are (packed or on disk), else its pixels
    (float images go from linear to sRGB), which the worker encodes as PNG."""
    data = None
    if image.packed_file is not None:
        data = bytes(image.packed_file.data)
    elif image.source == "FILE":
        path = bpy.path.abspath(image.filepath, library=image.library)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                data = f.read()
    if data is not None and _encoded_format(data):
        return ImageData(data=data, format=_encoded_format(data))
    width, height = image.size
    if not width or not height:
        raise ValueError(f"the image {image.name!r} has no pixels (is its file missing?)")
    pixels = np.empty(width * height * image.channels, np.float32)
    image.pixels.foreach_get(pixels)
    pixels = pixels.reshape(height, width, image.channels)[::-1, :, :3]
    if image.is_float:
        pixels = pngio.linear_to_srgb(pixels)
    return ImageData(pixels=pngio.float_to_uint8(pixels))
