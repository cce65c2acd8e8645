from .algorithms import CCMIM, DetConB, DetConS, MaskCo
from .backbones import ImportanceMaskingViT
from .losses import CrossBatchInfoNCELoss, DetConLoss
from .necks import MaskPredictionNeck
from .wrappers import CPUDistributedDataParallel

__all__ = ['CPUDistributedDataParallel', 'MaskCo', 'MaskPredictionNeck', 'DetConS', 'DetConB',
           'DetConLoss', 'ImportanceMaskingViT', 'CCMIM', 'CrossBatchInfoNCELoss']
