"""What people read: the HTML report, its plots, and markdown summaries."""
