"""Ratings (评单, activities), averages, and alerts to organizers."""
