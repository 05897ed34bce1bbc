"""Process models: safe XML, validation and parsing, deployments, specs, diffs, forms, scripts and
their sandbox.
"""
