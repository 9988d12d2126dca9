"""Sounding: click an object in a render or an image and hear the sound it makes.

The add-on stays thin: it talks to a separate ``sounding serve`` process (models never run inside Blender's Python)
through pyzmq and the vendored ``sounding_protocol`` package. See docs/addon.md for the operators and scripting.
"""
from . import click, operators, panels, preferences, properties, runtime

modules = (properties, preferences, operators, click, panels)


def register():
    for module in modules:
        module.register()


def unregister():
    for module in reversed(modules):
        module.unregister()
    runtime.reset()
