"""Detection-side modules, registered into mmdet's registry.

Imported by the detection benchmark configs through
``custom_imports=dict(imports=['mmssl_ext.models.detection'])``; kept out of
``mmssl_ext.models`` so that pretraining never imports mmdet.
"""
from .layer_decay import ViTLayerDecayOptimWrapperConstructor, vit_layer_depth
from .simple_feature_pyramid import SimpleFeaturePyramid

__all__ = ['SimpleFeaturePyramid', 'ViTLayerDecayOptimWrapperConstructor', 'vit_layer_depth']
