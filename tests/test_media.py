"""Media I/O: sampling by timestamps, resize geometry, limits, and atomic H.264 writing.

Synthetic videos encode their frame index as ten black/white vertical bands (one bit each),
so a test can tell exactly which source frame ended up at each output position.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from core import media
from core.media import MediaError

BITS = 10  # frame indices up to 1023
BAND_PX = 10
CLIP_HEIGHT, CLIP_WIDTH = 64, BITS * BAND_PX  # 64 × 100
FAST_FAIL_S = 2.0  # "quickly": generous for a loaded 2-core machine, far below a full decode


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def index_frame(index: int) -> np.ndarray:
    """A (64, 100, 3) frame whose 10 vertical bands are white (bit set) or black (bit clear)."""
    bits = (index >> np.arange(BITS)) & 1
    row = np.repeat(bits * 255, BAND_PX).astype(np.uint8)
    return np.broadcast_to(row[None, :, None], (CLIP_HEIGHT, CLIP_WIDTH, 3)).copy()


def decode_index(frame: np.ndarray) -> int:
    bands = frame.reshape(frame.shape[0], BITS, BAND_PX, 3)[:, :, 2:-2].mean(axis=(0, 2, 3))
    return int(sum(1 << bit for bit in range(BITS) if bands[bit] > 127))


def write_index_video(path: Path, times_s: list[float], time_base=Fraction(1, 1000), rotation=None) -> Path:
    """A lossless-ish H.264 video whose frame k is ``index_frame(k)`` stamped at ``times_s[k]``."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height = CLIP_WIDTH, CLIP_HEIGHT
        stream.pix_fmt = "yuv420p"
        stream.options = {"qp": "0"}
        stream.codec_context.time_base = time_base
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for index, time_s in enumerate(times_s):
            frame = av.VideoFrame.from_ndarray(index_frame(index), format="rgb24")
            frame.pts = round(time_s / time_base)
            frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


THIRTIETH = Fraction(1, 30)


def constant_rate_times(fps: float, seconds: float) -> list[float]:
    return [k / fps for k in range(round(fps * seconds))]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


@pytest.fixture(scope="module")
def ten_second_clip(tmp_path_factory) -> Path:
    return write_index_video(tmp_path_factory.mktemp("media") / "ten.mp4", constant_rate_times(30, 10), THIRTIETH)


@pytest.fixture(scope="module")
def one_second_clip(tmp_path_factory) -> Path:
    return write_index_video(tmp_path_factory.mktemp("media") / "one.mp4", constant_rate_times(30, 1), THIRTIETH)


# --------------------------------------------------------------------------------------------
# Video sampling
# --------------------------------------------------------------------------------------------


def test_helper_round_trips_frame_index():
    assert [decode_index(index_frame(k)) for k in (0, 1, 37, 299)] == [0, 1, 37, 299]


