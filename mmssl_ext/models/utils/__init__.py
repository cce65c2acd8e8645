from .device_copy import host_to_device
from .embedding_queue import EmbeddingQueue
from .gather import gather_local_grad, gather_with_grad
from .momentum_ema import CosineMomentumEMA, MomentumEMA
from .pretrained_init import (PretrainedBackboneInit, build_frozen_backbone, load_frozen_backbone,
                              load_with_report)
from .region_pooling import boxes_to_rois, mask_pool, region_features, sample_present_ids
from .token_masking import cls_attention_row, divide_tokens

__all__ = ['EmbeddingQueue', 'boxes_to_rois', 'region_features', 'gather_with_grad',
           'gather_local_grad', 'cls_attention_row', 'divide_tokens', 'PretrainedBackboneInit',
           'load_with_report', 'load_frozen_backbone', 'build_frozen_backbone',
           'CosineMomentumEMA', 'MomentumEMA', 'mask_pool', 'sample_present_ids', 'host_to_device']
