from .dino_neck import DINONeck, WeightNormLinear
from .mask_prediction_head import MaskPredictionNeck

__all__ = ['MaskPredictionNeck', 'DINONeck', 'WeightNormLinear']
