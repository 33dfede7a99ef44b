"""Reading a spec: YAML/JSON with source marks (loader.py), ``$`` expressions (expr.py), the pydantic models and
names (schema.py), the JSON Schema of the format (jsonschema.py). A spec's words are the layer types, so the
models see ``archcheck.layers``."""
