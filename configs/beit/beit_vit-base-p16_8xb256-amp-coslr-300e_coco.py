# BEiT (mmpretrain's beit_beit-base-p16_8xb256-amp-coslr-300e_in1k.py) on COCO
# images. Its DALL-E tokenizer weights are downloaded from
# download.openmmlab.com when training starts.
# mmpretrain's recipe as it is (model, views, optimiser, schedule, epochs), on
# unlabeled COCO train2017 images read by our COCOImageDataset, so that it is
# compared with our methods on the same data and the same transfer benchmarks.
# COCO has ~118k images: one COCO epoch is ~1/11 of an ImageNet epoch's steps;
# set train_cfg.max_epochs (and the schedulers' ends) to match a budget.
_base_ = [
    'mmpretrain::beit/beit_beit-base-p16_8xb256-amp-coslr-300e_in1k.py',
    '../_base_/reliability_hooks.py'
]
default_scope = 'mmssl_ext'

data_root = 'data/coco/'
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='COCOImageDataset',
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img_path='train2017/'),
        pipeline={{_base_.train_pipeline}}))

# Checkpoints renamed into place once complete (docs/en/reliability.md).
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')))

# The collective timeout of our runtime (configs/_base_/default_runtime.py):
# mmpretrain's leaves torch's NCCL default of 10 minutes.
env_cfg = dict(dist_cfg=dict(timeout=1800))
