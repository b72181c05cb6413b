"""Shared types of the point trackers: what every tracker returns and raises.

:mod:`trackers.points` (the public API), :mod:`trackers.lk_tracker` (built-in tracker) and
:mod:`trackers.cotracker` (CoTracker3) all import from here, so none imports another's module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import UserError

LK_METHOD = "lk"
COTRACKER_METHOD = "cotracker3"


class PointTrackingError(UserError):
    """A tracking request that cannot be served; the message says what to do."""


@dataclass
class PointTracks:
    """2D tracks of points chosen on frame 0.

    Attributes:
        uv: ``(T, N, 2)`` float32 pixel positions (see the module doc for lost tracks).
        visible: ``(T, N)`` bool; True where the tracker confirmed the position (every point on
            frame 0), False where it predicted it (hidden, flat, or failing a check).
        method: the tracker that produced them.
    """

    uv: np.ndarray
    visible: np.ndarray
    method: str = LK_METHOD

    @property
    def num_frames(self) -> int:
        return int(self.uv.shape[0])

    @property
    def num_points(self) -> int:
        return int(self.uv.shape[1])
