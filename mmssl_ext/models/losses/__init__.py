from .detcon import DetConLoss
from .dino import DINOLoss, teacher_temperature
from .info_nce import CrossBatchInfoNCELoss, QueueInfoNCELoss, info_nce_logits, info_nce_loss
from .nnclr import NNCLRLoss, nearest_neighbour_contrast

__all__ = ['info_nce_logits', 'info_nce_loss', 'QueueInfoNCELoss', 'CrossBatchInfoNCELoss',
           'DetConLoss',
           'NNCLRLoss', 'nearest_neighbour_contrast', 'DINOLoss', 'teacher_temperature']
