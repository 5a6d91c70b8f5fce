"""Lynx Workbench engine: the computation library. Stands alone; never imports `workbench`."""
