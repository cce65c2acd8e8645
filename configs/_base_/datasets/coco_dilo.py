# Unlabeled COCO train2017 images, MoCo v2's two views, each first given DiLo's
# copy-paste with probability 0.3: the salient object (precomputed saliency
# maps, tools/dataset_converters/generate_saliency_maps.py) on a flat gray of
# random level, the mask blended sharp or Gaussian at random (the paper's best
# background and blending). The rest is coco_mocov2.py.
_base_ = './coco_mocov2.py'

data_root = 'data/coco/'  # as in the base; repeated to build the map paths below
saliency_loader = dict(type='LoadSaliency', saliency_dir=data_root + 'saliency/train2017/',
                       img_dir=data_root + 'train2017/')
copy_paste = dict(type='SaliencyCopyPaste', prob=0.3, backgrounds=('grayscale', ),
                  blending='mix', threshold=0.5)
dilo_view_pipeline = [copy_paste, dict(type='Compose', transforms={{_base_.view_pipeline}})]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    saliency_loader,
    dict(type='MultiView', num_views=2, transforms=[dilo_view_pipeline]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
