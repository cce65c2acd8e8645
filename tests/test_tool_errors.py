"""Every tool under tools/ given a missing, empty or corrupt input exits non-zero
with one line naming the file and the fix (docs/en/reliability.md, section 7).

The Python tools run in this process through ``runpy`` (their ``__main__``
block, ``sys.argv`` set), so a case costs what the tool does before it fails,
not an interpreter start; ``SystemExit`` with a message is what the
interpreter turns into that one line on stderr and exit status 1. The shell
launchers and one Python tool run as subprocesses to see exactly that.
"""
import collections
import glob
import json
import os
import os.path as osp
import runpy
import subprocess
import sys

import pytest

from .conftest import REPO_ROOT, SMALL_CONFIG

MASKCO = osp.join(REPO_ROOT, 'configs', 'maskco', 'maskco_r18_1xb32-600i_synthetic.py')
LINEAR_PROBE = osp.join(REPO_ROOT, 'configs', 'benchmarks', 'classification',
                        'resnet18-conv5_1xb32-linear-20i_synthetic.py')
CCMIM = osp.join(REPO_ROOT, 'configs', 'ccmim', 'ccmim_vit-tiny-p8_1xb32-600i_synthetic.py')

# Tools that read no file a user gives them (they render their data or read
# only the repository's own files): nothing to get wrong.
NO_INPUT_TOOLS = {
    'analysis_tools/benchmark_roi_align.py': 'random tensors in memory',
    'analysis_tools/benchmark_detcon_loss.py': 'random tensors in memory',
    'analysis_tools/saliency_quality.py': 'renders its scenes in memory',
    'misc/check_recipes.py': "reads the repository's configs/*/recipe_*.yml",
    'install.sh': 'installs the pinned environment; no arguments',
    'install_test_deps.sh': "installs Debian's Slurm for the tests; no arguments",
    'misc/prepare_device_wheels.sh': 'downloads pinned wheels into the folder it is given',
}


@pytest.fixture(scope='module')
def bad(tmp_path_factory) -> dict:
    """Broken inputs of every kind, by name."""
    root = tmp_path_factory.mktemp('bad_inputs')
    rng = __import__('random').Random(0)
    files = {
        'empty.py': b'', 'broken.py': b'model = dict(type=\n', 'no_model.py': b'x = 1\n',
        'empty.pth': b'', 'garbage.pth': bytes(rng.randrange(256) for _ in range(3000)),
        'empty.json': b'', 'broken.json': b'{"images": [',
        'images/corrupt.jpg': bytes(rng.randrange(256) for _ in range(3000)),
    }
    for name, data in files.items():
        os.makedirs(osp.dirname(str(root / name)), exist_ok=True)
        (root / name).write_bytes(data)
    (root / 'corrupt_image.json').write_text(json.dumps(dict(
        images=[dict(id=1, file_name='corrupt.jpg', width=8, height=8)], annotations=[],
        categories=[dict(id=1, name='thing')])))
    paths = {name: str(root / name) for name in files}
    paths.update(root=str(root), missing=str(root / 'no_such_file'),
                 images=str(root / 'images'), corrupt_image_json=str(root / 'corrupt_image.json'))
    return paths


