"""Which tracking video Generate may use: the stale-input logic.

A tab's tracking video is valid for the inputs it was built from, compared by value
(:func:`inputs_fingerprint`). These handlers retire it (Generate and Repaint disabled, a notice
under the preview) as soon as the inputs differ, when a build fails, or when the first-frame
image it was built with is removed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Optional

import gradio as gr
import numpy as np

from core.tasks import FIRST_FRAME_USER_IMAGE, TrackingResult
from ui.handlers.inputs import painted_mask_digest, path_of
from ui.handlers.outputs import NamedOutputs

INPUTS_CHANGED_INFO = (
    "⚠️ **The inputs changed** since this tracking video was built: click **Build tracking video** "
    "again before generating."
)
BUILD_FAILED_INFO = "⚠️ **The build failed** (see the message): fix the inputs and build again."


@dataclass(frozen=True)
class TrackingValidity(NamedOutputs):
    """The tab's tracking state, its Generate and Repaint buttons and the preview's info line
    (each a value, a ``gr.update`` or ``gr.skip()``)."""

    tracking: Any
    generate: Any
    repaint: Any
    info: Any


@dataclass(frozen=True)
class PreviewState(NamedOutputs):
    """A tab's tracking state, its Generate/Repaint buttons and its preview, in outputs' order."""

    tracking: Any
    generate: Any
    repaint: Any
    tracking_video: Any
    source_video: Any
    first_frame: Any
    point_cloud: Any
    info: Any


@dataclass(frozen=True)
class BuildFailure(PreviewState):
    """After a failed build: no tracking video, the buttons disabled, the preview emptied."""


KEEP_TRACKING = TrackingValidity(gr.skip(), gr.skip(), gr.skip(), gr.skip())
"""Nothing changes: state, buttons and info stay as they are."""


def _fingerprint_part(value: Any) -> str:
    """What of one input value a build depends on, as text (see :func:`inputs_fingerprint`)."""
    if isinstance(value, dict) and "layers" in value:  # a gr.ImageEditor: only the strokes count
        return f"strokes:{painted_mask_digest(value)}"
    if isinstance(value, np.ndarray):
        return f"array:{value.shape}:{hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()}"
    if isinstance(value, dict):
        path = path_of(value)
        return f"file:{path}" if path is not None else repr(sorted((str(k), _fingerprint_part(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_fingerprint_part(item) for item in value) + "]"
    return repr(value)


def inputs_fingerprint(*values: Any) -> str:
    """A digest of the build inputs as a build reads them: two calls agree exactly when a build
    from either would read the same inputs (the same uploaded file, motion, settings, strokes).

    The mask editor counts by its painted strokes only, since the app reloads its background
    from the source whenever that changes.
    """
    return hashlib.sha1("\x1f".join(_fingerprint_part(value) for value in values).encode()).hexdigest()


def retire_tracking(tracking: Any = None) -> TrackingValidity:
    """Drop the tracking video so Generate cannot use a stale one, and say so under the preview.

    With no tracking video, everything stays as it is.
    """
    if not isinstance(tracking, TrackingResult):
        return KEEP_TRACKING
    update = gr.update(interactive=False)
    return TrackingValidity(None, update, update, INPUTS_CHANGED_INFO)


def retire_if_inputs_changed(tracking: Any, built_from: Optional[str], *values: Any) -> TrackingValidity:
    """A build input reported a change: retire the tracking video if the inputs now differ from
    those it was built from (``built_from``, an :func:`inputs_fingerprint`).

    Comparing values rather than trusting the event matters: Gradio also reports changes that
    change nothing (an example resetting a hidden input, the app reloading the mask editor's
    background), sometimes after a build has finished.
    """
    if isinstance(tracking, TrackingResult) and inputs_fingerprint(*values) == built_from:
        return KEEP_TRACKING
    return retire_tracking(tracking)


def retire_if_first_frame_removed(tracking: Any, first_frame: Any) -> TrackingValidity:
    """The *first frame to start from* changed. A new image needs no rebuild (Generate applies
    it), but removing the one the tracking video was built with must not leave that image in use:
    then the tracking video is retired, to be built again from the source's own first frame.
    """
    built_with_image = isinstance(tracking, TrackingResult) and tracking.first_frame_origin == FIRST_FRAME_USER_IMAGE
    if built_with_image and path_of(first_frame) is None:
        return retire_tracking(tracking)
    return KEEP_TRACKING


def build_succeeded(tracking: Any, built_from: Optional[str], *values: Any) -> TrackingValidity:
    """A build finished: enable Generate and Repaint, unless the inputs changed while it ran (its
    tracking video was built from ``built_from``), in which case it is already stale.
    """
    if isinstance(tracking, TrackingResult) and inputs_fingerprint(*values) != built_from:
        return retire_tracking(tracking)
    ready = gr.update(interactive=isinstance(tracking, TrackingResult))
    return TrackingValidity(gr.skip(), ready, ready, gr.skip())


def build_failed() -> BuildFailure:
    """A build failed: nothing from an earlier build may stay usable or on screen."""
    update = gr.update(interactive=False)
    return BuildFailure(None, update, update, None, None, None, None, BUILD_FAILED_INFO)


@dataclass(frozen=True)
class ResultReset(NamedOutputs):
    """The result area: the video, its downloads, the seed used and the result line."""

    video: Any
    downloads: Any
    seed_used: Any
    info: Any


KEEP_RESULT = ResultReset(gr.skip(), gr.skip(), gr.skip(), gr.skip())


def reset_result() -> ResultReset:
    """An empty result area (a new build started: the old result belongs to other inputs)."""
    return ResultReset(None, None, gr.update(value=None, visible=False), "")


def reset_result_if_inputs_changed(built_from: Optional[str], *values: Any) -> ResultReset:
    """Empty the result area when the inputs now differ from those of the last build, so an old
    video never sits next to inputs it was not made from; unchanged inputs keep it."""
    if built_from is not None and inputs_fingerprint(*values) == built_from:
        return KEEP_RESULT
    return reset_result()
