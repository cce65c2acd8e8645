# MaskFeat (mmpretrain's maskfeat_vit-base-p16_8xb256-amp-coslr-300e_in1k.py) on COCO images.
# mmpretrain's recipe as it is (model, views, optimiser, schedule, epochs), on
# unlabeled COCO train2017 images read by our COCOImageDataset, so that it is
# compared with our methods on the same data and the same transfer benchmarks.
# COCO has ~118k images: one COCO epoch is ~1/11 of an ImageNet epoch's steps;
# set train_cfg.max_epochs (and the schedulers' ends) to match a budget.
_base_ = [
    'mmpretrain::maskfeat/maskfeat_vit-base-p16_8xb256-amp-coslr-300e_in1k.py',
    '../_base_/mmpretrain_on_coco.py',
]
default_scope = 'mmssl_ext'

data_root = 'data/coco/'
train_dataloader = dict(
    dataset=dict(**_base_.mmpretrain_on_coco.dataset, data_root=data_root,
                 pipeline={{_base_.train_pipeline}}))
default_hooks = _base_.mmpretrain_on_coco.default_hooks  # atomic checkpoints
env_cfg = _base_.mmpretrain_on_coco.env_cfg  # our collective timeout
