"""Visualisers of mmssl_ext (region boxes, masks); filled by the method issues."""
