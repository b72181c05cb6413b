"""The Gradio studio (SPEC §1): layout, widgets, event wiring and error messages.

``ui.app.build_app`` builds the Blocks of a :class:`ui.studio.Studio` (options, engine, cancel
registry); ``ui.handlers`` holds the event handlers, by concern, as plain functions of plain
values (testable without a browser); ``ui.tabs`` lays out and wires each tab. Nothing here does
tensor math or loads a model: every handler calls ``core`` (see docs/ARCHITECTURE.md).
"""
