from .probe import (dataset_features, extract_features, knn_accuracy, linear_probe_accuracy,
                    load_object_crops, reestimate_bn_statistics)

__all__ = ['dataset_features', 'extract_features', 'knn_accuracy', 'linear_probe_accuracy',
           'load_object_crops', 'reestimate_bn_statistics']
