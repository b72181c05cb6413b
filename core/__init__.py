"""Diffusion-as-Shader studio core: model, pipeline, engine, geometry and task recipes.

Nothing in this package imports Gradio (see docs/ARCHITECTURE.md).
"""

__version__ = "0.3.0"
