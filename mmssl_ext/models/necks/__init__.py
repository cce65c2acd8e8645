from .mask_prediction_head import MaskPredictionNeck

__all__ = ['MaskPredictionNeck']
