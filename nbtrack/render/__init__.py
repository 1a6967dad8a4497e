"""What nbtrack shows, decided once: the downsampler (and, from other modules, number and colour rules).

Importing this package imports nothing heavy; numpy loads on first use.
"""
