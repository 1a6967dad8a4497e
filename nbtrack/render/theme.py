"""Colours for HTML that must read in JupyterLab's light, dark and high-contrast themes.

Inline styles use JupyterLab's CSS variables with a light fallback (for
nbconvert, GitHub, VS Code), or translucent colours that tint whatever
background the page has. Text colour is inherited wherever it can be: the
theme already picked a readable one. No pale fixed background sits under
inherited text (that is how dark themes ended up white-on-yellow).

Example:
    >>> BORDER
    'var(--jp-border-color2, #ddd)'
"""

from __future__ import annotations

TEXT = "var(--jp-content-font-color1, #222)"
MUTED = "var(--jp-content-font-color2, #555)"
BORDER = "var(--jp-border-color2, #ddd)"
STRONG_BORDER = "var(--jp-border-color1, #bbb)"
HEAD_BG = "var(--jp-layout-color2, #f0f0f0)"
# Translucent tints: a light tint on white, a dark tint on a dark page; text keeps its colour.
SELECTED_BG = "rgba(33,150,243,0.16)"
ADDED_BG = "rgba(46,160,67,0.22)"
REMOVED_BG = "rgba(248,81,73,0.22)"
CODE_BG = "rgba(128,128,128,0.10)"
ERROR = "var(--jp-error-color1, #b3261e)"
