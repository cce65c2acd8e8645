"""Engine parts of mmssl_ext (hooks, loops); filled by the method issues."""
