"""The prearchive: where every arriving instance lands before review and archiving."""
