from .detcon import DetConLoss
from .info_nce import CrossBatchInfoNCELoss, info_nce_logits, info_nce_loss

__all__ = ['info_nce_logits', 'info_nce_loss', 'CrossBatchInfoNCELoss', 'DetConLoss']
