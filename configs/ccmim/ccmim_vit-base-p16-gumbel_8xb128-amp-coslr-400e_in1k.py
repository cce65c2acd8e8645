# Variant (not in the paper): Gumbel-top-k division, the masked set sampled
# without replacement with probabilities softmax(importance / temperature).
# The summed importance is O(num_layers) in scale, hence a temperature.
_base_ = './ccmim_vit-base-p16_8xb128-amp-coslr-400e_in1k.py'

model = dict(backbone=dict(strategy='gumbel', temperature=0.1))
