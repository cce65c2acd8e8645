from .ccmim import CCMIM
from .detcon import DetConB, DetConS
from .maskco import MaskCo

__all__ = ['MaskCo', 'DetConS', 'DetConB', 'CCMIM']
