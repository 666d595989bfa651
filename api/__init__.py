"""The HTTP API, web pages and command line of Points Bank."""
