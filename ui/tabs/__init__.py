"""One module per studio tab; each exposes ``build_tab(status, default_steps=...)``."""
