"""Foley-Mini: real recordings and images from Debian packages, built at run time into ``data/``."""
