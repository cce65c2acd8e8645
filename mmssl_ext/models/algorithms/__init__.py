from .maskco import MaskCo

__all__ = ['MaskCo']
