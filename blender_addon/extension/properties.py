"""The add-on's one PropertyGroup on the Scene: the image to sound, the clicked objects, the settings and results.

Runtime state (the running job, its progress, the server's status, id maps of captures) is not saved in the blend
file: it lives in ``runtime``.
"""
import bpy
from bpy.props import (
    BoolProperty, CollectionProperty, FloatProperty, IntProperty, PointerProperty, StringProperty,
)

from .sounding_protocol import constants

#: Long side of captured renders, in pixels.
DEFAULT_CAPTURE_SIZE = 512


class SoundingPoint(bpy.types.PropertyGroup):
    x: FloatProperty(name="X", description="Pixels from the image's left edge")
    y: FloatProperty(name="Y", description="Pixels from the image's top edge")
    positive: BoolProperty(name="On Object", default=True,
                           description="On the object (click) or not on it (Shift-click)")


class SoundingObject(bpy.types.PropertyGroup):
    points: CollectionProperty(type=SoundingPoint)
    target: PointerProperty(type=bpy.types.Object, name="Object",
                            description="The 3D object that gets the Speaker (found by casting a ray from the camera)")
    text: StringProperty(name="Hint", description="Optional text hint for this object, such as \"siren\"")
    sounds_like: StringProperty(name="Sounds Like",
                                description="A class of the model's that this object alone sounds like (such as "
                                            "\"guitar\"); empty: the scene's Sounds Like, else the class it is "
                                            "recognised as")


class SoundingClass(bpy.types.PropertyGroup):
    """One class the server's model knows (its ``name``): what Sounds Like offers."""


class SoundingLayer(bpy.types.PropertyGroup):
    """One object of a result that mixes several objects made apart."""

    object_index: IntProperty(name="Object", description="The object's place among the clicked objects")
    sounds_like: StringProperty(name="Sounds Like", description="The class this object's layer was made as")
    unsure: BoolProperty(name="Unsure", description="The object is unlike every class the model knows")
    alternatives: CollectionProperty(type=SoundingClass, name="Alternatives",
                                     description="Other classes this object resembles, best first")
    filepath: StringProperty(name="File", subtype="FILE_PATH",
                             description="This object's own sound, which the result mixes with the others'")
    target: PointerProperty(type=bpy.types.Object, name="Object", description="The object's 3D target (its Speaker)")


class SoundingResult(bpy.types.PropertyGroup):
    filepath: StringProperty(name="File", subtype="FILE_PATH")
    seed: IntProperty(name="Seed")
    duration: FloatProperty(name="Duration", unit="TIME_ABSOLUTE")
    target: PointerProperty(type=bpy.types.Object, name="Object",
                            description="The object the sound came from; it gets the Speaker")
    sounds_like: StringProperty(name="Sounds Like",
                                description="The class whose typical sound the model made: the one asked for, or "
                                            "else the one it recognised (empty when the model names no classes)")
    unsure: BoolProperty(name="Unsure",
                         description="The object is unlike every class the model knows: its class is a guess, so "
                                     "name one in Sounds Like")
    alternatives: CollectionProperty(type=SoundingClass, name="Alternatives",
                                     description="Other classes the object resembles, best first: what to make it "
                                                 "sound like when this sound is wrong")
    layers: CollectionProperty(type=SoundingLayer, name="Layers",
                               description="Each clicked object of a mix, with the classes it also resembles")
    selection: StringProperty(name="Selection", description="The clicks the result was made from")


class SoundingSettings(bpy.types.PropertyGroup):
    image: PointerProperty(type=bpy.types.Image, name="Image", description="The image whose objects are sounded")
    capture_size: IntProperty(name="Capture Size", default=DEFAULT_CAPTURE_SIZE, min=64, max=4096,
                              description="Long side of the captured render, in pixels")
    objects: CollectionProperty(type=SoundingObject)
    active_object: IntProperty(name="Active Object", default=0, min=0)
    duration: FloatProperty(name="Duration", default=4.0, min=0.5, max=60.0, unit="TIME_ABSOLUTE",
                            description="Length of the sound in seconds")
    seed: IntProperty(name="Seed", default=0, min=0)
    variations: IntProperty(name="Variations", default=1, min=1, max=constants.MAX_VARIATIONS,
                            description="How many sounds to generate (seeds Seed, Seed + 1, ...)")
    steps: IntProperty(name="Steps", default=0, min=0, max=constants.MAX_STEPS,
                       description="Denoising steps; 0: the model's default")
    guidance: FloatProperty(name="Guidance", default=0.0, min=0.0, max=20.0,
                            description="Classifier-free guidance scale; 0: the model's default")
    text: StringProperty(name="Hint", description="Optional text hint for the whole selection, such as \"engine\"")
    sounds_like: StringProperty(name="Sounds Like",
                                description="A class of the model's (such as \"dog\") to make the sound of, instead of "
                                            "the class it recognises; empty: recognise")
    add_speaker: BoolProperty(name="Speaker", default=True,
                              description="Add a Speaker on the clicked 3D object (3D positional sound)")
    add_strip: BoolProperty(name="Sequencer Strip", default=True,
                            description="Add a sound strip in the Video Sequencer at the current frame")
    per_object: BoolProperty(name="Per Object", default=True,
                             description="A sound of several objects: each object's own sound on its own Speaker and "
                                         "strip (off: their mix, on the first object)")
    results: CollectionProperty(type=SoundingResult)
    active_result: IntProperty(name="Active Result", default=0, min=0)


classes = (SoundingPoint, SoundingObject, SoundingClass, SoundingLayer, SoundingResult, SoundingSettings)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.sounding = PointerProperty(type=SoundingSettings)
    # The server's, not the scene's: on the window manager, refreshed by each health check.
    bpy.types.WindowManager.sounding_classes = CollectionProperty(type=SoundingClass)


def unregister():
    del bpy.types.WindowManager.sounding_classes
    del bpy.types.Scene.sounding
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
