"""One module per model flavor: ``sklearn``, ``pyfunc`` (custom Python models and loading any
model), ``keras``. Each imports its library on first use."""
