# Linear probe on frozen ResNet-50 conv4 features (res4, 1024 channels, global
# average pool), which MaskCo reports beside conv5; same schedule.
_base_ = './resnet50-conv5_8xb32-linear-steplr-100e_in1k.py'

model = dict(backbone=dict(out_indices=(2, ), frozen_stages=3), head=dict(in_channels=1024))
