"""The add-on's bpy-free parts (geometry, PNG encoding, planning, the bridge's messages and selections), imported
from the installed extension."""
import io
import math
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from blender_support import addon, addon_zip, installed  # noqa: F401  (fixtures)

def test_capture_size_keeps_the_aspect(addon):
    size = addon.geometry.capture_size
    assert size(1920, 1080, 512) == (512, 288)
    assert size(1080, 1920, 512) == (288, 512)
    with pytest.raises(ValueError):
        size(0, 10, 512)


def test_pixel_and_frame_coordinates_round_trip(addon):
    g = addon.geometry
    assert g.pixel_to_uv(0, 0, 100, 50) == (0.0, 1.0)
    assert g.uv_to_pixel(*g.pixel_to_uv(12.5, 7.25, 100, 50), 100, 50) == pytest.approx((12.5, 7.25))
    assert g.inside(99.9, 49.9, 100, 50) and not g.inside(100, 0, 100, 50) and not g.inside(-0.1, 0, 100, 50)


def test_frame_rays_of_a_perspective_and_an_orthographic_camera(addon):
    g = addon.geometry
    corners = np.array([[1, 0.5, -2], [1, -0.5, -2], [-1, -0.5, -2], [-1, 0.5, -2]], float)  # tr, br, bl, tl
    matrix = np.eye(4)
    matrix[:3, 3] = (0, 0, 5)
    origins, directions = g.frame_rays(corners, matrix, False, np.array([0.5, 1.0]), np.array([0.5, 0.0]))
    assert np.allclose(origins, [[0, 0, 5], [0, 0, 5]])
    assert np.allclose(directions[0], [0, 0, -1])
    assert np.allclose(directions[1], np.array([1, -0.5, -2]) / math.sqrt(5.25))
    origins, directions = g.frame_rays(corners, matrix, True, np.array([0.0]), np.array([1.0]))
    assert np.allclose(origins, [[-1, 0.5, 5]]) and np.allclose(directions, [[0, 0, -1]])
    u, v = g.pixel_centres(2, 2)
    assert np.allclose(u, [0.25, 0.75, 0.25, 0.75]) and np.allclose(v, [0.75, 0.75, 0.25, 0.25])


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (4, 3, 4), (1, 1, 2)])
def test_png_encoding_round_trips_through_pillow(addon, shape):
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(addon.pngio.encode_png(pixels))))
    assert np.array_equal(decoded, pixels.reshape(decoded.shape))


def test_png_encoding_of_masks_and_bad_input(addon):
    mask = np.zeros((3, 4), bool)
    mask[1, 2] = True
    decoded = np.asarray(Image.open(io.BytesIO(addon.pngio.encode_png(mask))))
    assert decoded[1, 2] == 255 and decoded.sum() == 255
    with pytest.raises(ValueError):
        addon.pngio.encode_png(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError):
        addon.pngio.encode_png(np.zeros((2, 2, 5), np.uint8))
    assert np.allclose(addon.pngio.linear_to_srgb(np.array([0.0, 0.001, 0.5, 1.0])),
                       [0.0, 0.01292, 0.7354, 1.0], atol=1e-4)


