from .sync_free_lars import SyncFreeLARS

__all__ = ['SyncFreeLARS']