def _cases(bad: dict, synthetic_root: str, tmp: str) -> dict:
    """{tool: [(case, argv, file the message names, part of the fix)]}."""
    data = ['--cfg-options', f'train_dataloader.dataset.data_root={synthetic_root}']
    return {
        'train.py': [
            ('missing config', [bad['missing']], bad['missing'], 'mim train mmssl_ext'),
            ('empty config', [bad['empty.py']], bad['empty.py'], 'give the path of a training'),
            ('broken config', [bad['broken.py']], bad['broken.py'], "line 1: '(' was never"),
            ('config without a model', [bad['no_model.py']], bad['no_model.py'],
             "defines no 'model'"),
            ('garbage checkpoint to resume', [SMALL_CONFIG, '--work-dir', tmp, '--resume',
                                              bad['garbage.pth']] + data,
             bad['garbage.pth'], 'Copy it again, or resume from an earlier checkpoint'),
            ('missing data', [SMALL_CONFIG, '--work-dir', tmp, '--cfg-options',
                              f'train_dataloader.dataset.data_root={bad["missing"]}'],
             bad['missing'], 'make_synthetic_scenes.py'),
        ],
        'test.py': [
            ('broken config', [bad['broken.py'], bad['empty.pth']], bad['broken.py'],
             'correct the file'),
            ('empty checkpoint', [LINEAR_PROBE, bad['empty.pth']], bad['empty.pth'],
             'extract_backbone.py'),
        ],
        'model_converters/extract_backbone.py': [
            ('missing checkpoint', [bad['missing'], osp.join(tmp, 'out.pth')], bad['missing'],
             'check the path'),
            ('empty checkpoint', [bad['empty.pth'], osp.join(tmp, 'out.pth')], bad['empty.pth'],
             'Resume from an earlier checkpoint'),
            ('garbage checkpoint', [bad['garbage.pth'], osp.join(tmp, 'out.pth')],
             bad['garbage.pth'], 'not a torch checkpoint'),
            ('broken downstream config', [bad['empty.pth'], osp.join(tmp, 'out.pth'),
                                          '--config', bad['broken.py']], bad['broken.py'],
             'correct the file'),
        ],
        'benchmarks/classification/knn_eval.py': [
            ('missing image lists', [MASKCO, bad['empty.pth'], '--data-root', bad['root']],
             osp.join(bad['root'], 'train.txt'), 'point --data-root at a folder'),
            ('garbage checkpoint', [MASKCO, bad['garbage.pth'], '--data-root', synthetic_root],
             bad['garbage.pth'], 'not a torch checkpoint'),
            ('broken config', [bad['broken.py'], bad['garbage.pth']], bad['broken.py'],
             'correct the file'),
        ],
        'dataset_converters/coco_to_voc.py': [
            ('missing annotation file', [bad['missing'], bad['images'], tmp], bad['missing'],
             'valid COCO annotation file'),
            ('empty annotation file', [bad['empty.json'], bad['images'], tmp],
             bad['empty.json'], 'valid COCO annotation file'),
            ('broken annotation file', [bad['broken.json'], bad['images'], tmp],
             bad['broken.json'], 'not valid JSON'),
            ('corrupt image', [bad['corrupt_image_json'], bad['images'], tmp],
             bad['images/corrupt.jpg'], 'replace or delete the file'),
            ('missing image folder', [bad['corrupt_image_json'], bad['missing'], tmp],
             bad['missing'], 'the folder the file_name entries are relative to'),
        ],
        'dataset_converters/generate_fh_masks.py': [
            ('missing image folder', [bad['missing'], tmp], bad['missing'],
             'give the folder of the images'),
            ('broken annotation file', [bad['images'], tmp, '--ann-file', bad['broken.json']],
             bad['broken.json'], 'not valid JSON'),
            ('empty image list', [bad['root'], tmp, '--list-file', bad['empty.json']],
             bad['root'], 'lists images'),
        ],
        'dataset_converters/generate_saliency_maps.py': [
            ('missing image folder', [bad['missing'], tmp], bad['missing'],
             'give the folder of the images'),
            ('broken annotation file', [bad['images'], tmp, '--ann-file', bad['broken.json']],
             bad['broken.json'], 'not valid JSON'),
        ],
        'misc/make_synthetic_scenes.py': [
            ('output is a file', [bad['empty.json']], bad['empty.json'], 'give a folder'),
        ],
        'misc/demo.py': [
            ('missing config', ['--configs', bad['missing'], '--data-root',
                                osp.join(tmp, 'scenes'), '--num-train', '4', '--num-val', '2',
                                '--work-dir', tmp], bad['missing'], 'give the path of a config'),
        ],
        'visualization/browse_maskco.py': [
            ('missing config', [bad['missing']], bad['missing'], 'give the path of a config'),
            ('empty config', [bad['empty.py']], bad['empty.py'], 'give the path of a config'),
        ],
        'visualization/browse_detcon.py': [
            ('config of another method', [MASKCO], MASKCO, 'with DetConViews in'),
        ],
        'visualization/browse_ccmim.py': [
            ('garbage checkpoint', [CCMIM, '--checkpoint', bad['garbage.pth']] + data,
             bad['garbage.pth'], 'not a torch checkpoint'),
        ],
        'analysis_tools/benchmark_train.py': [
            ('missing config', [bad['missing']], bad['missing'], 'package::path'),
            ('missing scenes', [MASKCO, '--data-root', bad['missing']], bad['missing'],
             'make_synthetic_scenes.py'),
        ],
        'analysis_tools/benchmark_ccmim.py': [
            ('broken config', [bad['broken.py'], '--data-root', synthetic_root],
             bad['broken.py'], 'correct the file'),
        ],
        'analysis_tools/gpu_check.py': [
            ('missing config', ['--device', 'cpu', '--configs', bad['missing'], '--out', tmp],
             bad['missing'], 'package::path'),
        ],
        'analysis_tools/benchmark_pipeline.py': [
            ('empty config', [bad['empty.py']], bad['empty.py'], 'package::path'),
        ],
        'analysis_tools/benchmark_reliability.py': [
            ('missing config', [bad['missing']], bad['missing'], 'package::path'),
        ],
        'analysis_tools/benchmark_fh.py': [
            ('corrupt image', ['--img-dir', bad['images']], bad['images/corrupt.jpg'],
             'replace or delete the file'),
        ],
        'analysis_tools/resnet_distance.py': [
            ('corrupt image', [bad['images'], '--config', MASKCO], bad['images/corrupt.jpg'],
             'replace or delete the file'),
            ('garbage checkpoint', [osp.join(synthetic_root, 'images', 'val'), '--config',
                                    MASKCO, '--checkpoint', bad['garbage.pth']],
             bad['garbage.pth'], 'not a torch checkpoint'),
        ],
        'analysis_tools/dense_probe.py': [
            ('missing scenes', [MASKCO, '--data-root', bad['missing']], bad['missing'],
             'make_synthetic_scenes.py'),
        ],
        'visualization/vis_mph.py': [
            ('garbage checkpoint', [MASKCO, bad['garbage.pth'],
                                    osp.join(synthetic_root, 'images', 'val', '000000.png')],
             bad['garbage.pth'], 'not a torch checkpoint'),
            ('corrupt image', [MASKCO, bad['garbage.pth'], bad['images/corrupt.jpg']],
             bad['images/corrupt.jpg'], 'replace or delete the file'),
        ],
        'analysis_tools/mmpretrain_tool.py': [
            ('missing config', ['get_flops', bad['missing']], bad['missing'],
             'give the path of a config'),
        ],
        'analysis_tools/benchmark_suite.py': [
            ('missing scenes', ['pairs', '--data-root', bad['missing'], '--out', tmp],
             bad['missing'], 'make_synthetic_scenes.py'),
        ],
    }


