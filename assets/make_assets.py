"""Generate the example media shown under every tab (``python assets/make_assets.py``).

Everything here is procedural (numpy noise, gradients, trimesh primitives) except one photo
from scikit-image's bundled test data (see ``assets/README.md`` for their licences). The
files are small (well under 2 MB together) and deterministic: the same seed gives the same
bytes of pixels, so regenerating them does not change what the examples show.

The studio calls :func:`ensure_assets` at start-up, so a checkout without the generated files
(or a Space that only ships this script) makes them on first launch.
"""

from __future__ import annotations

import argparse
import io
import logging
import zipfile
from pathlib import Path

import sys

import numpy as np

logger = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).resolve().parent
SEED = 20240611

LANDSCAPE = "landscape.jpg"
CAT_PHOTO = "cat.jpg"
MOVING_SCENE = "moving_scene.mp4"
BALL_SCENE = "ball_scene.jpg"
BALL_MASK = "ball_mask.png"
BALL_VIDEO = "ball_video.mp4"
MESH_SEQUENCE = "bouncing_blob.zip"
SINGLE_MESH = "toy_house.ply"
TRACKING_VIDEO = "tracking_turntable.mp4"
TRACKING_FIRST_FRAME = "tracking_turntable_first_frame.png"

ALL_ASSETS = (
    LANDSCAPE,
    CAT_PHOTO,
    MOVING_SCENE,
    BALL_SCENE,
    BALL_MASK,
    BALL_VIDEO,
    MESH_SEQUENCE,
    SINGLE_MESH,
    TRACKING_VIDEO,
    TRACKING_FIRST_FRAME,
)

# Size of the procedural pictures: small (files stay tiny) with the 2:3 aspect of 480×720.
HEIGHT, WIDTH = 240, 360
VIDEO_FPS = 12
VIDEO_SECONDS = 4
JPEG_QUALITY = 88


# --------------------------------------------------------------------------------------------
# Procedural pictures
# --------------------------------------------------------------------------------------------


