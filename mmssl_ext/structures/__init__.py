from .box_geometry import (ViewGeometry, box_iou, image_to_view, project_boxes, sample_boxes,
                           sample_boxes_with_iou_below, sample_resized_crop, view_overlap,
                           view_to_image)
from .region_masks import felzenszwalb_ids, grid_ids, instance_ids, majority_ids
from .saliency import (SALIENCY_METHODS, optimise_saliency, paste_foreground, rbd_saliency,
                       saliency_map, spectral_residual_saliency, superpixel_graph)

__all__ = [
    'ViewGeometry', 'box_iou', 'image_to_view', 'view_to_image', 'project_boxes',
    'view_overlap', 'sample_boxes', 'sample_boxes_with_iou_below', 'sample_resized_crop',
    'felzenszwalb_ids', 'grid_ids', 'instance_ids', 'majority_ids',
    'spectral_residual_saliency', 'paste_foreground', 'rbd_saliency', 'saliency_map',
    'SALIENCY_METHODS', 'optimise_saliency', 'superpixel_graph'
]
