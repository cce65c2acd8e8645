from .probe import (dataset_features, extract_features, knn_accuracy, knn_predictions,
                    linear_probe_accuracy, load_object_crops, reestimate_bn_statistics)
from .saliency import foreground_iou, saliency_foreground_iou

__all__ = ['dataset_features', 'extract_features', 'knn_accuracy', 'knn_predictions',
           'linear_probe_accuracy', 'load_object_crops', 'reestimate_bn_statistics',
           'foreground_iou', 'saliency_foreground_iou']
