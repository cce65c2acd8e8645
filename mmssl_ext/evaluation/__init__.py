from .dense_probe import (cell_majority_labels, dense_features, dense_linear_probe,
                          dense_probe_backbone, load_semantic_scenes, segmentation_scores,
                          semantic_classes, upsampled)
from .probe import (LinearClassifier, dataset_features, extract_features, knn_accuracy,
                    knn_predictions, linear_probe_accuracy, load_object_crops,
                    reestimate_bn_statistics)
from .resnet_distance import mean_and_standard_error, resnet_distances
from .saliency import foreground_iou, saliency_foreground_iou

__all__ = ['dataset_features', 'extract_features', 'knn_accuracy', 'knn_predictions',
           'linear_probe_accuracy', 'LinearClassifier', 'load_object_crops',
           'reestimate_bn_statistics', 'foreground_iou', 'saliency_foreground_iou',
           'cell_majority_labels', 'dense_features', 'dense_linear_probe',
           'dense_probe_backbone', 'load_semantic_scenes', 'segmentation_scores',
           'semantic_classes', 'upsampled',
           'mean_and_standard_error', 'resnet_distances']
