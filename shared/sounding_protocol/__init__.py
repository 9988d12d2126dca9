"""Sounding wire protocol v1 (PROTOCOL.md): framing, validation, the client.

Pure Python (the standard library; pyzmq for the client only) so the Blender add-on can vendor this package as-is.
Image and mask sizes are read from the PNG/JPEG headers here; decoding pixels is the server's job.

Extensions to v1 (allowed by the contract: new optional fields; see docs/protocol-extensions.md):

- An object may carry only ``text`` (no ``points``, no ``mask``): the paper's text-attention mode. In ``generate``
  such an object adds its hint and no region; ``segment`` rejects it (there is nothing to segment).
- ``health``'s ``model`` object also has ``default_duration``, ``default_steps``, ``default_guidance`` and
  ``classes`` (what ``sounds_like`` may name; ``[]`` for a model without an object prior).
- ``generate`` takes ``sounds_like``: a class of the model's to sound like instead of the one it recognises; for
  the whole request, or for one object (an object's ``sounds_like``; not both); and ``stems`` (bool): each
  object's own clips too, where several objects are made apart.
- ``cancel``'s result has ``cancelled`` (bool): whether the target was still pending.
- ``generate``'s result has ``steps`` and ``guidance``: the values actually used, and ``recognised``: the classes
  the model's object prior found the selection nearest to (``label``, ``similarity``), best first, or ``[]``, and
  ``sounds_like``: the class the clips were made as (asked for, else recognised), or ``null``. For several objects
  made apart and mixed (a model with an object prior, nothing asked for), ``recognised`` has each object's class in
  the objects' order and ``sounds_like`` joins them with " + ", and ``layers`` has each object's own ``object``
  (its place in ``objects``), ``recognised``, ``sounds_like``, ``unsure`` and, with ``stems``, ``audio`` (its own
  clips, blobs after the masks). ``unsure`` (bool) is true when a
  recognised class the clips were made as scored too low to trust: the picture is unlike every class the model knows.
"""
from .constants import PROTOCOL_VERSION
from .errors import ProtocolError

__all__ = ["PROTOCOL_VERSION", "ProtocolError"]
