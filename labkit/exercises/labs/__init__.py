"""One module per lab: its LabDefinition and checks."""
