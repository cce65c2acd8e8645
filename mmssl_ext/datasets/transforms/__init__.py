from .maskco import MaskCoViews

__all__ = ['MaskCoViews']
