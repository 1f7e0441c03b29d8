"""Helpers of the bad-input matrix (``tests/test_bad_inputs.py``): valid inputs and breakers."""
