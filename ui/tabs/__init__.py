"""One module per studio tab; each exposes ``build_tab(studio, status)``."""
