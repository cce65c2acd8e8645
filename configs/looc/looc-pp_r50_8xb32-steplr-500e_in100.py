# LooC++: the same training as looc_r50_8xb32-steplr-500e_in100.py; the
# representation for kNN / linear evaluation is the concatenation of every
# space's embedding (extract_feat), not the backbone's pooled feature alone.
_base_ = './looc_r50_8xb32-steplr-500e_in100.py'
model = dict(concat_spaces=True)
