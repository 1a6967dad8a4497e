"""How nbtrack shows values, decided once: one number format (``numbers``), one JSON
encoding (``json_values``), one run colour (``colors``), theme-following inline colours
(``theme``) and one downsampler (``downsample``), shared by the terminal, the inline views,
the server and the demo page.

Importing this package imports nothing heavy; numpy loads on first use.

Example:
    >>> from nbtrack.render.json_values import json_number
    >>> json_number(float("nan")) is None
    True
"""
