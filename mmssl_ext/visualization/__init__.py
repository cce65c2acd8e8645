"""Drawing helpers of the browse_* tools (region boxes, masks)."""
from .panels import colourise_ids, draw_panel, overlay, tile

__all__ = ['draw_panel', 'colourise_ids', 'overlay', 'tile']
