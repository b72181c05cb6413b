"""Tracking-video renderer: colours, painter's order and footprints with known answers, and
equality with a plain per-point reference renderer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core import render
from core.progress import Cancelled

H, W = 40, 60
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def one_frame(points: list[tuple[float, float, float]]) -> np.ndarray:
    """``(1, N, 3)`` float32 tracks from a list of ``(u, v, z)``."""
    return np.asarray(points, dtype=np.float32)[None]


def painted_mask(frame: np.ndarray) -> np.ndarray:
    return frame.any(axis=-1)


def box_mask(top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """Inclusive pixel box on an ``H × W`` canvas, clipped at the border."""
    mask = np.zeros((H, W), dtype=bool)
    mask[max(top, 0) : bottom + 1, max(left, 0) : right + 1] = True
    return mask


# --------------------------------------------------------------------------------------------
# Colours
# --------------------------------------------------------------------------------------------


def test_track_colors_hand_computed():
    uvz0 = np.array([[0.0, 0.0, 1.0], [50.0, 25.0, 2.0], [99.9, 49.9, 4.0], [120.0, -5.0, 8.0]])
    colors = render.track_colors(uvz0, height=50, width=100)
    # 1/z = [1, .5, .25, .125]; linear percentiles: p2 = .1325, p98 = .97, range .8375.
    # B: z=1 → clip(1.036) → 255; z=2 → .43881·255 = 111.9 → 111; z=4 → .14030·255 = 35.8 → 35; z=8 → 0.
    # R: 0, 127.5 → 127, 254.745 → 254, clip → 255. G: 0, 127.5 → 127, 254.49 → 254, clip → 0.
    expected = [[0, 0, 255], [127, 127, 111], [254, 254, 35], [255, 0, 0]]
    np.testing.assert_array_equal(colors, np.array(expected, dtype=np.uint8))
    assert colors.dtype == np.uint8


def test_track_colors_ignore_invalid_depths_in_percentiles():
    valid = [[0.0, 0.0, 1.0], [50.0, 25.0, 2.0], [99.9, 49.9, 4.0], [120.0, -5.0, 8.0]]
    invalid = [[10.0, 10.0, 0.0], [10.0, 10.0, -3.0], [np.nan, np.nan, np.nan], [10.0, 10.0, np.inf]]
    colors = render.track_colors(np.array(valid + invalid), height=50, width=100)
    np.testing.assert_array_equal(colors[:4, 2], [255, 111, 35, 0])
    np.testing.assert_array_equal(colors[4:, 2], [0, 0, 0, 0])
    np.testing.assert_array_equal(colors[6], [0, 0, 0])  # NaN position → 0


def test_track_colors_range_from_sets_the_percentiles_only():
    drawn = [[0.0, 0.0, 1.0], [50.0, 25.0, 2.0], [99.9, 49.9, 4.0], [120.0, -5.0, 8.0]]
    hidden = [[10.0, 10.0, 0.5], [20.0, 20.0, 100.0]]  # e.g. the back of a mesh, nearer and farther
    uvz0 = np.array(drawn + hidden)
    range_from = np.array([True] * 4 + [False] * 2)
    colors = render.track_colors(uvz0, height=50, width=100, range_from=range_from)
    # The drawn points get exactly the colours they would have alone (hand-computed above);
    # hidden ones are coloured on the same scale, clipped.
    np.testing.assert_array_equal(colors[:4], render.track_colors(np.array(drawn), height=50, width=100))
    np.testing.assert_array_equal(colors[4:, 2], [255, 0])
    # Without a valid point in range_from, every point sets the range (no empty percentile).
    nothing = np.zeros(6, dtype=bool)
    np.testing.assert_array_equal(
        render.track_colors(uvz0, 50, 100, range_from=nothing), render.track_colors(uvz0, 50, 100)
    )
    with pytest.raises(ValueError, match="range_from"):
        render.track_colors(uvz0, 50, 100, range_from=np.ones(3, dtype=bool))


def test_track_colors_degenerate_depth_range():
    flat = np.array([[1.0, 1.0, 3.0]] * 10)
    assert (render.track_colors(flat, 10, 10)[:, 2] == 0).all()
    # All but one point at the same depth: p2 == p98 == 1/3, the nearer point is "beyond" p98.
    with_near = np.array([[1.0, 1.0, 3.0]] * 100 + [[1.0, 1.0, 1.0]])
    blue = render.track_colors(with_near, 10, 10)[:, 2]
    assert (blue[:100] == 0).all() and blue[100] == 255


# --------------------------------------------------------------------------------------------
# Footprints
# --------------------------------------------------------------------------------------------


def test_dense_footprint_is_3x3_around_the_point_pixel():
    uvz = one_frame([(10.7, 5.2, 2.0)])  # lands in pixel (row 5, col 10)
    frame = render.render_tracking_video(uvz, np.array([RED], np.uint8), H, W)[0]
    np.testing.assert_array_equal(painted_mask(frame), box_mask(4, 6, 9, 11))
    assert (frame[4:7, 9:12] == RED).all()


@pytest.mark.parametrize(
    ("side", "rows", "cols"),
    [(1, (5, 5), (10, 10)), (2, (4, 5), (9, 10)), (4, (3, 6), (8, 11)), (5, (3, 7), (8, 12))],
)
def test_integer_footprint_square(side, rows, cols):
    uvz = one_frame([(10.0, 5.99, 1.0)])
    frame = render.render_tracking_video(uvz, np.array([GREEN], np.uint8), H, W, footprint=side)[0]
    np.testing.assert_array_equal(painted_mask(frame), box_mask(rows[0], rows[1], cols[0], cols[1]))


def regular_grid(step_u: float, step_v: float, count_u: int, count_v: int, origin=(4.5, 3.5), z=2.0):
    u, v = np.meshgrid(origin[0] + step_u * np.arange(count_u), origin[1] + step_v * np.arange(count_v))
    return np.stack([u.ravel(), v.ravel(), np.full(u.size, z)], axis=-1).astype(np.float32)


def test_grid_footprint_from_known_spacing():
    # Columns 16 px apart, rows 12 px apart: nearest-neighbour spacing 12 → half-width 6,
    # half-height 6 / 1.5 = 4 → 13 × 9 rectangles.
    points = regular_grid(16.0, 12.0, 4, 3)
    assert render.grid_half_extents(points[:, :2]) == (6.0, 4.0)
    colors = np.full((len(points), 3), 200, np.uint8)
    frame = render.render_tracking_video(points[None], colors, H, W, footprint="grid")[0]
    expected = np.zeros((H, W), dtype=bool)
    for u, v, _ in points:
        row, col = math.floor(v), math.floor(u)
        expected |= box_mask(row - 4, row + 4, col - 6, col + 6)
    np.testing.assert_array_equal(painted_mask(frame), expected)


def test_grid_spacing_uses_median_and_frame_zero_only():
    points = regular_grid(10.0, 10.0, 5, 3)  # spacing 10 → half-width 5, half-height 3.33 → 3
    points = np.concatenate([points, [[30.2, 20.1, 2.0]]]).astype(np.float32)  # one close pair
    (row_low, row_high), (col_low, col_high) = render.footprint_offsets(
        "grid", points, render.drawable_points(points, H, W)
    )
    assert (row_low, row_high, col_low, col_high) == (-3, 3, -5, 5)
    # Frame 1 is twice as spread out: the footprint still comes from frame 0.
    uvz = np.stack([points, points * np.float32([2, 2, 1])])
    frames = render.render_tracking_video(uvz, np.full((len(points), 3), 9, np.uint8), 200, 200, footprint="grid")
    isolated = frames[1, 7 - 3 : 7 + 4, 9 - 5 : 9 + 6]  # first point in frame 1 at (9, 7)
    assert isolated.all() and not painted_mask(frames[1])[7, 9 + 6]


# --------------------------------------------------------------------------------------------
# Painter's order
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("near_first_in_input", [True, False])
def test_near_point_covers_far_point_across_offsets(near_first_in_input):
    near = (11.5, 6.5, 1.0)  # pixel (6, 11)
    far = (10.5, 5.5, 3.0)  # pixel (5, 10): 3×3 squares overlap in rows 5–6, cols 10–11
    points = [near, far] if near_first_in_input else [far, near]
    colors = np.array([GREEN, RED] if near_first_in_input else [RED, GREEN], np.uint8)
    frame = render.render_tracking_video(one_frame(points), colors, H, W)[0]
    assert (frame[5:8, 10:13] == GREEN).all()  # the whole near square
    far_only = box_mask(4, 6, 9, 11) & ~box_mask(5, 7, 10, 12)
    assert (frame[far_only] == RED).all()
    assert painted_mask(frame).sum() == 9 + 5


def test_equal_depth_larger_index_on_top():
    points = [(10.5, 5.5, 2.0), (11.5, 5.5, 2.0)]
    frame = render.render_tracking_video(one_frame(points), np.array([RED, BLUE], np.uint8), H, W)[0]
    assert (frame[4:7, 10:12] == BLUE).all() and (frame[4:7, 9] == RED).all()
    swapped = render.render_tracking_video(one_frame(points[::-1]), np.array([BLUE, RED], np.uint8), H, W)[0]
    assert (swapped[4:7, 10:12] == RED).all()


def test_small_depth_differences_resolved():
    # Float32 neighbours: the nearer one must still win.
    far_z = np.float32(2.0)
    near_z = np.nextafter(far_z, np.float32(0))
    points = [(10.5, 5.5, near_z), (10.5, 5.5, far_z)]
    frame = render.render_tracking_video(one_frame(points), np.array([GREEN, RED], np.uint8), H, W)[0]
    assert (frame[4:7, 9:12] == GREEN).all()


# --------------------------------------------------------------------------------------------
# What is not drawn, borders, background
# --------------------------------------------------------------------------------------------


def test_invalid_and_hidden_points_are_not_drawn():
    points = [
        (10.5, 5.5, 0.0),  # on the camera plane
        (20.5, 5.5, -1.0),  # behind
        (np.nan, 5.5, 1.0),
        (30.5, np.nan, 1.0),
        (40.5, 5.5, np.nan),
        (-0.01, 5.5, 1.0),  # centre just left of the frame (its square would reach column 0)
        (W, 5.5, 1.0),  # u == W is outside
        (5.5, H + 0.5, 1.0),
        (50.5, 20.5, 1.0),  # hidden by `visible`
    ]
    visible = np.ones((1, len(points)), dtype=bool)
    visible[0, -1] = False
    colors = np.full((len(points), 3), 255, np.uint8)
    assert not render.render_tracking_video(one_frame(points), colors, H, W, visible=visible).any()
    # Control: made visible, the last point is the only one drawn.
    shown = render.render_tracking_video(one_frame(points), colors, H, W)[0]
    np.testing.assert_array_equal(painted_mask(shown), box_mask(19, 21, 49, 51))


def test_footprints_are_clipped_at_the_border():
    points = [(0.5, 0.5, 1.0), (W - 0.5, H - 0.5, 1.0), (0.0, H - 0.01, 1.0)]
    frame = render.render_tracking_video(one_frame(points), np.full((3, 3), 100, np.uint8), H, W, footprint=5)[0]
    expected = box_mask(0, 2, 0, 2) | box_mask(H - 3, H - 1, W - 3, W - 1) | box_mask(H - 3, H - 1, 0, 2)
    np.testing.assert_array_equal(painted_mask(frame), expected)


def test_black_background_shape_dtype_and_determinism():
    rng = np.random.default_rng(7)
    uvz = rng.uniform([0, 0, 1], [W, H, 5], size=(3, 50, 3)).astype(np.float32)
    colors = rng.integers(1, 256, size=(50, 3)).astype(np.uint8)
    first = render.render_tracking_video(uvz, colors, H, W)
    second = render.render_tracking_video(uvz.copy(), colors.copy(), H, W)
    assert first.shape == (3, H, W, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, second)
    empty = render.render_tracking_video(np.full((2, 5, 3), np.nan, np.float32), colors[:5], H, W)
    assert empty.shape == (2, H, W, 3) and not empty.any()


def test_float64_tracks_accepted():
    uvz = one_frame([(10.7, 5.2, 2.0)]).astype(np.float64)
    frame = render.render_tracking_video(uvz, np.array([RED], np.uint8), H, W)[0]
    np.testing.assert_array_equal(painted_mask(frame), box_mask(4, 6, 9, 11))


# --------------------------------------------------------------------------------------------
# Equality with a plain reference renderer
# --------------------------------------------------------------------------------------------


def square_offsets(side: int) -> range:
    low = -(side // 2)
    return range(low, low + side)


def reference_render(uvz, colors, height, width, visible, row_offsets, col_offsets):
    """The obvious implementation: every point, far to near (ties: input order), every pixel."""
    frames = np.zeros((uvz.shape[0], height, width, 3), dtype=np.uint8)
    for t in range(uvz.shape[0]):
        order = sorted(range(uvz.shape[1]), key=lambda i: (-float(uvz[t, i, 2]), i))
        for i in order:
            u, v, z = (float(x) for x in uvz[t, i])
            if not (visible[t, i] and np.isfinite(z) and z > 0 and 0 <= u < width and 0 <= v < height):
                continue
            row, col = math.floor(v), math.floor(u)
            for dy in row_offsets:
                for dx in col_offsets:
                    if 0 <= row + dy < height and 0 <= col + dx < width:
                        frames[t, row + dy, col + dx] = colors[i]
    return frames


def random_scene(seed: int, num_frames: int = 4, num_points: int = 400):
    rng = np.random.default_rng(seed)
    uvz = np.empty((num_frames, num_points, 3), dtype=np.float32)
    uvz[..., 0] = rng.uniform(-5, W + 5, size=(num_frames, num_points))
    uvz[..., 1] = rng.uniform(-5, H + 5, size=(num_frames, num_points))
    uvz[..., 2] = rng.integers(-1, 6, size=(num_frames, num_points)) * 0.5  # many exact ties, some ≤ 0
    uvz[rng.random((num_frames, num_points)) < 0.03, 0] = np.nan
    visible = rng.random((num_frames, num_points)) > 0.1
    colors = rng.integers(0, 256, size=(num_points, 3)).astype(np.uint8)
    return uvz, colors, visible


@pytest.mark.parametrize("footprint", ["dense", 1, 2, 3, 4, 6, 7, 9])
def test_matches_reference_renderer(footprint):
    uvz, colors, visible = random_scene(seed=footprint if isinstance(footprint, int) else 0)
    side = render.DENSE_SQUARE_SIDE if footprint == "dense" else footprint
    expected = reference_render(uvz, colors, H, W, visible, square_offsets(side), square_offsets(side))
    actual = render.render_tracking_video(uvz, colors, H, W, visible=visible, footprint=footprint)
    np.testing.assert_array_equal(actual, expected)


def test_grid_matches_reference_renderer():
    rng = np.random.default_rng(3)
    base = regular_grid(8.0, 8.0, 7, 5)  # spacing 8 → half-width 4, half-height 2.67 → 3
    uvz = np.stack([base + np.float32([dx, dy, 0]) for dx, dy in [(0, 0), (3.3, -2.1), (-6.2, 4.9)]])
    uvz[..., 2] = rng.uniform(1, 2, size=uvz.shape[:2]).astype(np.float32)
    colors = rng.integers(0, 256, size=(len(base), 3)).astype(np.uint8)
    visible = np.ones(uvz.shape[:2], dtype=bool)
    expected = reference_render(uvz, colors, H, W, visible, range(-3, 4), range(-4, 5))
    np.testing.assert_array_equal(render.render_tracking_video(uvz, colors, H, W, footprint="grid"), expected)


# --------------------------------------------------------------------------------------------
# Progress, cancellation, argument checks
# --------------------------------------------------------------------------------------------


def test_progress_and_cancel():
    uvz = np.tile(one_frame([(10.5, 5.5, 1.0)]), (3, 1, 1))
    colors = np.array([RED], np.uint8)
    seen = []
    render.render_tracking_video(uvz, colors, H, W, progress=lambda f, m: seen.append(f))
    assert seen == pytest.approx([1 / 3, 2 / 3, 1.0])
    with pytest.raises(Cancelled):
        render.render_tracking_video(uvz, colors, H, W, cancel=lambda: True)


@pytest.mark.parametrize("footprint", ["sparse", 0, -3, True, 2.5])
def test_bad_footprint_rejected(footprint):
    with pytest.raises(ValueError, match="footprint"):
        render.render_tracking_video(one_frame([(1, 1, 1)]), np.zeros((1, 3), np.uint8), H, W, footprint=footprint)


def test_bad_shapes_rejected():
    with pytest.raises(ValueError, match="uvz"):
        render.render_tracking_video(np.zeros((4, 3)), np.zeros((4, 3), np.uint8), H, W)
    with pytest.raises(ValueError, match="colors"):
        render.render_tracking_video(np.zeros((1, 4, 3)), np.zeros((3, 3), np.uint8), H, W)
    with pytest.raises(ValueError, match="visible"):
        render.render_tracking_video(np.zeros((1, 4, 3)), np.zeros((4, 3), np.uint8), H, W, visible=np.ones(4, bool))
