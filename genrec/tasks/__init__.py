"""seqio tasks for the five P5 families: vocabulary, templates, samples, registry, stats."""
from genrec.tasks.examples import FAMILIES, ExampleConfig  # noqa: F401
from genrec.tasks.registry import clear, get, mixture_name, register_tasks, task_name  # noqa: F401
from genrec.tasks.vocabulary import build_vocabulary, item_token_ids, load_vocabulary  # noqa: F401
