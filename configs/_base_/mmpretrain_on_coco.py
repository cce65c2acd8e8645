# What our five mmpretrain-recipe configs on COCO (beit, byol, mae, maskfeat,
# simclr *_coco.py) add to the recipe: the reliability hooks, unlabeled COCO
# train2017 images through our COCOImageDataset, atomic checkpoints and our
# collective timeout. Listed beside the recipe as a second base; the recipe
# defines train_dataloader, default_hooks and env_cfg itself, and mmengine
# refuses a key that two bases define, so the blocks travel under one name of
# their own and each config takes them, e.g.
#   default_hooks = _base_.mmpretrain_on_coco.default_hooks
_base_ = './reliability_hooks.py'

mmpretrain_on_coco = dict(
    # The recipe's pipeline is added by the config (it is the recipe's).
    dataset=dict(
        _delete_=True,
        type='COCOImageDataset',
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img_path='train2017/')),
    # Checkpoints renamed into place once complete (docs/en/reliability.md).
    default_hooks=dict(checkpoint=dict(backend_args=dict(backend='atomic_local'))),
    # The collective timeout of our runtime (configs/_base_/default_runtime.py):
    # mmpretrain's leaves torch's NCCL default of 10 minutes.
    env_cfg=dict(dist_cfg=dict(timeout=1800)),
)