def _message_of(tool: str, argv: list, monkeypatch, capsys) -> str:
    monkeypatch.setattr(sys, 'argv', [osp.join(REPO_ROOT, 'tools', tool)] + argv)
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(osp.join(REPO_ROOT, 'tools', tool), run_name='__main__')
    code = stopped.value.code
    if isinstance(code, int):  # a tool that printed its report, then returned a status
        assert code != 0
        printed = capsys.readouterr()
        return (printed.err or printed.out).strip().splitlines()[-1]
    assert isinstance(code, str), code  # the interpreter prints it and exits with 1
    return code


def _case_names() -> dict:
    """The table's shape, without the fixtures' paths."""
    return _cases(collections.defaultdict(str), '', '')


def _all_cases():
    return [(tool, index) for tool, cases in _case_names().items()
            for index in range(len(cases))]


@pytest.mark.parametrize('tool,index', _all_cases(), ids=lambda v: v if isinstance(v, int)
                         else v.split('/')[-1][:-3])
def test_each_tool_names_the_bad_file_and_the_fix(tool, index, bad, synthetic_root, tmp_path,
                                                  monkeypatch, capsys):
    case, argv, path, fix = _cases(bad, synthetic_root, str(tmp_path))[tool][index]
    monkeypatch.chdir(tmp_path)  # tools that write default work dirs write them here
    message = _message_of(tool, argv, monkeypatch, capsys)
    assert '\n' not in message and 'Traceback' not in message, (case, message)
    assert path in message and fix in message, (case, message)
    name = osp.basename(tool)[:-3]
    assert message.startswith((name + '.py: ', name + ': ')), (case, message)


