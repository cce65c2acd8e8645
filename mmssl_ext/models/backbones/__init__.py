from .importance_vit import ImportanceMaskingViT

__all__ = ['ImportanceMaskingViT']
