"""Look of the studio: a Gradio theme and a little CSS (passed to ``launch`` in Gradio 6)."""

from __future__ import annotations

import gradio as gr

THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="slate", neutral_hue="slate")

CSS = """
#status-line { padding: 6px 12px; border-radius: 8px; background: var(--block-background-fill);
               border: 1px solid var(--border-color-primary); font-size: 0.92em; }
#status-line p { margin: 0; }
.motion-message p { margin: 2px 0; font-family: var(--font-mono); font-size: 0.88em; white-space: pre-wrap; }
.preset-row button { flex: 0 0 auto !important; min-width: 0 !important; }
.stage-title h3 { margin: 4px 0 !important; }
"""

HEAD = '<meta name="description" content="Diffusion as Shader studio: 3D-controlled video generation">'
