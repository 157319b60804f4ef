"""Inference bundles: export a checkpoint, load it without training state, recommend."""


def __getattr__(name):  # `genrec.export.Recommender` without importing JAX on `import genrec.export`
    if name in ("Recommender", "Recommendation"):
        from genrec.export import recommender

        return getattr(recommender, name)
    raise AttributeError(name)
