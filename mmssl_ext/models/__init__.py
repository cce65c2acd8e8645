from .algorithms import CCMIM, DINO, NNCLR, DetConB, DetConS, LooC, MaskCo
from .backbones import ImportanceMaskingViT
from .losses import CrossBatchInfoNCELoss, DetConLoss, DINOLoss, NNCLRLoss
from .necks import DINONeck, MaskPredictionNeck
from .wrappers import CPUDistributedDataParallel

__all__ = ['CPUDistributedDataParallel', 'MaskCo', 'MaskPredictionNeck', 'DetConS', 'DetConB',
           'DetConLoss', 'ImportanceMaskingViT', 'CCMIM', 'CrossBatchInfoNCELoss', 'NNCLR',
           'NNCLRLoss', 'DINO', 'DINOLoss', 'DINONeck', 'LooC']
