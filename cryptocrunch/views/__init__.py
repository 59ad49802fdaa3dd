"""Read-only views: HTML pages and their JSON twins."""
