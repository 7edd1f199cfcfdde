"""The report: tables, plots and a self-contained HTML page, rebuilt from a run folder alone."""
