"""Realms: the sources that verify credentials and look users up."""