def test_every_tool_is_covered_or_reads_no_input():
    tools = {osp.relpath(p, osp.join(REPO_ROOT, 'tools'))
             for p in glob.glob(osp.join(REPO_ROOT, 'tools', '**', '*.*'), recursive=True)
             if p.endswith(('.py', '.sh'))}
    covered = set(_case_names())
    covered |= set(SHELL_CASES) | {'benchmarks/mim_train.sh'}
    covered |= {osp.relpath(p, osp.join(REPO_ROOT, 'tools')) for p in glob.glob(osp.join(
        REPO_ROOT, 'tools', 'benchmarks', '*', 'mim_*.sh'))}  # wrappers of mim_train.sh
    assert tools - covered - set(NO_INPUT_TOOLS) == set()
    assert set(NO_INPUT_TOOLS) <= tools


SHELL_CASES = {
    'dist_train.sh': lambda bad: (['broken.py', '2'], bad['broken.py'], 'correct the file'),
    'dist_test.sh': lambda bad: ([MASKCO, 'empty.pth', '2'], bad['empty.pth'],
                                 'give a checkpoint file'),
    'slurm_train.sh': lambda bad: (['partition', 'job', 'missing', 'work'], bad['missing'],
                                   'give the path of a config'),
    'slurm_test.sh': lambda bad: (['partition', 'job', 'empty.py', 'empty.pth'],
                                  bad['empty.py'], 'give the path of a config'),
}


@pytest.mark.parametrize('script', sorted(SHELL_CASES))
def test_launch_scripts_check_their_inputs_before_starting(script, bad, subprocess_env):
    """Before torchrun or srun starts anything: the one line, status 1 (no
    Slurm needed to see it: the check comes first)."""
    argv, path, fix = SHELL_CASES[script](bad)
    argv = [bad.get(a, a) for a in argv]
    proc = subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', script)] + argv,
                          env=subprocess_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()], proc.stderr
    assert proc.stderr.startswith(f'{script}: {path}: ') and fix in proc.stderr, proc.stderr


def test_mim_train_wrappers_need_the_checkpoint(bad, subprocess_env):
    for wrapper in ('mmdetection/mim_dist_train.sh', 'mmsegmentation/mim_dist_train.sh',
                    'classification/mim_dist_train.sh'):
        proc = subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', 'benchmarks', wrapper),
                               MASKCO, bad['missing'], '1'],
                              env=subprocess_env, capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0
        assert proc.stderr.strip() == (
            f"mim_train.sh: {bad['missing']}: no such checkpoint. Fix: give the pretraining "
            "checkpoint (a work dir's iter_N.pth, or a backbone from "
            "tools/model_converters/extract_backbone.py)"), proc.stderr


def test_a_corrupt_image_ends_coco_to_voc_with_one_line(bad, tmp_path, subprocess_env):
    """The whole path, interpreter included: status 1, one line on stderr, no
    traceback, and no split file written."""
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'dataset_converters', 'coco_to_voc.py'),
         bad['corrupt_image_json'], bad['images'], str(tmp_path / 'VOC2007')],
        env=subprocess_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"coco_to_voc.py: {bad['images/corrupt.jpg']}: cannot be "
                                  'read as an image') and proc.stderr.count('\n') == 1
    assert not osp.exists(tmp_path / 'VOC2007' / 'ImageSets' / 'Main' / 'trainval.txt')