def grey_png(width: int, height: int, raw: bytes) -> bytes:
    """An 8-bit grey PNG around ``raw`` (rows of filter type byte + pixels)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def filtered_png(image: np.ndarray, filters: list[int]) -> bytes:
    """An 8-bit grey PNG of ``image`` whose row y uses PNG filter ``filters[y]`` (a slow reference encoder)."""
    height, width = image.shape
    raw = b""
    above = [0] * width
    for y in range(height):
        row, out = image[y].tolist(), []
        for x in range(width):
            a, b, c = (row[x - 1] if x else 0), above[x], (above[x - 1] if x else 0)
            p = a + b - c
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c
            out.append((row[x] - (0, a, b, (a + b) // 2, paeth)[filters[y]]) % 256)
        raw += bytes([filters[y]] + out)
        above = row
    return grey_png(width, height, raw)


def test_grey_png_decoding_undoes_every_filter(addon):
    image = np.random.default_rng(3).integers(0, 256, (10, 9), dtype=np.uint8)
    image[4:7, 2:6] = 255
    filters = [0, 1, 2, 3, 4, 4, 3, 2, 1, 0]
    assert np.array_equal(addon.pngio.decode_grey_png(filtered_png(image, filters)), image)
    pillow = io.BytesIO()
    Image.fromarray(image, "L").save(pillow, "PNG", compress_level=1)  # as the server writes masks
    assert np.array_equal(addon.pngio.decode_grey_png(pillow.getvalue()), image)


def test_grey_png_decoding_refuses_what_masks_are_not(addon):
    decode = addon.pngio.decode_grey_png
    with pytest.raises(ValueError, match="not a PNG"):
        decode(b"GIF89a")
    with pytest.raises(ValueError, match="not 8-bit grey"):
        decode(addon.pngio.encode_png(np.zeros((2, 2, 3), np.uint8)))
    with pytest.raises(ValueError, match="unknown filter"):
        decode(grey_png(2, 2, b"\x00\x00\x00\x05\x00\x00"))
    with pytest.raises(ValueError, match="does not match"):
        decode(grey_png(2, 2, b"\x00\x00\x00"))


def test_loopback_addresses_need_no_online_access(addon):
    is_loopback = addon.runtime.is_loopback  # the vendored protocol's, shared with the server
    for address in ("tcp://127.0.0.1:5557", "tcp://localhost:5557", "tcp://[::1]:5557", "tcp://127.3.2.1:1",
                    "ipc:///tmp/sounding", "inproc://x"):
        assert is_loopback(address), address
    for address in ("tcp://192.168.1.5:5557", "tcp://example.com:5557", "tcp://*:5557", "nonsense"):
        assert not is_loopback(address), address
    assert addon.plan.bind_address("tcp://localhost:5557") == "tcp://127.0.0.1:5557"


def test_free_channel_and_names(addon):
    p = addon.plan
    occupied = [(1, 1, 25), (2, 10, 30), (3, 40, 50)]
    assert p.free_channel(occupied, 5, 20) == 3
    assert p.free_channel(occupied, 25, 40) == 1
    assert p.free_channel([], 1, 2) == 1
    with pytest.raises(ValueError):
        p.free_channel([(c, 0, 10) for c in range(1, 4)], 0, 10, last=3)
    assert p.duration_frames(1.0, 24) == 24 and p.duration_frames(1.01, 24) == 25 and p.duration_frames(0, 24) == 1
    assert p.wav_name("Cube.001 (big)", 3, 0, "abcdef123456") == "Cube_001_big_s3_v1_abcdef12.wav"


def test_classes_go_per_object_or_for_the_whole_selection_never_both(addon):
    classes = addon.plan.object_classes
    assert classes(["", " "], "") == ([None, None], None)  # recognise everything
    assert classes(["", ""], " dog ") == ([None, None], "dog")  # the scene's class: the union, as before
    assert classes(["guitar", ""], "dog") == (["guitar", "dog"], None)  # a pinned object: the scene's to the rest
    assert classes(["guitar", ""], "") == (["guitar", None], None)
    assert classes(["guitar", "piano"], "dog", asked="bell") == ([None, None], "bell")  # Or like, whole selection
    assert classes(["guitar", ""], "dog", asked="bell", object_index=1) == (["guitar", "bell"], None)  # one object
    assert classes(["", ""], "dog", asked="bell", object_index=0) == (["bell", None], None)


def test_a_selection_key_changes_with_the_image_or_any_click_but_not_the_hints(addon):
    key = addon.plan.selection_key
    clicked = [([(10.0, 20.0)], [1], ""), ([], [], "ignored: no clicks"), ([(30.0, 40.0), (31.0, 40.0)], [1, 0], "")]
    assert key("Capture", clicked) == key("Capture", [(p, l, "a hint") for p, l, _ in clicked if p])
    assert key("Capture", clicked) != key("Photo", clicked)
    assert key("Capture", clicked) != key("Capture", clicked[:2])
    assert key("Capture", clicked) != key("Capture", [clicked[0], clicked[2], clicked[0]])
    assert key("Capture", clicked) != key("Capture", [clicked[0], ([(30.0, 40.0), (31.0, 40.0)], [1, 1], "")])


def test_sound_names_fit_blenders_strip_names_without_cutting_a_class(addon):
    name, limit = addon.plan.sound_name, addon.plan.MAX_NAME_BYTES
    assert name("Cube") == "Sounding Cube" and name("Cube", "bell") == "Sounding Cube (bell)"
    assert name("Piano", "piano + guitar") == "Sounding Piano (piano + guitar)"
    many = " + ".join(["electric guitar"] * 6)
    assert name("Piano", many) == "Sounding Piano (electric guitar + electric guitar + \u2026)"
    long_owner = "\u00e9" * 40  # 80 bytes: cut at a character, the class kept
    assert name(long_owner) == "Sounding " + "\u00e9" * 24 + "\u2026"
    assert name(long_owner, "bell + drum") == "Sounding " + "\u00e9" * 18 + "\u2026 (bell + \u2026)"
    assert name("Cube", "x" * 60) == "Sounding Cube"  # no room for the class at all
    for owner in ("Cube", "x" * 50, long_owner):
        for like in ("", "bell", many, "x" * 60):
            assert len(name(owner, like).encode("utf-8")) <= limit


def test_selections_use_exact_masks_on_captures_and_clicks_elsewhere(addon):
    b, g = addon.bridge, addon.geometry
    ids = np.zeros((4, 6), np.int32)
    ids[:, :3], ids[:, 3:] = 1, 2
    capture = g.Capture(ids=ids, names=["Cube", "Sphere"])
    objects = [([(1.0, 1.0), (4.0, 2.0)], [1, 1], " siren "), ([], [], "skipped"), ([(4.0, 1.0)], [0], "")]
    picked = b.selections(objects, "engine", capture)
    assert len(picked) == 2
    assert np.array_equal(picked[0].mask, ids > 0) and picked[0].text == "siren, engine"
    assert picked[1].mask is None and picked[1].points == [(4.0, 1.0)] and picked[1].labels == [0]
    plain = b.selections(objects, "", None)
    assert plain[0].mask is None and plain[0].points == [(1.0, 1.0), (4.0, 2.0)] and plain[0].text == "siren"
    text_only = b.selections([], "rain", None)
    assert len(text_only) == 1 and text_only[0].points is None and text_only[0].text == "rain"
    assert b.selections([], "  ", None) == []


def test_a_point_on_each_captured_object_even_a_ring(addon):
    ids = np.zeros((9, 9), np.int32)
    ids[1:8, 1:8] = 1
    ids[3:6, 3:6] = 2  # the ring's hole shows another object
    capture = addon.geometry.Capture(ids=ids, names=["Ring", "Peg", "Hidden"])
    x, y = capture.point_on("Ring")
    assert capture.object_index(x, y) == 1 and (x, y) != (4.5, 4.5)
    assert capture.point_on("Peg") == (4.5, 4.5)
    assert capture.point_on("Hidden") is None and capture.point_on("Elsewhere") is None


def test_messages_for_people(addon):
    b = addon.bridge
    assert "Is it running?" in b.explain(b.TIMEOUT, "x", "tcp://127.0.0.1:1")
    assert "busy" in b.explain("busy", "queue full", "a")
    assert "Protocol mismatch" in b.explain("unsupported_version", "v must be 1", "a")
    assert b.explain("cancelled", "x", "a") == "Cancelled."
    assert b.explain("bad_request", "point outside", "a") == "Server error (bad_request): point outside"
    ok = {"status": "ok", "protocol": 1, "model": {"name": "tiny"}, "device": "cpu", "queue": 2}
    assert b.health_problem(ok) is None and b.describe_health(ok) == "ok: model tiny on cpu, 2 queued"
    assert "Protocol mismatch" in b.describe_health(dict(ok, protocol=2))
    prior = dict(ok, model={"name": "foley-mini", "classes": ["bell", "drum"]})
    assert b.describe_health(prior) == "ok: model foley-mini, knows 2 classes on cpu, 2 queued"


def test_overlay_pixels_are_flipped_for_the_gpu(addon):
    mask = np.zeros((3, 2), bool)
    mask[0, 1] = True  # top row
    rgba = addon.click.overlay_rgba(mask)
    assert rgba.shape == (3, 2, 4) and rgba.dtype == np.float32
    assert tuple(rgba[2, 1]) == pytest.approx(addon.click.MASK_RGBA) and rgba[:2].sum() == 0


def test_markers_are_diamonds_around_the_clicks(addon):
    vertices = addon.click.marker_triangles([(10.0, 20.0), (0.0, 0.0)], size=4.0)
    assert len(vertices) == 12
    assert set(vertices[:6]) == {(8.0, 20.0), (12.0, 20.0), (10.0, 18.0), (10.0, 22.0)}
