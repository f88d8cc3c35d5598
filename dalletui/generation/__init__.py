"""Turning a request into images: providers, model catalogue, pricing, image files."""
