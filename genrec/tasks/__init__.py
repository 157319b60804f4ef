"""seqio tasks for the five P5 families (rating, sequential, explanation, review, direct), and TIGER's
task (the sequential family as identifier tokens only).

  vocab, mixture = genrec.tasks.pipeline.prepare_tasks(workdir, dataset, identifiers)
  ds = genrec.tasks.pipeline.train_dataset(mixture, genrec.tasks.pipeline.task_feature_lengths())

Modules: vocabulary (SentencePiece + identifier tokens), templates/<family> (prompts), examples
(samples per family and split, leakage-free), source (samples → tf.data), registry (Tasks, Mixtures),
metrics (seqio postprocess/metric fns), stats (examples per family, for --run_mode=stats), pipeline.
"""

from genrec.tasks.examples import FAMILIES, ExampleConfig  # noqa: F401
from genrec.tasks.registry import clear, get, mixture_name, register_tasks, task_name  # noqa: F401
from genrec.tasks.vocabulary import build_vocabulary, item_token_ids, load_vocabulary  # noqa: F401
