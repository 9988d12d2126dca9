"""Put generated sounds into the scene: per sound a mono Sound, a Speaker on its clicked object, a sequencer strip.

All or nothing: if any step fails, what was created is removed again and the error propagates.
"""
from __future__ import annotations

from dataclasses import dataclass

import bpy

from . import plan


@dataclass
class SoundFile:
    """A sound to put into the scene: its file, its length in seconds, the object whose Speaker plays it (None: no
    Speaker) and the name of its Sound, Speaker and strip."""

    filepath: str
    seconds: float
    target: bpy.types.Object | None
    name: str


@dataclass
class Placed:
    sound: bpy.types.Sound
    speaker: bpy.types.Object | None
    strip: object | None  # a sound strip (bpy.types.SoundStrip in 5.0, SoundSequence before)


def strips(scene: bpy.types.Scene):
    """The sequencer's top-level strips, or None; ``strips`` since 4.4, ``sequences`` before (removed in 5.0)."""
    editor = scene.sequence_editor
    if editor is None:
        return None
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def span(strip: bpy.types.Strip) -> tuple[int, int]:
    """A strip's first frame and the first frame after it: ``left_handle``/``right_handle`` since 5.1,
    ``frame_final_start``/``frame_final_end`` before (deprecated in 5.1, to be removed in 6.0)."""
    if hasattr(strip, "left_handle"):
        return strip.left_handle, strip.right_handle
    return strip.frame_final_start, strip.frame_final_end


def add_speaker(sound: bpy.types.Sound, target: bpy.types.Object, name: str, created: list) -> bpy.types.Object:
    """A Speaker at ``target``'s origin, parented to it, whose NLA sound strip starts at the current frame.

    Order matters (a sound assigned after the operator gives a silent mixdown until the depsgraph rebuilds):
    speaker data with the sound first, then ``object.speaker_add`` (it makes the NLA strip), then the data swap.
    """
    if not bpy.ops.object.speaker_add.poll():
        raise ValueError("a Speaker can only be added in Object Mode")
    data = bpy.data.speakers.new(name)
    created.append(data)
    data.sound = sound
    bpy.ops.object.speaker_add(location=target.matrix_world.translation)
    speaker = bpy.context.active_object
    created.append(speaker)
    placeholder = speaker.data
    speaker.data = data
    bpy.data.speakers.remove(placeholder)
    speaker.name = name
    speaker.parent = target
    speaker.matrix_parent_inverse = target.matrix_world.inverted()
    return speaker


def add_strip(scene: bpy.types.Scene, sound: bpy.types.Sound, seconds: float, name: str, created: list):
    """A strip playing ``sound`` on the lowest free channel at the current frame (no second Sound datablock)."""
    if scene.sequence_editor is None:
        scene.sequence_editor_create()
    collection = strips(scene)
    start = scene.frame_current
    end = start + plan.duration_frames(seconds, scene.render.fps / scene.render.fps_base)
    occupied = [(s.channel, *span(s)) for s in collection]
    existing = {s.as_pointer() for s in bpy.data.sounds}
    strip = collection.new_sound(name=name, filepath=sound.filepath, channel=plan.free_channel(occupied, start, end),
                                 frame_start=start)
    created.append(strip)
    loaded = strip.sound
    strip.sound = sound
    if loaded.as_pointer() not in existing:  # Blender 5.1+ reuses a Sound of the same path, maybe another result's
        bpy.data.sounds.remove(loaded)
    return strip


def _remove(scene: bpy.types.Scene, created: list) -> None:
    for item in reversed(created):
        if isinstance(item, bpy.types.Object):
            bpy.data.objects.remove(item)
        elif isinstance(item, bpy.types.Speaker):
            bpy.data.speakers.remove(item)
        elif isinstance(item, bpy.types.Sound):
            bpy.data.sounds.remove(item)
        else:
            strips(scene).remove(item)


def place(scene: bpy.types.Scene, sounds: list[SoundFile], speaker: bool = True, strip: bool = True) -> list[Placed]:
    """Load each sound as a mono Sound (packed when the blend file is unsaved) and add a Speaker on its target (when
    it has one and ``speaker``) and a sequencer strip (when ``strip``), all starting at the current frame; all of
    them or, if one step fails, none."""
    created: list = []
    try:
        return [_place_one(scene, sound, speaker, strip, created) for sound in sounds]
    except Exception:
        _remove(scene, created)
        raise


def _place_one(scene: bpy.types.Scene, file: SoundFile, speaker: bool, strip: bool, created: list) -> Placed:
    sound = bpy.data.sounds.load(file.filepath, check_existing=False)
    created.append(sound)
    sound.name = file.name
    sound.use_mono = True
    if not bpy.data.filepath:
        sound.pack()
    placed_speaker = None
    if speaker and file.target is not None:
        placed_speaker = add_speaker(sound, file.target, file.name, created)
    placed_strip = add_strip(scene, sound, file.seconds, file.name, created) if strip else None
    return Placed(sound=sound, speaker=placed_speaker, strip=placed_strip)
