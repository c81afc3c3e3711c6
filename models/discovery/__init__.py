"""What people are shown: home and circle feeds, trending, recommendations."""
