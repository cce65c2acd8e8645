# Small CPU variant of densecl_r50_8xb32-500k_coco.py for the demo and the
# tests: everything of the MoCo v2 synthetic config (data, 64 px views, batch,
# lr, 600-iteration schedule), so that the two pair in benchmarks and in the
# demo, with DenseCL's model at ResNet-18 (its queues and key-encoder momentum
# as the MoCo v2 synthetic config sets them, for the same reasons). At 64 px
# the dense grid is 2 x 2 cells per view.
_base_ = ['../mocov2/mocov2_r18_1xb32-600i_synthetic.py', '../_base_/models/densecl_r50.py']
# _delete_: MoCo v2's model is replaced, not merged (its neck's keys are not DenseCL's).
model = dict(_base_.densecl_r50, _delete_=True, queue_len=256, momentum=0.01)
model['backbone'] = dict(model['backbone'], depth=18)
model['neck'] = dict(model['neck'], in_channels=512, hid_channels=512)
# The dense head's gradient does not reach every parameter on every step.
find_unused_parameters = True
