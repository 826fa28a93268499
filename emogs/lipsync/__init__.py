"""Lip sync: SyncNet (user weights) and the Sync-E / Sync-C protocol; MFCCs as SyncNet takes them."""

from .mfcc import mfcc
from .scores import face_boxes, face_crop, sync_confidence, sync_scores
from .syncnet import SyncNet, load_syncnet

__all__ = ["SyncNet", "face_boxes", "face_crop", "load_syncnet", "mfcc", "sync_confidence", "sync_scores"]
