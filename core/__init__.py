"""What the offline jobs and the online service share: settings, the store and the model registry."""
