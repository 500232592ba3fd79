"""Export and import: moving sessions between databases, or out to read."""
