# Small CPU variant for the demo, the tests and the benchmarks: the MoCo v2
# baseline ../mocov2/mocov2_r18_1xb32-600i_synthetic.py (same model, 64 px views,
# schedule) with DiLo's copy-paste views. The saliency maps are computed online
# (RBD, ~38 ms per 128 px scene in a data worker) instead of read from disk.
_base_ = '../mocov2/mocov2_r18_1xb32-600i_synthetic.py'

copy_paste = dict(type='SaliencyCopyPaste', prob=0.3, backgrounds=('grayscale', ),
                  blending='mix', threshold=0.5)
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='LoadSaliency', saliency_dir='data/synthetic_scenes/saliency/train/',
         img_dir='data/synthetic_scenes/images/train/', online=True),
    dict(type='MultiView', num_views=2,
         transforms=[[copy_paste, dict(type='Compose', transforms={{_base_.view_pipeline}})]]),
    dict(type='PackInputs'),
]))
