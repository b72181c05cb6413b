"""The studio's event handlers, by concern. Plain functions of plain values; those that need the
running studio take a :class:`ui.studio.Studio` first (``studio.handler(fn)`` binds it for Gradio).

- :mod:`ui.handlers.outputs` — named results and their conversion to Gradio outputs.
- :mod:`ui.handlers.inputs` — uploads, the source selector, seeds and the object mask.
- :mod:`ui.handlers.jobs` — running a job: cancel flag, progress, error messages.
- :mod:`ui.handlers.builds` — the four tracking-video builds (every ``core.tasks`` recipe call).
- :mod:`ui.handlers.generation` — generate, repaint, cancel.
- :mod:`ui.handlers.staleness` — which tracking video is still valid for Generate.
- :mod:`ui.handlers.camera` — the camera-motion check, path plot, presets and step builder.
- :mod:`ui.handlers.visibility` — which widgets a selector shows.
- :mod:`ui.handlers.camera_modes` — the camera-mode radio and the copy-a-camera source (which mode and
  motion text a build uses).

They never do tensor math or load a model: they call ``core``. Failures become ``gr.Error``
messages through :func:`ui.errors.user_errors`.
"""
