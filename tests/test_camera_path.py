"""``core.camera.camera_view_path``: camera centres and view directions of known motions."""

from __future__ import annotations

import numpy as np

from core.camera import apply_camera_motion, camera_view_path, parse_camera_motion

NUM_FRAMES = 9


def test_a_static_camera_stays_at_the_origin_looking_forward():
    path = camera_view_path(parse_camera_motion("", NUM_FRAMES))
    np.testing.assert_allclose(path.centres, np.zeros((NUM_FRAMES, 3)), atol=1e-12)
    np.testing.assert_allclose(path.view_directions, np.tile([0.0, 0.0, 1.0], (NUM_FRAMES, 1)), atol=1e-12)


def test_rot_y_90_turns_the_view_to_the_left():
    path = camera_view_path(parse_camera_motion("rot y 90", NUM_FRAMES))
    # A pan left (rot y > 0) ends looking along −x (OpenCV: +x is right), without moving.
    np.testing.assert_allclose(path.view_directions[-1], [-1.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(path.centres, np.zeros((NUM_FRAMES, 3)), atol=1e-12)
    # Half-way through the linear ramp: 45° between forward and left.
    half = np.sqrt(0.5)
    np.testing.assert_allclose(path.view_directions[NUM_FRAMES // 2], [-half, 0.0, half], atol=1e-12)


def test_rot_x_90_tilts_the_view_down():
    path = camera_view_path(parse_camera_motion("rot x 90", NUM_FRAMES))
    np.testing.assert_allclose(path.view_directions[-1], [0.0, 1.0, 0.0], atol=1e-12)  # +y is down


def test_trans_moves_the_centre_by_its_amount_in_scene_units():
    motion = parse_camera_motion("trans 0.5 0 -0.3", NUM_FRAMES)
    path = camera_view_path(motion)
    # dx > 0 moves the camera left (−x), dz < 0 forward (+z), reached linearly.
    np.testing.assert_allclose(path.centres[-1], [-0.5, 0.0, 0.3], atol=1e-12)
    np.testing.assert_allclose(path.centres[NUM_FRAMES // 2], [-0.25, 0.0, 0.15], atol=1e-12)
    np.testing.assert_allclose(path.view_directions, np.tile([0.0, 0.0, 1.0], (NUM_FRAMES, 1)), atol=1e-12)
    # In a scene whose median depth is 4, one scene unit is 4 depth units.
    np.testing.assert_allclose(camera_view_path(motion, 4.0).centres[-1], [-2.0, 0.0, 1.2], atol=1e-12)


def test_an_orbit_circles_the_scene_centre_and_keeps_looking_at_it():
    path = camera_view_path(parse_camera_motion("orbit 90", NUM_FRAMES))
    scene_centre = np.array([0.0, 0.0, 1.0])
    # A quarter turn to the left about the point one scene unit ahead.
    np.testing.assert_allclose(path.centres[-1], [-1.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(path.centres - scene_centre, axis=-1), 1.0, atol=1e-12)
    towards_centre = scene_centre - path.centres
    towards_centre /= np.linalg.norm(towards_centre, axis=-1, keepdims=True)
    np.testing.assert_allclose(path.view_directions, towards_centre, atol=1e-12)


def test_centres_and_look_points_round_trip_through_the_motion():
    """Mapped into camera t by the motion, camera t's centre is its origin and its look point
    lies on its optical axis (+z) at the chosen distance, for a mixed motion."""
    motion = parse_camera_motion("orbit 20; trans 0 0 -0.2; rot z 30 2 8; spiral 2", NUM_FRAMES)
    scale, distance = 3.0, 0.25
    path = camera_view_path(motion, scale)
    centres_in_camera = apply_camera_motion(path.centres[:, None, :], motion, scale)[:, 0]
    np.testing.assert_allclose(centres_in_camera, np.zeros((NUM_FRAMES, 3)), atol=1e-12)
    look_in_camera = apply_camera_motion(path.look_points(distance)[:, None, :], motion, scale)[:, 0]
    np.testing.assert_allclose(look_in_camera, np.tile([0.0, 0.0, distance], (NUM_FRAMES, 1)), atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(path.view_directions, axis=-1), 1.0, atol=1e-12)
