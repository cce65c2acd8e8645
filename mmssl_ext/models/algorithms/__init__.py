from .ccmim import CCMIM
from .detcon import DetConB, DetConS
from .dino import DINO
from .looc import LooC
from .maskco import MaskCo
from .nnclr import NNCLR

__all__ = ['MaskCo', 'DetConS', 'DetConB', 'CCMIM', 'NNCLR', 'DINO', 'LooC']
