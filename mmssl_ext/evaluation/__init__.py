from .probe import (extract_features, knn_accuracy, linear_probe_accuracy,
                    load_object_crops)

__all__ = ['extract_features', 'knn_accuracy', 'linear_probe_accuracy', 'load_object_crops']
