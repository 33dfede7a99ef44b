"""What a shape is: symbolic dims and their arithmetic (dims.py). Imports only the standard library (and sympy
when arithmetic needs it)."""
