"""One bad-sample budget for the whole job: every worker of every rank, across resumes."""
from typing import List, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmssl_ext.datasets.bad_samples import BadSampleBudgetExceeded, skipped_samples_in
from mmssl_ext.registry import HOOKS

# Runtime info of the message hub, saved in every checkpoint and restored by --resume.
SKIPPED_COUNT_KEY = 'skipped_samples_total'
SKIPPED_RECENT_KEY = 'skipped_samples_recent'


def _skip_budget(dataset) -> Optional[int]:
    """``max_skipped_samples`` of a dataset, or of the first dataset a wrapper holds."""
    seen = 0
    while dataset is not None and seen < 8:
        if hasattr(dataset, 'max_skipped_samples'):
            return dataset.max_skipped_samples
        inner = getattr(dataset, 'datasets', None)  # ConcatDataset
        dataset = inner[0] if inner else getattr(dataset, 'dataset', None)  # Repeat, ClassBalanced
        seen += 1
    return None


@HOOKS.register_module()
class BadSampleBudgetHook(Hook):
    """Stop the job when its skipped samples, counted over all processes, pass the budget.

    The budget is the training dataset's ``max_skipped_samples`` (None: no
    budget). Skips reach the main process in the metainfo of the next sample
    their process loads (:mod:`mmssl_ext.datasets.bad_samples`); before each
    iteration this hook adds up those of the batch, over all ranks (one
    integer all-reduce when distributed), into a total kept in the message
    hub's runtime info, which every checkpoint saves and ``--resume``
    restores. mmengine's replay of trained batches on resume calls no hook,
    so nothing is counted twice.

    The bound is exact in this sense: the job never trains on a batch that
    brings its total above ``max_skipped_samples``; it raises
    :class:`BadSampleBudgetExceeded` on every rank before that step. A skip
    is counted with the batch that holds the next sample its process loads,
    so skips in batches still being prefetched are counted when those
    batches arrive.
    """

    priority = 'VERY_HIGH'

    def __init__(self, recent: int = 5) -> None:
        self.recent = recent
        self.budget: Optional[int] = None

    def before_train(self, runner) -> None:
        loader = runner.train_loop.dataloader
        self.budget = _skip_budget(getattr(loader, 'dataset', None))

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self.budget is None:
            return
        here: List[str] = []
        if isinstance(data_batch, dict):
            here = skipped_samples_in(data_batch.get('data_samples'))
        new = len(here)
        if get_world_size() > 1:
            count = torch.tensor(new, dtype=torch.int64)
            all_reduce(count)  # to the backend's device and back
            new = int(count.item())
        if not new:
            return
        hub = runner.message_hub
        total = int(hub.get_info(SKIPPED_COUNT_KEY, 0)) + new
        recent = (list(hub.get_info(SKIPPED_RECENT_KEY, [])) + here)[-self.recent:]
        hub.update_info(SKIPPED_COUNT_KEY, total)
        hub.update_info(SKIPPED_RECENT_KEY, recent)
        if total > self.budget:
            listed = '\n  '.join(recent) if recent else '(skipped on other ranks)'
            raise BadSampleBudgetExceeded(
                f'{total} samples failed in this job (all ranks and dataloader workers, '
                f'resumes included), more than max_skipped_samples={self.budget} allows; '
                f'the last ones this rank saw:\n  {listed}\nFix or remove these files (or '
                'regenerate their masks), or raise '
                'train_dataloader.dataset.max_skipped_samples.')
        print_log(f'{total} samples skipped in this job so far (max_skipped_samples='
                  f'{self.budget})', logger='current', level=30)