def smooth_noise(height: int, width: int, scale: int, rng: np.random.Generator) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid upsampled bicubically (``(H, W)`` float32)."""
    from PIL import Image

    coarse = rng.random((max(2, height // scale), max(2, width // scale))).astype(np.float32)
    image = Image.fromarray((coarse * 255).astype(np.uint8)).resize((width, height), Image.BICUBIC)
    return np.asarray(image, dtype=np.float32) / 255.0


def fractal_noise(height: int, width: int, rng: np.random.Generator, octaves: tuple[int, ...] = (48, 16, 6, 2)) -> np.ndarray:
    """Sum of value-noise octaves, normalised to [0, 1]."""
    total = sum(smooth_noise(height, width, scale, rng) / (i + 1) for i, scale in enumerate(octaves))
    total -= total.min()
    return total / max(float(total.max()), 1e-6)


def landscape(height: int, width: int, rng: np.random.Generator, *, shift_px: float = 0.0) -> np.ndarray:
    """A landscape-like picture: sky, sun, two mountain ridges and a textured meadow.

    Near things have more texture and contrast than far ones, so depth estimators and point
    trackers have something to hold on to. ``shift_px`` pans the whole scene with parallax
    (the meadow moves most, the sky least), for a video with a moving camera.

    Returns:
        ``(H, W, 3)`` uint8.
    """
    rows = np.arange(height, dtype=np.float32)[:, None]
    cols = np.arange(width, dtype=np.float32)[None, :]
    horizon = 0.55 * height

    sky_top, sky_bottom = np.array([70, 120, 200], np.float32), np.array([190, 215, 240], np.float32)
    t = np.clip(rows / horizon, 0, 1)[..., None]
    image = np.broadcast_to(sky_top * (1 - t) + sky_bottom * t, (height, width, 3)).copy()

    sun_u, sun_v = 0.78 * width - 0.1 * shift_px, 0.18 * height
    sun = np.exp(-(((cols - sun_u) ** 2 + (rows - sun_v) ** 2) / (2 * (0.05 * width) ** 2)))[..., None]
    image = image * (1 - sun) + np.array([255, 240, 200], np.float32) * sun

    def ridge(base: float, amplitude: float, frequencies: tuple[float, ...], parallax: float) -> np.ndarray:
        x = (cols + parallax * shift_px) / width
        phases = rng.random(len(frequencies)) * 2 * np.pi
        heights = sum(np.sin(2 * np.pi * f * x + p) / (i + 1) for i, (f, p) in enumerate(zip(frequencies, phases, strict=True)))
        return rows > (base - amplitude * heights)

    far = ridge(0.42 * height, 0.08 * height, (1.3, 3.1, 7.0), 0.3)
    near = ridge(0.52 * height, 0.06 * height, (2.1, 4.7, 11.0), 0.6)
    texture = fractal_noise(height, width, rng)[..., None]
    image = np.where(far[..., None], np.array([110, 120, 150], np.float32) * (0.85 + 0.3 * texture), image)
    image = np.where(near[..., None], np.array([70, 100, 80], np.float32) * (0.8 + 0.4 * texture), image)

    meadow = rows > horizon
    grass = fractal_noise(height, width + int(abs(shift_px)) + 1, rng, octaves=(12, 5, 2))
    offset = int(round(shift_px)) % max(1, grass.shape[1] - width)
    grass = grass[:, offset : offset + width][..., None]
    depth_fade = np.clip((rows - horizon) / (height - horizon), 0, 1)[..., None]
    meadow_colour = np.array([90, 150, 60], np.float32) * (0.6 + 0.6 * grass * (0.4 + 0.6 * depth_fade))
    image = np.where(meadow[..., None], meadow_colour, image)
    return np.clip(image, 0, 255).astype(np.uint8)


def draw_ball(image: np.ndarray, centre: tuple[float, float], radius: float) -> tuple[np.ndarray, np.ndarray]:
    """A shaded red ball with a stripe pattern drawn over ``image``; returns the image and its mask."""
    height, width = image.shape[:2]
    rows = np.arange(height, dtype=np.float32)[:, None]
    cols = np.arange(width, dtype=np.float32)[None, :]
    dx, dy = (cols - centre[0]) / radius, (rows - centre[1]) / radius
    inside = dx**2 + dy**2 <= 1.0
    shade = np.clip(1.0 - 0.6 * np.sqrt(np.clip((dx + 0.35) ** 2 + (dy + 0.35) ** 2, 0, None)), 0.25, 1.0)
    stripes = 0.75 + 0.25 * np.sign(np.sin(6.0 * (dx + 0.4 * dy)))
    colour = np.stack([230 * shade * stripes, 50 * shade, 40 * shade * stripes], axis=-1)
    shadow_rows = (rows - (centre[1] + radius * 0.95)) / (0.18 * radius)
    shadow = np.exp(-((dx / 1.1) ** 2) - shadow_rows**2)[..., None] * 0.45
    result = image.astype(np.float32) * (1 - shadow)
    result = np.where(inside[..., None], colour, result)
    return np.clip(result, 0, 255).astype(np.uint8), inside


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------


def save_jpeg(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(image).save(path, quality=JPEG_QUALITY, optimize=True)


def save_png(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(image).save(path, optimize=True)


def save_mp4(frames: np.ndarray, path: Path, fps: float) -> None:
    """H.264 (yuv420p) with PyAV; ``frames (T, H, W, 3)`` uint8, even H and W."""
    import av

    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "26", "preset": "slow"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# The assets
# --------------------------------------------------------------------------------------------


def make_landscape(out: Path) -> None:
    save_jpeg(landscape(HEIGHT, WIDTH, np.random.default_rng(SEED)), out / LANDSCAPE)


def make_skimage_photos(out: Path) -> None:
    """A photo bundled with scikit-image (no download), saved small."""
    from PIL import Image
    from skimage import data

    for name, loader in ((CAT_PHOTO, data.chelsea),):
        image = Image.fromarray(loader())
        image.thumbnail((WIDTH, WIDTH))
        image.save(out / name, quality=JPEG_QUALITY, optimize=True)


def make_moving_scene(out: Path) -> None:
    """A camera panning over the landscape while a ball rolls across the meadow."""
    num_frames = VIDEO_FPS * VIDEO_SECONDS
    frames = []
    for index in range(num_frames):
        progress = index / (num_frames - 1)
        # Same seed each frame: the scene is static, only the view and the ball move.
        frame = landscape(HEIGHT, WIDTH, np.random.default_rng(SEED), shift_px=40.0 * progress)
        ball_u = WIDTH * (0.2 + 0.6 * progress)
        ball_v = HEIGHT * (0.78 - 0.08 * np.sin(np.pi * progress))
        frame, _ = draw_ball(frame, (ball_u, ball_v), 0.09 * HEIGHT)
        frames.append(frame)
    save_mp4(np.stack(frames), out / MOVING_SCENE, VIDEO_FPS)


def make_ball_scene(out: Path) -> None:
    """A still with a ball in the foreground, its mask, and a short video of the same still."""
    scene = landscape(HEIGHT, WIDTH, np.random.default_rng(SEED + 1))
    scene, mask = draw_ball(scene, (0.35 * WIDTH, 0.75 * HEIGHT), 0.14 * HEIGHT)
    save_jpeg(scene, out / BALL_SCENE)
    save_png(np.where(mask, 255, 0).astype(np.uint8), out / BALL_MASK)
    # The ball slowly rolls right: a small video source for object manipulation.
    frames = []
    for index in range(2 * VIDEO_FPS):
        still = landscape(HEIGHT, WIDTH, np.random.default_rng(SEED + 1))
        centre = ((0.35 + 0.002 * index) * WIDTH, 0.75 * HEIGHT)
        frames.append(draw_ball(still, centre, 0.14 * HEIGHT)[0])
    save_mp4(np.stack(frames), out / BALL_VIDEO, VIDEO_FPS)


def _blob_colours(vertices: np.ndarray) -> np.ndarray:
    """Vertex colours of the blob: hue bands by height plus a dark belt, ``(V, 4)`` uint8."""
    y = vertices[:, 1]
    band = (np.sin(6.0 * y) > 0).astype(np.float32)
    belt = np.abs(y) < 0.15
    rgb = np.stack([200 * band + 40, 90 + 120 * (1 - band), 220 - 150 * band], axis=-1)
    rgb[belt] = (30, 30, 30)
    return np.concatenate([rgb, np.full((len(rgb), 1), 255)], axis=1).astype(np.uint8)


def make_mesh_sequence(out: Path, num_frames: int = 16) -> None:
    """A zip of PLY meshes (one topology): a striped blob bouncing with squash and stretch."""
    import trimesh

    base = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    colours = _blob_colours(base.vertices)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index in range(num_frames):
            phase = index / num_frames
            height = abs(np.sin(np.pi * 2 * phase))  # two bounces
            squash = 1.0 - 0.3 * (1.0 - height) ** 4
            angle = 2 * np.pi * phase * 0.5
            rotation = trimesh.transformations.rotation_matrix(angle, (0, 1, 0))[:3, :3]
            vertices = base.vertices @ rotation.T
            vertices = vertices * np.array([1.0 / np.sqrt(squash), squash, 1.0 / np.sqrt(squash)])
            # Mesh files are y-up: the blob rises and falls along +y.
            vertices = vertices + np.array([0.0, 0.6 * height - 0.5 * (1 - squash), 0.0])
            mesh = trimesh.Trimesh(vertices=vertices, faces=base.faces, vertex_colors=colours, process=False)
            # A fixed timestamp keeps the archive byte-identical from run to run.
            entry = zipfile.ZipInfo(f"blob_{index:03d}.ply", date_time=(2024, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, mesh.export(file_type="ply"))
    (out / MESH_SEQUENCE).write_bytes(buffer.getvalue())


def make_single_mesh(out: Path) -> None:
    """A small coloured 'toy house' (box body + prism roof) for the procedural motions."""
    import trimesh

    body = trimesh.creation.box(extents=(1.0, 0.7, 0.8))
    body.apply_translation((0, 0.35, 0))
    body.visual.vertex_colors = np.tile([220, 200, 150, 255], (len(body.vertices), 1))
    roof = trimesh.creation.cone(radius=0.75, height=0.5, sections=4)
    roof.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, (1, 0, 0)))
    roof.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 4, (0, 1, 0)))
    roof.apply_translation((0, 0.7, 0))
    roof.visual.vertex_colors = np.tile([180, 40, 40, 255], (len(roof.vertices), 1))
    door = trimesh.creation.box(extents=(0.22, 0.4, 0.02))
    door.apply_translation((0, 0.2, 0.41))
    door.visual.vertex_colors = np.tile([70, 45, 30, 255], (len(door.vertices), 1))
    house = trimesh.util.concatenate([body, roof, door])
    (out / SINGLE_MESH).write_bytes(house.export(file_type="ply"))


def make_tracking_example(out: Path) -> None:
    """A tracking video 'rendered elsewhere' (as Blender would) and its first frame.

    Made by the studio's own mesh recipe from the toy house, so this step needs ``core`` and
    is skipped (with a log line) while the mesh recipe is unavailable.
    """
    from core import tasks
    from core.media import write_video
    from core.options import WorkingSize

    result = tasks.mesh_animation(
        str(out / SINGLE_MESH), procedural="turntable", amount=120.0, size=WorkingSize(25, HEIGHT, WIDTH)
    )
    write_video(result.frames, out / TRACKING_VIDEO, result.fps)
    (out / TRACKING_VIDEO).chmod(0o644)  # written through a private temp file; examples are public
    save_png(result.first_frame, out / TRACKING_FIRST_FRAME)


MAKERS = (
    ((LANDSCAPE,), make_landscape),
    ((CAT_PHOTO,), make_skimage_photos),
    ((MOVING_SCENE,), make_moving_scene),
    ((BALL_SCENE, BALL_MASK, BALL_VIDEO), make_ball_scene),
    ((MESH_SEQUENCE,), make_mesh_sequence),
    ((SINGLE_MESH,), make_single_mesh),
    ((TRACKING_VIDEO, TRACKING_FIRST_FRAME), make_tracking_example),
)


def ensure_assets(out: Path = ASSETS_DIR, *, force: bool = False) -> list[str]:
    """Make every missing example file in ``out``; returns the names of those made.

    A maker that fails (e.g. scikit-image not installed) is logged and skipped: examples are
    a convenience, never a reason for the studio not to start.
    """
    out.mkdir(parents=True, exist_ok=True)
    made: list[str] = []
    for names, maker in MAKERS:
        if not force and all((out / name).is_file() for name in names):
            continue
        try:
            maker(out)
        except (ImportError, OSError, ValueError, RuntimeError, AttributeError, TypeError) as error:
            logger.warning("could not make example %s: %s", ", ".join(names), error)
            continue
        made.extend(names)
    return made


def main() -> None:
    # Run as a script from anywhere: the tracking example needs the studio's ``core`` package.
    repo_root = str(ASSETS_DIR.parent)
    if repo_root not in sys.path:
        sys.path.insert(0, repo_root)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="remake every file, not only the missing ones")
    parser.add_argument("--out", type=Path, default=ASSETS_DIR, help="output folder (default: this folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    made = ensure_assets(args.out, force=args.force)
    total = sum((args.out / name).stat().st_size for name in ALL_ASSETS if (args.out / name).is_file())
    print(f"made {len(made)} file(s): {', '.join(made) or 'none'}; {total / 1e6:.2f} MB of examples in {args.out}")


if __name__ == "__main__":
    main()
