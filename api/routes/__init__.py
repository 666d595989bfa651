"""Thin routes: parse, check the caller's scope, call one service, shape the answer."""