def test_long_clip_sampled_at_8_fps_from_start(ten_second_clip):
    clip = media.load_video(ten_second_clip, 49, CLIP_HEIGHT, CLIP_WIDTH)
    indices = [decode_index(frame) for frame in clip.frames]
    # Output i shows the source frame on screen at i/8 s: floor(30 i / 8).
    assert indices == [30 * i // 8 for i in range(49)]
    assert clip.fps == 8.0
    assert clip.duration_s == pytest.approx(49 / 8)
    assert clip.source_fps == pytest.approx(30.0)
    assert clip.source_duration_s == pytest.approx(10.0, abs=0.05)
    assert clip.frames.shape == (49, CLIP_HEIGHT, CLIP_WIDTH, 3) and clip.frames.dtype == np.uint8
    assert not clip.is_image


def test_long_clip_sampled_from_later_start(ten_second_clip):
    clip = media.load_video(ten_second_clip, 49, CLIP_HEIGHT, CLIP_WIDTH, start_s=2.0)
    assert [decode_index(frame) for frame in clip.frames] == [60 + 30 * i // 8 for i in range(49)]
    assert clip.start_s == 2.0 and clip.fps == 8.0


def test_remaining_part_shorter_than_clip_is_resampled(ten_second_clip):
    # 5 s remain after start 5 s, less than 49/8 s: spread 49 samples over those 5 s.
    clip = media.load_video(ten_second_clip, 49, CLIP_HEIGHT, CLIP_WIDTH, start_s=5.0)
    assert [decode_index(frame) for frame in clip.frames] == [150 + 150 * i // 49 for i in range(49)]
    assert clip.fps == pytest.approx(49 / 5.0)
    assert clip.duration_s == pytest.approx(5.0)


def test_late_start_seeks_and_converts_only_sampled_frames(ten_second_clip, monkeypatch):
    converted = []
    real_frame_to_rgb = media._frame_to_rgb
    monkeypatch.setattr(media, "_frame_to_rgb", lambda frame: converted.append(1) or real_frame_to_rgb(frame))
    # 1.5 s remain after 8.5 s: resampled, the first pass only finds the end.
    clip = media.load_video(ten_second_clip, 49, CLIP_HEIGHT, CLIP_WIDTH, start_s=8.5)
    expected = [255 + 45 * i // 49 for i in range(49)]
    assert [decode_index(frame) for frame in clip.frames] == expected
    assert clip.fps == pytest.approx(49 / 1.5)
    assert len(converted) == len(set(expected))  # the header said "short": no wasted conversions


def test_header_duration_is_only_a_hint(ten_second_clip, monkeypatch):
    # A header that understates the length must not turn a long clip into a resampled one.
    real_stream_info = media._stream_info

    def understated(container, stream, name):
        info = real_stream_info(container, stream, name)
        return media._StreamInfo(info.width, info.height, info.nominal_fps, 3.0, info.frame_count)

    monkeypatch.setattr(media, "_stream_info", understated)
    clip = media.load_video(ten_second_clip, 49, CLIP_HEIGHT, CLIP_WIDTH, start_s=1.0)
    assert [decode_index(frame) for frame in clip.frames] == [30 + 30 * i // 8 for i in range(49)]
    assert clip.fps == 8.0


def test_one_second_clip_resampled_uniformly(one_second_clip):
    clip = media.load_video(one_second_clip, 49, CLIP_HEIGHT, CLIP_WIDTH)
    indices = [decode_index(frame) for frame in clip.frames]
    assert indices == [30 * i // 49 for i in range(49)]
    assert sorted(set(indices)) == list(range(30))  # every source frame used, in order
    assert clip.fps == pytest.approx(49.0)  # 49 frames over the clip's 1 s
    assert clip.duration_s == pytest.approx(1.0)


def test_variable_frame_rate_sampled_by_timestamp(tmp_path):
    # Irregular gaps of 20 ms and 110 ms: sampling must follow the stamps, not the frame count.
    times, now = [], 0.0
    for k in range(60):
        times.append(round(now, 3))
        now += 0.020 if k % 2 == 0 else 0.110
    path = write_index_video(tmp_path / "vfr.mp4", times)
    clip = media.load_video(path, 16, CLIP_HEIGHT, CLIP_WIDTH)
    expected = [max(k for k, t in enumerate(times) if t <= i / 8 + 1e-9) for i in range(16)]
    assert [decode_index(frame) for frame in clip.frames] == expected
    assert clip.fps == 8.0


def test_start_after_end_is_an_error(one_second_clip):
    with pytest.raises(MediaError, match="earlier start"):
        media.load_video(one_second_clip, 49, CLIP_HEIGHT, CLIP_WIDTH, start_s=3.0)


def test_video_is_resized_to_working_size(ten_second_clip):
    clip = media.load_video(ten_second_clip, 4, 32, 48, resize_mode="stretch")
    assert clip.frames.shape == (4, 32, 48, 3)


def test_display_rotation_is_applied(tmp_path):
    path = write_index_video(tmp_path / "rot.mp4", [0.0, 0.125], rotation=90)
    frames, _ = media.read_video_frames(path)
    # Stored frame 1 has only band 0 (the left 12 columns) white; a 90° counter-clockwise turn
    # moves the left edge to the bottom.
    assert frames.shape == (2, CLIP_WIDTH, CLIP_HEIGHT, 3)
    assert frames[1, -BAND_PX + 2 :].mean() > 200 and frames[1, : -BAND_PX - 2].mean() < 50


def test_load_media_dispatches_video(ten_second_clip):
    clip = media.load_media(ten_second_clip, 5, CLIP_HEIGHT, CLIP_WIDTH, start_s=1.0)
    assert not clip.is_image
    assert [decode_index(frame) for frame in clip.frames] == [30 + 30 * i // 8 for i in range(5)]


# --------------------------------------------------------------------------------------------
# read_video_frames and write_video
# --------------------------------------------------------------------------------------------


def test_read_video_frames_returns_all_frames_and_fps(one_second_clip):
    frames, fps = media.read_video_frames(one_second_clip)
    assert frames.shape == (30, CLIP_HEIGHT, CLIP_WIDTH, 3)
    assert [decode_index(frame) for frame in frames] == list(range(30))
    assert fps == pytest.approx(30.0)
    first, _ = media.read_video_frames(one_second_clip, max_frames=7)
    assert len(first) == 7


def test_read_video_frames_refuses_too_many_frames(one_second_clip, monkeypatch):
    monkeypatch.setattr(media, "MAX_READ_FRAMES", 10)
    with pytest.raises(MediaError, match="Trim"):
        media.read_video_frames(one_second_clip)


@pytest.mark.parametrize("num_frames", [49, 9, 1])
@pytest.mark.parametrize("resize_mode", ["stretch", "crop"])
def test_sample_video_frames_equals_resizing_the_picked_frames(one_second_clip, num_frames, resize_mode):
    every_frame, fps = media.read_video_frames(one_second_clip)
    indices = np.round(np.linspace(0, len(every_frame) - 1, num_frames)).astype(np.int64)
    expected = media.resize_frames(every_frame[indices], 48, 72, resize_mode, content="tracking")
    sampled = media.sample_video_frames(one_second_clip, num_frames, 48, 72, resize_mode)
    np.testing.assert_array_equal(sampled.frames, expected)  # bit for bit
    np.testing.assert_array_equal(sampled.indices, indices)
    assert sampled.source_frame_count == 30 and sampled.source_size == (CLIP_HEIGHT, CLIP_WIDTH)
    assert sampled.source_fps == fps == pytest.approx(30.0)


@pytest.mark.parametrize("header_count", [None, 12, 45])
def test_sample_video_frames_does_not_trust_the_header_count(one_second_clip, monkeypatch, header_count):
    real_stream_info = media._stream_info

    def wrong_count(container, stream, name):
        info = real_stream_info(container, stream, name)
        return media._StreamInfo(info.width, info.height, info.nominal_fps, info.duration_s, header_count)

    monkeypatch.setattr(media, "_stream_info", wrong_count)
    sampled = media.sample_video_frames(one_second_clip, 7, CLIP_HEIGHT, CLIP_WIDTH)
    assert [decode_index(frame) for frame in sampled.frames] == [0, 5, 10, 14, 19, 24, 29]  # 14.5 rounds to even
    assert sampled.source_frame_count == 30


def test_sample_video_frames_refuses_too_many_frames(one_second_clip, monkeypatch):
    monkeypatch.setattr(media, "MAX_READ_FRAMES", 10)
    with pytest.raises(MediaError, match="Trim"):
        media.sample_video_frames(one_second_clip, 5, 8, 8)


def test_read_video_frames_refuses_more_bytes_than_allowed(one_second_clip, monkeypatch):
    monkeypatch.setattr(media, "MAX_READ_BYTES", 10 * CLIP_HEIGHT * CLIP_WIDTH * 3)
    with pytest.raises(MediaError, match="GiB once decoded"):
        media.read_video_frames(one_second_clip)
    assert len(media.read_video_frames(one_second_clip, max_frames=10)[0]) == 10


# --------------------------------------------------------------------------------------------
# Bounded memory: a tiny upload must not decode into gigabytes
# --------------------------------------------------------------------------------------------

WORKING_FRAMES, WORKING_SIDE_PX = 49, 96
DECODER_MARGIN_BYTES = 128 * 2**20
"""Fixed allowance for the decoder itself: FFmpeg's frame threads each hold about 3 MiB of
1024×1024 buffers and it starts at most 16 automatically (measured on 2026-11-29, 2-core CPU
container: 27 MiB growth with 2 threads, 75 MiB with 16). Holding the 49 sampled frames at full
size would already take 147 MiB, and every frame 1.8 GiB."""

_PEAK_RSS_SCRIPT = """
import json, resource, sys
from core import media
path, call = sys.argv[1], sys.argv[2]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if call == "sample_video_frames":
    frames = media.sample_video_frames(path, {T}, {S}, {S}).frames
else:
    frames = media.load_video(path, {T}, {S}, {S}).frames
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"growth_bytes": (after - before) * 1024, "clip_bytes": frames.nbytes}}))
""".format(T=WORKING_FRAMES, S=WORKING_SIDE_PX)


@pytest.mark.parametrize("call", ["sample_video_frames", "load_video"])
def test_a_tiny_upload_of_many_large_frames_keeps_memory_bounded(big_tracking_video, call):
    assert big_tracking_video.stat().st_size < 200_000
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS_SCRIPT, str(big_tracking_video), call],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1], timeout=300,
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    bound = measured["clip_bytes"] + DECODER_MARGIN_BYTES
    assert measured["growth_bytes"] < bound, (
        f"{call}: peak RSS grew {measured['growth_bytes'] / 2**20:.0f} MiB; bound {bound / 2**20:.0f} MiB"
    )


# --------------------------------------------------------------------------------------------
# Images that cannot or must not be decoded
# --------------------------------------------------------------------------------------------


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width × height`` 8-bit grey pixels (and no pixel data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize(
    "side",
    [
        100_000,  # 10 G pixels: PIL's own DecompressionBombError
        10_000,  # 100 M pixels: PIL only warns; refused all the same
        5_000,  # 25 M pixels: below PIL's limits, above ours
    ],
)
def test_decompression_bombs_are_refused_from_the_header(tmp_path, side):
    path = png_header_only(tmp_path / f"bomb{side}.png", side, side)
    assert_fails_fast(lambda: media.load_image(path, 8, 8), match=f"bomb{side}.png.*Downscale")
    assert_fails_fast(lambda: media.load_media(path, 2, 8, 8), match=f"bomb{side}.png")
    odd_name = png_header_only(tmp_path / f"bomb{side}.upload", side, side)  # unknown extension
    assert_fails_fast(lambda: media.load_media(odd_name, 2, 8, 8), match="Downscale")


@pytest.mark.parametrize(
    "name, content",
    [
        ("notes.png", b"hello, this is text\n" * 50),
        ("noise.jpg", np.random.default_rng(1).integers(0, 256, 5_000, dtype=np.uint8).tobytes()),
        ("cut.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"),  # header cut short
        ("empty.png", b""),
    ],
)
def test_unreadable_images_name_the_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert_fails_fast(lambda: media.load_image(path, 8, 8), match=name)
    assert_fails_fast(lambda: media.load_media(path, 2, 8, 8), match=name)


def smooth_test_frames(num_frames: int = 10, height: int = 96, width: int = 128) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = []
    for t in range(num_frames):
        red = 127 + 100 * np.sin(cols / 17.0 + t * 0.3)
        green = 127 + 100 * np.cos(rows / 13.0 - t * 0.2)
        blue = 255.0 * (rows + cols) / (height + width)
        frame = np.stack([red, green, blue], axis=-1)
        frame[20 + t : 50 + t, 30:70] = (250, 20, 20)  # a moving block with hard edges
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return np.stack(frames)


def test_write_read_round_trip_is_high_quality_yuv420p(tmp_path):
    frames = smooth_test_frames()
    out = media.write_video(frames, tmp_path / "sub" / "out.mp4", fps=8)
    assert out == tmp_path / "sub" / "out.mp4" and out.is_file()
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert float(stream.average_rate) == pytest.approx(8.0)
    decoded, fps = media.read_video_frames(out)
    assert fps == pytest.approx(8.0)
    assert decoded.shape == frames.shape
    # yuv420p halves chroma resolution, which by itself costs ~30 dB at the block's hard colour
    # edges; measured against that conversion alone, H.264 must be near-transparent.
    chroma_subsampled = np.stack(
        [
            av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p").to_ndarray(format="rgb24")
            for frame in frames
        ]
    )
    assert psnr(decoded, chroma_subsampled) > 40.0
    assert np.abs(decoded.astype(np.int16) - frames).mean() < 4.0
    assert [p.name for p in out.parent.iterdir()] == ["out.mp4"]  # no temporary left over


def test_write_video_keeps_fractional_fps(tmp_path):
    out = media.write_video(smooth_test_frames(4), tmp_path / "frac.mp4", fps=49 / 5.0)
    _, fps = media.read_video_frames(out)
    assert fps == pytest.approx(9.8, rel=1e-3)


def test_write_video_pads_odd_sizes(tmp_path):
    frames = smooth_test_frames(3, 33, 47)
    decoded, _ = media.read_video_frames(media.write_video(frames, tmp_path / "odd.mp4", fps=8))
    assert decoded.shape == (3, 34, 48, 3)
    assert psnr(decoded[:, :33, :47], frames) > 30.0


@pytest.mark.parametrize(
    "bad_frames",
    [
        np.zeros((3, 16, 16, 3), dtype=np.float32),  # wrong dtype
        np.zeros((16, 16, 3), dtype=np.uint8),  # not a stack
        np.zeros((0, 16, 16, 3), dtype=np.uint8),  # no frames
        np.zeros((2, 16, 16, 4), dtype=np.uint8),  # RGBA
    ],
)
def test_write_video_rejects_bad_frames_and_leaves_nothing(tmp_path, bad_frames):
    with pytest.raises(MediaError):
        media.write_video(bad_frames, tmp_path / "bad.mp4", fps=8)
    assert list(tmp_path.iterdir()) == []


def test_write_failure_mid_stream_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "keep.mp4"
    target.write_bytes(b"previous result")
    real_from_ndarray = av.VideoFrame.from_ndarray
    calls = {"count": 0}

    def failing_from_ndarray(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] > 2:
            raise RuntimeError("disk on fire")
        return real_from_ndarray(*args, **kwargs)

    monkeypatch.setattr(av.VideoFrame, "from_ndarray", failing_from_ndarray)
    with pytest.raises(RuntimeError, match="disk on fire"):
        media.write_video(smooth_test_frames(5), target, fps=8)
    assert target.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"]


def test_write_video_requires_mp4_name(tmp_path):
    with pytest.raises(MediaError, match=".mp4"):
        media.write_video(smooth_test_frames(2), tmp_path / "out.webm", fps=8)


# --------------------------------------------------------------------------------------------
# Bad inputs fail fast with MediaError
# --------------------------------------------------------------------------------------------


def assert_fails_fast(call, match=None):
    started = time.perf_counter()
    with pytest.raises(MediaError, match=match):
        call()
    assert time.perf_counter() - started < FAST_FAIL_S


def test_random_bytes_are_rejected(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    assert_fails_fast(lambda: media.load_video(path))
    assert_fails_fast(lambda: media.read_video_frames(path))
    assert_fails_fast(lambda: media.load_media(path))


def test_truncated_mp4_is_rejected(tmp_path, ten_second_clip):
    data = ten_second_clip.read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 3])
    assert_fails_fast(lambda: media.load_video(path))


def test_text_file_is_rejected(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not a video\n" * 100)
    assert_fails_fast(lambda: media.load_video(path), match="not a video")
    assert_fails_fast(lambda: media.load_media(path))
    assert_fails_fast(lambda: media.load_image(path, 8, 8), match="not an image")


def test_empty_and_missing_files_are_rejected(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    assert_fails_fast(lambda: media.load_video(empty), match="empty")
    assert_fails_fast(lambda: media.load_media(tmp_path / "missing.png"), match="not found")


def test_video_longer_than_limit_is_rejected_from_header(tmp_path):
    # Two frames eleven minutes apart: the header says 11 min; nothing long gets decoded.
    path = write_index_video(tmp_path / "long.mp4", [0.0, 11 * 60.0])
    assert_fails_fast(lambda: media.load_video(path), match="min")
    assert_fails_fast(lambda: media.read_video_frames(path), match="min")


def test_still_image_given_as_video_is_rejected(tmp_path):
    path = tmp_path / "still.png"
    Image.new("RGB", (16, 16), (10, 20, 30)).save(path)
    assert_fails_fast(lambda: media.load_video(path), match="still image")


def test_oversized_image_is_rejected(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("L", (media.MAX_SIDE_PX + 4, 8)).save(path)  # mostly nothing: a tiny file
    assert_fails_fast(lambda: media.load_image(path, 8, 8), match=str(media.MAX_SIDE_PX))
    assert_fails_fast(lambda: media.load_media(path, 2, 8, 8))
    with pytest.raises(MediaError):
        media.load_image(np.zeros((8, media.MAX_SIDE_PX + 1, 3), np.uint8), 8, 8)


def test_check_file_size(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100)
    assert media.check_file_size(path, 100) == 100
    with pytest.raises(MediaError, match="MiB"):
        media.check_file_size(path, 99)
    with pytest.raises(MediaError, match="not found"):
        media.check_file_size(tmp_path / "nope", 100)


# --------------------------------------------------------------------------------------------
# Images and resize geometry
# --------------------------------------------------------------------------------------------

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def three_stripes(height: int = 100, width: int = 200) -> np.ndarray:
    """Red for the left quarter, green for the middle half, blue for the right quarter."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:, : width // 4] = RED
    image[:, width // 4 : 3 * width // 4] = GREEN
    image[:, 3 * width // 4 :] = BLUE
    return image


def test_crop_keeps_centre_with_target_aspect():
    out = media.resize_frames(three_stripes(), 50, 50, "crop")
    # Centre 100×100 of the 100×200 source is the green half.
    assert out.shape == (50, 50, 3)
    np.testing.assert_array_equal(out[:, 1:-1], np.broadcast_to(GREEN, (50, 48, 3)))


def test_stretch_keeps_everything_distorted():
    out = media.resize_frames(three_stripes(), 40, 40, "stretch")
    np.testing.assert_array_equal(out[:, :9], np.broadcast_to(RED, (40, 9, 3)))
    np.testing.assert_array_equal(out[:, 11:29], np.broadcast_to(GREEN, (40, 18, 3)))
    np.testing.assert_array_equal(out[:, 31:], np.broadcast_to(BLUE, (40, 9, 3)))


def test_pad_letterboxes_with_black():
    out = media.resize_frames(three_stripes(), 100, 100, "pad")
    # 100×200 fits as 50×100 at rows 25..74.
    assert not out[:25].any() and not out[75:].any()
    np.testing.assert_array_equal(out[26:74, :24], np.broadcast_to(RED, (48, 24, 3)))
    np.testing.assert_array_equal(out[26:74, 26:74], np.broadcast_to(GREEN, (48, 48, 3)))
    np.testing.assert_array_equal(out[26:74, 76:], np.broadcast_to(BLUE, (48, 24, 3)))


def test_pad_tall_image_gets_side_bars():
    tall = np.full((100, 50, 3), 200, dtype=np.uint8)
    out = media.resize_frames(tall, 60, 60, "pad")
    assert not out[:, :15].any() and not out[:, 45:].any()
    assert (out[:, 15:45] == 200).all()


def test_resize_upscale_and_batches():
    frames = np.stack([three_stripes(10, 20)] * 3)
    out = media.resize_frames(frames, 40, 80, "crop")
    assert out.shape == (3, 40, 80, 3)
    np.testing.assert_array_equal(out[:, :, 30:50], np.broadcast_to(GREEN, (3, 40, 20, 3)))


def test_resize_rejects_unknown_mode():
    with pytest.raises(MediaError, match="resize mode"):
        media.resize_frames(three_stripes(), 10, 10, "zoom")


def test_image_becomes_repeated_clip(tmp_path):
    path = tmp_path / "still.png"
    Image.fromarray(three_stripes()).save(path)
    clip = media.load_media(path, 7, 50, 100)
    assert clip.is_image and clip.frames.shape == (7, 50, 100, 3)
    assert clip.fps == media.DEFAULT_FPS and clip.duration_s == pytest.approx(7 / media.DEFAULT_FPS)
    np.testing.assert_array_equal(clip.frames, np.broadcast_to(clip.frames[0], clip.frames.shape))
    np.testing.assert_array_equal(clip.frames[0], media.load_image(path, 50, 100))


def test_load_image_from_array_and_pil():
    grey = np.full((20, 30), 77, dtype=np.uint8)
    assert (media.load_image(grey, 20, 30) == 77).all()
    as_float = media.load_image(np.full((20, 30, 3), 0.5), 20, 30)
    assert (as_float == 128).all()
    pil = Image.fromarray(three_stripes(20, 40))
    np.testing.assert_array_equal(media.load_image(pil, 20, 40), three_stripes(20, 40))


def test_transparency_composited_on_white():
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[:, :5] = (255, 0, 0, 255)  # opaque red left, fully transparent right
    out = media.load_image(rgba, 10, 10)
    assert (out[:, :5] == RED).all() and (out[:, 5:] == media.ALPHA_BACKGROUND_RGB).all()
    out_pil = media.load_image(Image.fromarray(rgba, "RGBA"), 10, 10)
    np.testing.assert_array_equal(out_pil, out)


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((20, 40, 3), dtype=np.uint8)
    stored[:, :20] = RED
    stored[:, 20:] = BLUE
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6  # Orientation: display = stored rotated 90° clockwise
    path = tmp_path / "phone.jpg"
    image.save(path, quality=95, exif=exif)
    out = media.load_image(path, 40, 20, resize_mode="stretch")
    # Rotating clockwise moves the (red) left half to the top.
    assert out[:18, :, 0].mean() > 200 and out[:18, :, 2].mean() < 50
    assert out[22:, :, 2].mean() > 200 and out[22:, :, 0].mean() < 50


def test_bad_arrays_are_rejected():
    with pytest.raises(MediaError):
        media.load_image(np.zeros((10, 10, 2), np.uint8), 8, 8)
    with pytest.raises(MediaError):
        media.load_image(np.zeros((10, 10, 3), np.int64), 8, 8)
    with pytest.raises(MediaError):
        media.load_image(np.full((10, 10, 3), np.nan), 8, 8)
