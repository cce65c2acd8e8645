"""``python -m mmssl_ext config-dir``: where the installed configs are.

mmengine's ``pkg::path`` bases accept only its own list of packages, so a
project outside this repository inherits our configs by path, through an
environment variable that mmengine substitutes before it reads ``_base_``:

    export MMSSL_EXT_CONFIGS=$(python -m mmssl_ext config-dir)
    # in the project's config:
    _base_ = '{{$MMSSL_EXT_CONFIGS:}}/benchmarks/mmdetection/mask-rcnn_r50_fpn-syncbn_1x_coco.py'
"""
import os.path as osp
import sys


def config_dir() -> str:
    """The configs shipped with the installed package (``.mim/configs``)."""
    package = osp.dirname(osp.abspath(__file__))
    path = osp.join(package, '.mim', 'configs')
    if not osp.isdir(path):  # a source tree without the .mim links
        path = osp.join(osp.dirname(package), 'configs')
    return osp.realpath(path)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ['config-dir']:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    print(config_dir())
    return 0


if __name__ == '__main__':
    sys.exit(main())
