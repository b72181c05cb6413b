"""The Gradio studio (SPEC §1): layout, widgets, event wiring and error messages.

``ui.app.build_app`` builds the Blocks; ``ui.handlers`` holds the event handlers as plain
functions of plain values (testable without a browser). Nothing here does tensor math or
loads a model: every handler calls ``core`` (see docs/ARCHITECTURE.md).
"""
