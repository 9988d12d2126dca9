"""Sidebar panels (N panel, tab "Sounding") in the Image Editor and the 3D Viewport; draw() only reads."""
import os

import bpy

from . import runtime


class SOUNDING_UL_objects(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_property, index=0):
        on = sum(p.positive for p in item.points)
        row = layout.row(align=True)
        row.label(text=f"{index + 1}: {on} on, {len(item.points) - on} off", icon="RESTRICT_SELECT_OFF")
        row.prop(item, "target", text="")
        row.prop(item, "text", text="", icon="SYNTAX_OFF")
        if context.window_manager.sounding_classes:  # this object's own class, from the server's list
            row.prop_search(item, "sounds_like", context.window_manager, "sounding_classes", text="",
                            icon="OUTLINER_OB_SPEAKER", results_are_suggestions=True)
        else:
            row.prop(item, "sounds_like", text="", icon="OUTLINER_OB_SPEAKER")
        row.operator("sounding.remove_object", text="", icon="X").index = index


class SOUNDING_UL_results(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_property, index=0):
        row = layout.row(align=True)
        row.label(text=os.path.basename(item.filepath), icon="SOUND")
        like = f", like {item.sounds_like}{' (unsure)' if item.unsure else ''}" if item.sounds_like else ""
        row.label(text=f"seed {item.seed}, {item.duration:.1f} s{like}")
        row.operator("sounding.play_result", text="", icon="PLAY").index = index
        row.operator("sounding.use_result", text="Use").index = index


class SoundingPanel:
    bl_region_type = "UI"
    bl_category = "Sounding"
    bl_label = "Sounding"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.sounding
        session = runtime.SESSION

        row = layout.row(align=True)
        row.label(text=session.status, icon="LINKED" if session.status.startswith("ok") else "UNLINKED")
        row.operator("sounding.health", text="", icon="FILE_REFRESH")

        box = layout.box()
        row = box.row(align=True)
        row.operator("sounding.capture", icon="RENDER_STILL")
        row.prop(settings, "capture_size", text="")
        box.operator("sounding.use_image", icon="IMAGE_DATA")
        box.template_ID(settings, "image", open="image.open")
        if self.bl_space_type == "VIEW_3D":  # capture, click each selected object, generate, place: one button
            box.operator("sounding.sound_selected", icon="OUTLINER_OB_SPEAKER")

        box = layout.box()
        if self.bl_space_type == "IMAGE_EDITOR":
            box.operator("sounding.click", icon="RESTRICT_SELECT_OFF")
        if settings.objects:
            box.template_list("SOUNDING_UL_objects", "", settings, "objects", settings, "active_object", rows=2)
            box.operator("sounding.clear_objects", icon="TRASH")

        box = layout.box()
        col = box.column(align=True)
        col.prop(settings, "duration")
        col.prop(settings, "seed")
        col.prop(settings, "variations")
        col.prop(settings, "steps")
        col.prop(settings, "guidance")
        box.prop(settings, "text")
        known = context.window_manager.sounding_classes
        if known:  # the server's classes, once Check Server has asked
            box.prop_search(settings, "sounds_like", context.window_manager, "sounding_classes",
                            icon="OUTLINER_OB_SPEAKER", results_are_suggestions=True)  # the server decides
        else:
            box.prop(settings, "sounds_like", icon="OUTLINER_OB_SPEAKER")
        row = box.row(align=True)
        row.prop(settings, "add_speaker", toggle=True)
        row.prop(settings, "add_strip", toggle=True)
        row.prop(settings, "per_object", toggle=True)
        running = session.generation()
        if running is None:
            box.operator("sounding.generate", icon="PLAY_SOUND")
        else:
            row = box.row(align=True)
            row.progress(factor=running.fraction, type="BAR",
                         text=f"{running.stage} {running.step}/{running.total}" if running.total else running.stage)
            row.operator("sounding.cancel", text="", icon="CANCEL")
        if session.notice:
            box.label(text=session.notice)

        if settings.results:
            layout.template_list("SOUNDING_UL_results", "", settings, "results", settings, "active_result", rows=3)
            shown = min(settings.active_result, len(settings.results) - 1)
            active = settings.results[shown]
            if active.alternatives:  # one click remakes the selection as a class the object also resembles
                row = layout.row(align=True)
                row.label(text="Or like:")
                for alternative in active.alternatives:
                    button = row.operator("sounding.sound_as", text=alternative.name)
                    button.label, button.result = alternative.name, shown
            for k, layer in enumerate(active.layers):  # a mix: hear one object alone, or remake it as another class
                if not (layer.alternatives or layer.filepath):
                    continue
                row = layout.row(align=True)
                if layer.filepath:
                    button = row.operator("sounding.play_result", text="", icon="PLAY")
                    button.index, button.layer = shown, k
                like = ", or like:" if layer.alternatives else ""
                row.label(text=f"{layer.sounds_like}{' (unsure)' if layer.unsure else ''}{like}")
                for alternative in layer.alternatives:
                    button = row.operator("sounding.sound_as", text=alternative.name)
                    button.label, button.object_index, button.result = alternative.name, layer.object_index, shown
            layout.operator("sounding.stop_preview", icon="SNAP_FACE")


class SOUNDING_PT_image_editor(SoundingPanel, bpy.types.Panel):
    bl_space_type = "IMAGE_EDITOR"


class SOUNDING_PT_view3d(SoundingPanel, bpy.types.Panel):
    bl_space_type = "VIEW_3D"


classes = (SOUNDING_UL_objects, SOUNDING_UL_results, SOUNDING_PT_image_editor, SOUNDING_PT_view3d)


#: Registers in order, unregisters in reverse.
register, unregister = bpy.utils.register_classes_factory(classes)
