"""Figures and the HTML run report: read run folders and draw; never rescore."""
