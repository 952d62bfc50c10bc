"""The write side: ``pipeline`` (discover, decode, fold, commit, in one writer) and ``scan`` (what each
photo shows on its own: the samples that stand out of their neighbours)."""
