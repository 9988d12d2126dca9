"""Add-on preferences: where the server is, how long to wait for it, and a button that starts a local one."""
import bpy
from bpy.props import FloatProperty, StringProperty

from . import runtime
from .sounding_protocol.constants import DEFAULT_ENDPOINT


class SoundingPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    address: StringProperty(
        name="Server", default=DEFAULT_ENDPOINT,
        description="ZeroMQ address of the Sounding server. Servers on this computer need no Online Access")
    timeout: FloatProperty(
        name="Timeout", default=30.0, min=1.0, max=3600.0, unit="TIME_ABSOLUTE",
        description="Seconds a request may go without any message from the server before it fails")
    executable: StringProperty(
        name="Sounding Executable", default="sounding", subtype="FILE_PATH",
        description="The `sounding` program that Start Local Server runs (`sounding serve --bind <Server>`)")
    model: StringProperty(name="Model", default="", description="Model for the local server; empty: its default")
    server_key: StringProperty(
        name="Server Public Key", subtype="FILE_PATH",
        description="CURVE public key file of a remote server (not needed on this computer)")
    client_key: StringProperty(
        name="Client Secret Key", subtype="FILE_PATH",
        description="CURVE secret key file of this client (.key_secret), for a remote server")

    def draw(self, context):
        layout = self.layout
        col = layout.column()
        col.prop(self, "address")
        col.prop(self, "timeout")
        row = col.row(align=True)
        row.operator("sounding.health", icon="FILE_REFRESH")
        row.label(text=runtime.SESSION.status)
        box = layout.box()
        box.label(text="Local Server")
        box.prop(self, "executable")
        box.prop(self, "model")
        row = box.row(align=True)
        row.operator("sounding.start_server", icon="PLAY")
        row.operator("sounding.stop_server", icon="PAUSE")
        box = layout.box()
        box.label(text="Remote Server (CURVE authentication)")
        box.prop(self, "server_key")
        box.prop(self, "client_key")


class SOUNDING_OT_start_server(bpy.types.Operator):
    """Start `sounding serve` on the Server address, as a separate process"""

    bl_idname = "sounding.start_server"
    bl_label = "Start Local Server"

    def execute(self, context):
        prefs = runtime.preferences(context)
        try:
            runtime.start_server(prefs.executable, prefs.address, prefs.model)
        except (runtime.UserError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, runtime.SESSION.status)
        return {"FINISHED"}


class SOUNDING_OT_stop_server(bpy.types.Operator):
    """Stop the server that Start Local Server started"""

    bl_idname = "sounding.stop_server"
    bl_label = "Stop Local Server"

    @classmethod
    def poll(cls, context):
        return runtime.SESSION.server is not None

    def execute(self, context):
        runtime.stop_server()
        runtime.SESSION.status = "Local server stopped"
        return {"FINISHED"}


classes = (SoundingPreferences, SOUNDING_OT_start_server, SOUNDING_OT_stop_server)


#: Registers in order, unregisters in reverse.
register, unregister = bpy.utils.register_classes_factory(classes)
