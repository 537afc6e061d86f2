"""Attention modules shared by the chapters."""
