"""load_image: every input a user can give becomes uint8 (H, W, 3) RGB, or a clear ValueError."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from features import MAX_PIXELS, load_image, resize_square, to_gray


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def test_gray_rgb_rgba_and_dtypes_become_canonical():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = load_image(gray)
    assert out.shape == (3, 4, 3) and out.dtype == np.uint8
    assert np.array_equal(out[:, :, 0], gray) and np.array_equal(out[:, :, 2], gray)
    assert np.array_equal(load_image(gray.astype(np.uint16) * 257), out)
    assert np.array_equal(load_image(gray / 255.0), out)
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent -> white background
    assert (load_image(rgba) == 255).all()
    assert load_image(np.ones((1, 1), bool)).tolist() == [[[255, 255, 255]]]


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((0, 5), np.uint8), "empty"),
        (np.full((4, 4), np.nan), "NaN"),
        (np.zeros((4, 4, 2), np.uint8), "shape"),
        (np.zeros((2, 2, 2, 2), np.uint8), "shape"),
        (b"", "empty"),
        (b"not an image at all", "not an image"),
        (12345, "must be a path"),
    ],
)
def test_bad_inputs_give_clear_value_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        load_image(bad)


def test_encoded_formats_paths_and_pil(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    png = encode(Image.fromarray(rgb))
    assert np.array_equal(load_image(png), rgb)
    path = tmp_path / "x.png"
    path.write_bytes(png)
    assert np.array_equal(load_image(path), rgb)
    assert np.array_equal(load_image(str(path)), rgb)
    assert np.array_equal(load_image(Image.fromarray(rgb)), rgb)
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.png")


def test_sixteen_bit_png_and_animated_gif_first_frame():
    sixteen = np.full((3, 3), 65535, dtype=np.uint16)
    out = load_image(encode(Image.fromarray(sixteen)))
    assert (out == 255).all()
    frames = [Image.fromarray(np.full((4, 4), v, np.uint8)) for v in (10, 200)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert (load_image(gif) == 10).all()


def test_truncated_files_are_refused():
    png = encode(Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    with pytest.raises(ValueError, match="truncated|decoded|not an image"):
        load_image(png[: len(png) // 2])
    jpeg = encode(Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)), "JPEG")
    with pytest.raises(ValueError):
        load_image(jpeg[: len(jpeg) // 3])


def bomb_png(width: int, height: int) -> bytes:
    """A valid-looking PNG header announcing huge dimensions, with almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(ValueError, match="decompression bomb"):
        load_image(bomb_png(100_000, 100_000))
    assert 100_000 * 100_000 > MAX_PIXELS


def test_gray_and_resize():
    rgb = load_image(np.full((10, 6), 77, np.uint8))
    assert to_gray(rgb).shape == (10, 6) and (to_gray(rgb) == 77).all()
    assert resize_square(rgb, 28).shape == (28, 28, 3)
    assert resize_square(to_gray(rgb), 4).shape == (4, 4)
    with pytest.raises(ValueError, match="size"):
        resize_square(rgb, 0)
