"""How nbtrack shows values, decided once: one number format, one JSON encoding, one run
colour, one downsampler, shared by the terminal, the inline views, the server and the demo.

Importing this package imports nothing heavy; numpy loads on first use.

Example:
    >>> from nbtrack.render.json_values import json_number
    >>> json_number(float("nan")) is None
    True
"""
