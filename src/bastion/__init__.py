"""Bastion: the Elastic Stack security layer, as a security node in front of a search cluster."""

__version__ = "0.1.0"
